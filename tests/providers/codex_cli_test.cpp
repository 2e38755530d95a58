// codex-cli plugin: `codex exec` invocations, and the recorded `codex exec --json` streams
// translated into unified events.
#include <gtest/gtest.h>

#include <algorithm>

#include "provider_harness.h"

namespace aw::provider_tests {
namespace {

const aw_provider& codex() {
    return loadProvider("codex-cli");
}

std::vector<std::string> argvOf(const PluginRun& run) {
    return run.invocation().at("argv").get<std::vector<std::string>>();
}

bool contains(const std::vector<std::string>& list, const std::string& item) {
    return std::find(list.begin(), list.end(), item) != list.end();
}

TEST(CodexCli, NewRunIsExecJsonWithStdinClosedAndFailFastRetries) {
    PluginRun run(codex(), runRequest({{"model", "gpt-5.5"}}));
    ASSERT_TRUE(run.opened()) << run.openResult().error;
    const auto argv = argvOf(run);
    ASSERT_GE(argv.size(), 3u);
    EXPECT_EQ((std::vector<std::string>{argv[0], argv[1], argv[2]}),
              (std::vector<std::string>{"codex", "exec", "--json"}));
    for (const char* flag :
         {"--skip-git-repo-check", "--dangerously-bypass-approvals-and-sandbox",
          "tools.update_plan.enabled=true", "unbounded_connection_retries", "-m", "gpt-5.5"}) {
        EXPECT_TRUE(contains(argv, flag)) << flag;
    }
    EXPECT_EQ(argv.back(), "make hello.txt");
    EXPECT_FALSE(contains(argv, "resume"));
    EXPECT_FALSE(run.invocation().at("keep_stdin_open").get<bool>());
    EXPECT_FALSE(run.invocation().contains("stdin"));
    EXPECT_EQ(run.invocation().at("cwd"), "/work/ws");
}

TEST(CodexCli, ResumedRunIsExecResumeWithThreadIdThenPrompt) {
    const Fixture fixture = loadFixture("codex-resume");
    PluginRun run(codex(),
                  runRequest({{"provider_session_id", "01a20b5c-80df-7bd2-9563-df602d3c1852"},
                              {"prompt", "FOLLOWUP: what did you do?"}}));
    const auto argv = argvOf(run);
    EXPECT_EQ(argv[1], "exec");
    EXPECT_EQ(argv[2], "resume");
    ASSERT_GE(argv.size(), 2u);
    EXPECT_EQ(argv[argv.size() - 2], "01a20b5c-80df-7bd2-9563-df602d3c1852");
    EXPECT_EQ(argv.back(), "FOLLOWUP: what did you do?");
    // Everything the recorded resume passed is there (apart from the binary path).
    for (const std::string& arg : fixture.meta.at("argv").get<std::vector<std::string>>()) {
        if (arg != "codex") {
            EXPECT_TRUE(contains(argv, arg)) << arg;
        }
    }
}

TEST(CodexCli, APromptTooLongForAnArgumentGoesOnStdinInstead) {
    const std::string longest(AW_MAX_ARGUMENT_BYTES, 'a');
    PluginRun fits(codex(), runRequest({{"prompt", longest}}));
    EXPECT_EQ(argvOf(fits).back(), longest);
    EXPECT_FALSE(fits.invocation().contains("stdin"));

    // One byte more: the prompt "-" makes `codex exec` read it from stdin, then EOF.
    const std::string tooLong = "-" + longest;
    PluginRun run(codex(), runRequest({{"prompt", tooLong}}));
    ASSERT_TRUE(run.opened()) << run.openResult().error;
    const auto argv = argvOf(run);
    EXPECT_EQ(argv.back(), "-");
    EXPECT_FALSE(contains(argv, "--"));
    EXPECT_EQ(run.invocation().at("stdin"), tooLong);
    EXPECT_FALSE(run.invocation().at("keep_stdin_open").get<bool>());

    // `exec resume` takes it the same way, after the thread id.
    PluginRun resumed(codex(), runRequest({{"prompt", tooLong}, {"provider_session_id", "01a2"}}));
    const auto resumeArgv = argvOf(resumed);
    ASSERT_GE(resumeArgv.size(), 2u);
    EXPECT_EQ((std::vector<std::string>(resumeArgv.end() - 2, resumeArgv.end())),
              (std::vector<std::string>{"01a2", "-"}));
    EXPECT_EQ(resumed.invocation().at("stdin"), tooLong);
}

TEST(CodexCli, SettingsReplaceTheBinaryAddArgsAndEnv) {
    PluginRun run(codex(), runRequest({{"settings",
                                        {{"binary", "/opt/codex"},
                                         {"args", {"-c", "model_provider=\"fake\""}},
                                         {"env", {{"CODEX_HOME", "/var/codex"}}}}}}));
    const auto argv = argvOf(run);
    EXPECT_EQ(argv.front(), "/opt/codex");
    EXPECT_TRUE(contains(argv, "model_provider=\"fake\""));
    EXPECT_EQ(argv.back(), "make hello.txt");
    EXPECT_EQ(run.invocation()["env"]["CODEX_HOME"], "/var/codex");
}

TEST(CodexCli, BasicRunReportsThreadTextsToolsTodosAndUsage) {
    PluginRun run(codex(), runRequest());
    replay(run, loadFixture("codex-basic"));

    const auto sessions = run.eventsOfType("provider.session");
    ASSERT_EQ(sessions.size(), 1u);
    EXPECT_EQ(sessions[0]["provider_session_id"], "01a20b5c-80df-7bd2-9563-df602d3c1852");
    EXPECT_EQ(run.messageTexts(),
              (std::vector<std::string>{"I'll create hello.txt and track the work.",
                                        "Now writing notes.txt.",
                                        "Done: hello.txt and notes.txt were created."}));

    const auto starts = run.eventsOfType("tool.start");
    ASSERT_EQ(starts.size(), 2u);
    EXPECT_EQ(starts[0]["tool_call_id"], "item_1");
    EXPECT_EQ(starts[0]["name"], "command_execution");
    EXPECT_EQ(starts[0]["input"]["command"], "/bin/bash -lc 'echo hello > hello.txt'");
    EXPECT_EQ(starts[1]["tool_call_id"], "item_4");
    EXPECT_EQ(starts[1]["name"], "file_change");
    const auto results = run.eventsOfType("tool.result");
    ASSERT_EQ(results.size(), 2u);
    EXPECT_EQ(results[0]["tool_call_id"], "item_1");
    EXPECT_EQ(results[0]["exit_code"], 0);
    EXPECT_FALSE(results[0]["is_error"].get<bool>());
    EXPECT_EQ(results[1]["output"], "add /sandbox/ws/codex-basic/notes.txt");

    // The repeated list of item.completed is not reported again.
    const auto todos = run.eventsOfType("todo.update");
    ASSERT_EQ(todos.size(), 2u);
    EXPECT_EQ(todos[0]["todos"], Json::parse(R"([
        {"id":"1","content":"Create hello.txt with a shell command","status":"pending"},
        {"id":"2","content":"Write notes.txt with the file tool","status":"pending"}])"));
    EXPECT_EQ(todos[1]["todos"][0]["status"], "completed");
    EXPECT_EQ(todos[1]["todos"][1]["status"], "pending");

    ASSERT_EQ(run.terminalTypes(), std::vector<std::string>{"run.completed"});
    const Json usage = run.terminal()["usage"];
    EXPECT_EQ(usage["input_tokens"], 1500);  // 3003 reported, 1503 of them cached
    EXPECT_EQ(usage["cache_read_tokens"], 1503);
    EXPECT_EQ(usage["output_tokens"], 63);
    EXPECT_EQ(usage["reasoning_tokens"], 9);
    EXPECT_EQ(run.terminal()["result"], "Done: hello.txt and notes.txt were created.");
}

TEST(CodexCli, ResumedRunReportsTheDeltaOfTheThreadsCumulativeUsage) {
    PluginRun first(codex(), runRequest());
    replay(first, loadFixture("codex-basic"));
    const Json previous = first.terminal()["usage"]["session_totals"];

    PluginRun run(codex(),
                  runRequest({{"provider_session_id", "01a20b5c-80df-7bd2-9563-df602d3c1852"},
                              {"previous_usage", {{"session_totals", previous}}}}));
    replay(run, loadFixture("codex-resume"));
    const Json usage = run.terminal()["usage"];
    EXPECT_EQ(usage["input_tokens"], 500);  // (4003 - 2003) - (3003 - 1503)
    EXPECT_EQ(usage["cache_read_tokens"], 500);
    EXPECT_EQ(usage["output_tokens"], 20);
    EXPECT_EQ(usage["reasoning_tokens"], 3);
    EXPECT_EQ(usage["session_totals"]["output_tokens"], 83);
    EXPECT_EQ(run.messageTexts().back(),
              "Follow-up answer: earlier I created hello.txt and notes.txt (history had 16 "
              "messages).");
}

TEST(CodexCli, PreviousUsageMayBeTheSumOfTheSessionsRuns) {
    PluginRun run(codex(),
                  runRequest({{"provider_session_id", "01a20b5c-80df-7bd2-9563-df602d3c1852"},
                              {"previous_usage",
                               {{"input_tokens", 1500},
                                {"cache_read_tokens", 1503},
                                {"cache_write_tokens", 0},
                                {"output_tokens", 63},
                                {"reasoning_tokens", 9}}}}));
    replay(run, loadFixture("codex-resume"));
    EXPECT_EQ(run.terminal()["usage"]["input_tokens"], 500);
    EXPECT_EQ(run.terminal()["usage"]["output_tokens"], 20);
}

TEST(CodexCli, PreviousUsageIsIgnoredForANewThread) {
    PluginRun run(codex(),
                  runRequest({{"previous_usage", {{"session_totals", {{"output_tokens", 50}}}}}}));
    replay(run, loadFixture("codex-basic"));
    EXPECT_EQ(run.terminal()["usage"]["output_tokens"], 63);
}

TEST(CodexCli, Http500FailsWithTheTurnFailedMessage) {
    PluginRun run(codex(), runRequest());
    replay(run, loadFixture("codex-http500"));
    ASSERT_EQ(run.terminalTypes(), std::vector<std::string>{"run.failed"});
    EXPECT_EQ(run.terminal()["error"]["message"],
              "We\u2019re currently experiencing high demand, which may cause temporary errors.");
    EXPECT_EQ(run.terminal()["error"]["class"], "api_error");
    EXPECT_TRUE(run.messageTexts().empty());  // reconnect notices are not chat text
}

TEST(CodexCli, ReconnectNoticesAreProviderNoticesWithTheRetryCount) {
    PluginRun run(codex(), runRequest());
    replay(run, loadFixture("codex-http500"));
    const auto notices = run.eventsOfType("provider.notice");
    ASSERT_EQ(notices.size(), 5u);  // Reconnecting... 1/5 to 5/5; the final error is no notice
    EXPECT_EQ(notices[1]["kind"], "api_retry");
    EXPECT_EQ(notices[1]["attempt"], 2);
    EXPECT_EQ(notices[1]["max_attempts"], 5);
    EXPECT_EQ(notices[1]["message"],
              "Reconnecting... 2/5 (We\u2019re currently experiencing high demand, which may "
              "cause temporary errors.)");
    EXPECT_EQ(notices[4]["attempt"], 5);
}

TEST(CodexCli, RetryNoticesAloneDoNotFailARunThatCompletes) {
    PluginRun run(codex(), runRequest());
    const Fixture basic = loadFixture("codex-basic");
    run.feed(basic.lines.at(0));
    run.feed(R"json({"type":"error","message":"Reconnecting... 1/5 (stream disconnected)"})json");
    for (size_t i = 1; i < basic.lines.size(); ++i) run.feed(basic.lines[i]);
    run.exit(0, 0, false);
    ASSERT_EQ(run.terminalTypes(), std::vector<std::string>{"run.completed"});
    ASSERT_EQ(run.eventsOfType("provider.notice").size(), 1u);
}

TEST(CodexCli, AReconnectWithoutACountIsANoticeWithoutAttempts) {
    PluginRun run(codex(), runRequest());
    run.feed(
        R"json({"type":"error","message":"Reconnecting... waiting for network (no route)"})json");
    run.feed(R"({"type":"error","message":"Reconnecting... x/y"})");
    const auto notices = run.eventsOfType("provider.notice");
    ASSERT_EQ(notices.size(), 2u);
    EXPECT_FALSE(notices[0].contains("attempt")) << notices[0].dump();
    EXPECT_FALSE(notices[1].contains("max_attempts")) << notices[1].dump();
    run.feed(R"({"type":"error","message":"unexpected status 400"})");
    EXPECT_EQ(run.eventsOfType("provider.notice").size(), 2u) << "an error is not a retry";
}

TEST(CodexCli, SigintExitWithoutFinalLineIsAStopWhenRequested) {
    PluginRun run(codex(), runRequest());
    replay(run, loadFixture("codex-interrupt-sigint"), true);
    ASSERT_EQ(run.terminalTypes(), std::vector<std::string>{"run.stopped"});
    // The slow command never reported a result: it is closed as unfinished.
    const auto results = run.eventsOfType("tool.result");
    ASSERT_EQ(results.size(), 1u);
    EXPECT_EQ(results[0]["tool_call_id"], "item_1");
    EXPECT_TRUE(results[0]["unfinished"].get<bool>());
}

TEST(CodexCli, SigintExitWithoutFinalLineIsAFailureWhenNotRequested) {
    PluginRun run(codex(), runRequest());
    replay(run, loadFixture("codex-interrupt-sigint"), false);
    ASSERT_EQ(run.terminalTypes(), std::vector<std::string>{"run.failed"});
    EXPECT_EQ(run.terminal()["error"]["class"], "process_error");
    EXPECT_NE(run.terminal()["error"]["message"].get<std::string>().find("exited with code 1"),
              std::string::npos);
}

TEST(CodexCli, InterruptIsSigint) {
    PluginRun run(codex(), runRequest());
    EXPECT_EQ(run.interrupt().document, Json({{"signal", "INT"}}));
}

TEST(CodexCli, StreamedAgentMessageItemsBecomeDeltas) {
    // Not observed in exec 0.169 (messages arrive completed), handled should items grow.
    PluginRun run(codex(), runRequest());
    run.feed(
        R"({"type":"item.started","item":{"id":"item_0","type":"agent_message","text":"He"}})");
    run.feed(oneLine(R"({"type":"item.updated",
        "item":{"id":"item_0","type":"agent_message","text":"Hello"}})"));
    run.feed(oneLine(R"({"type":"item.completed",
        "item":{"id":"item_0","type":"agent_message","text":"Hello!"}})"));
    std::string joined;
    for (const Json& delta : run.eventsOfType("message.delta")) joined += delta["text"];
    EXPECT_EQ(joined, "Hello!");
    EXPECT_EQ(run.messageTexts(), std::vector<std::string>{"Hello!"});
}

TEST(CodexCli, ReasoningItemsAreReasoningMessages) {
    PluginRun run(codex(), runRequest());
    run.feed(oneLine(R"({"type":"item.completed",
        "item":{"id":"item_0","type":"reasoning","text":"**Planning**"}})"));
    EXPECT_EQ(run.messageTexts("reasoning"), std::vector<std::string>{"**Planning**"});
}

TEST(CodexCli, FailedCommandIsAnErrorResult) {
    PluginRun run(codex(), runRequest());
    run.feed(oneLine(R"({"type":"item.completed","item":{"id":"item_7",
        "type":"command_execution","command":"false","aggregated_output":"boom","exit_code":2,
        "status":"failed"}})"));
    const auto results = run.eventsOfType("tool.result");
    ASSERT_EQ(results.size(), 1u);
    EXPECT_TRUE(results[0]["is_error"].get<bool>());
    EXPECT_EQ(results[0]["output"], "boom");
    EXPECT_EQ(run.eventsOfType("tool.start").size(), 1u);  // started and finished in one line
}

TEST(CodexCli, AppServerStreamsAreToleratedAndCountedNotTranslated) {
    PluginRun run(codex(), runRequest());
    replay(run, loadFixture("codex-appserver-approval"));
    ASSERT_EQ(run.terminalTypes().size(), 1u);
    EXPECT_GT(run.terminal()["ignored_lines"]["unknown"].get<int>(), 0);
}

}  // namespace
}  // namespace aw::provider_tests
