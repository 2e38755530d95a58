// opencode plugin: `opencode run` invocations, and the recorded `opencode run --format json`
// streams translated into unified events.
#include <gtest/gtest.h>

#include <algorithm>

#include "provider_harness.h"

namespace aw::provider_tests {
namespace {

const aw_provider& opencode() {
    return loadProvider("opencode");
}

std::vector<std::string> argvOf(const PluginRun& run) {
    return run.invocation().at("argv").get<std::vector<std::string>>();
}

bool contains(const std::vector<std::string>& list, const std::string& item) {
    return std::find(list.begin(), list.end(), item) != list.end();
}

TEST(Opencode, RunSetsPwdToTheWorkspaceAndClosesStdin) {
    PluginRun run(opencode(), runRequest({{"model", "fake/fake-model"}}));
    ASSERT_TRUE(run.opened()) << run.openResult().error;
    const auto argv = argvOf(run);
    EXPECT_EQ((std::vector<std::string>(argv.begin(), argv.begin() + 4)),
              (std::vector<std::string>{"opencode", "run", "--format", "json"}));
    for (const char* flag : {"--thinking", "--auto", "-m", "fake/fake-model"}) {
        EXPECT_TRUE(contains(argv, flag)) << flag;
    }
    EXPECT_FALSE(contains(argv, "--session"));
    EXPECT_EQ(argv.back(), "make hello.txt");
    EXPECT_EQ(run.invocation().at("cwd"), "/work/ws");
    EXPECT_EQ(run.invocation()["env"]["PWD"], "/work/ws");
    EXPECT_FALSE(run.invocation().at("keep_stdin_open").get<bool>());
}

TEST(Opencode, ResumedRunPassesTheSession) {
    PluginRun run(opencode(),
                  runRequest({{"provider_session_id", "ses_df49c5f28ffeamz3D6ArEF2PZA"}}));
    const auto argv = argvOf(run);
    auto session = std::find(argv.begin(), argv.end(), "--session");
    ASSERT_NE(session, argv.end());
    EXPECT_EQ(*(session + 1), "ses_df49c5f28ffeamz3D6ArEF2PZA");
    EXPECT_EQ(argv.back(), "make hello.txt");
}

TEST(Opencode, APromptTooLongForAnArgumentGoesOnStdinInstead) {
    const std::string longest(AW_MAX_ARGUMENT_BYTES, 'a');
    PluginRun fits(opencode(), runRequest({{"prompt", longest}}));
    EXPECT_EQ(argvOf(fits).back(), longest);
    EXPECT_FALSE(fits.invocation().contains("stdin"));

    // One byte more: `opencode run` without a message reads it from stdin, then EOF.
    const std::string tooLong = "-" + longest;
    PluginRun run(opencode(), runRequest({{"prompt", tooLong}, {"provider_session_id", "ses_1"}}));
    ASSERT_TRUE(run.opened()) << run.openResult().error;
    const auto argv = argvOf(run);
    EXPECT_FALSE(contains(argv, tooLong));
    EXPECT_FALSE(contains(argv, "--"));
    EXPECT_EQ(argv.back(), "ses_1");
    EXPECT_EQ(run.invocation().at("stdin"), tooLong);
    EXPECT_FALSE(run.invocation().at("keep_stdin_open").get<bool>());
}

TEST(Opencode, SettingsAreHonouredButCannotMovePwd) {
    PluginRun run(
        opencode(),
        runRequest({{"settings",
                     {{"binary", "/opt/opencode"},
                      {"args", {"--agent", "build"}},
                      {"env", {{"OPENCODE_CONFIG", "/etc/oc.json"}, {"PWD", "/elsewhere"}}}}}}));
    const auto argv = argvOf(run);
    EXPECT_EQ(argv.front(), "/opt/opencode");
    EXPECT_TRUE(contains(argv, "--agent"));
    EXPECT_EQ(argv.back(), "make hello.txt");
    EXPECT_EQ(run.invocation()["env"]["OPENCODE_CONFIG"], "/etc/oc.json");
    EXPECT_EQ(run.invocation()["env"]["PWD"], "/work/ws");
}

TEST(Opencode, BasicRunReportsSessionTextsFinishedToolsTodosAndUsage) {
    PluginRun run(opencode(), runRequest());
    replay(run, loadFixture("opencode-basic"));

    const auto sessions = run.eventsOfType("provider.session");
    ASSERT_EQ(sessions.size(), 1u);
    EXPECT_EQ(sessions[0]["provider_session_id"], "ses_df49c5f28ffeamz3D6ArEF2PZA");
    EXPECT_EQ(run.messageTexts(),
              (std::vector<std::string>{"I'll create hello.txt and track the work.",
                                        "Now writing notes.txt.",
                                        "Done: hello.txt and notes.txt were created."}));

    // Each tool is reported once finished: its tool.start comes right before its result.
    std::vector<std::string> order;
    for (const Json& event : run.events()) {
        const std::string type = event["type"];
        if (type == "tool.start" || type == "tool.result") {
            order.push_back(type + " " + event["data"]["tool_call_id"].get<std::string>());
        }
    }
    EXPECT_EQ(order, (std::vector<std::string>{
                         "tool.start call_fake_409862_1", "tool.result call_fake_409862_1",
                         "tool.start call_fake_409862_0", "tool.result call_fake_409862_0",
                         "tool.start call_fake_410178_1", "tool.result call_fake_410178_1",
                         "tool.start call_fake_410178_0", "tool.result call_fake_410178_0"}));
    const auto results = run.eventsOfType("tool.result");
    EXPECT_EQ(results[1]["name"], "bash");
    EXPECT_EQ(results[1]["output"], "(no output)");
    EXPECT_EQ(results[1]["exit_code"], 0);

    const auto todos = run.eventsOfType("todo.update");
    ASSERT_EQ(todos.size(), 2u);
    EXPECT_EQ(todos[1]["todos"], Json::parse(R"([
        {"id":"1","content":"Create hello.txt with a shell command","status":"completed",
         "priority":"high"},
        {"id":"2","content":"Write notes.txt with the file tool","status":"in_progress",
         "priority":"high"}])"));

    // Usage events carry the run's totals so far, one per model call.
    const auto usages = run.eventsOfType("usage");
    ASSERT_EQ(usages.size(), 3u);
    EXPECT_EQ(usages[0]["output_tokens"], 20);
    ASSERT_EQ(run.terminalTypes(), std::vector<std::string>{"run.completed"});
    const Json usage = run.terminal()["usage"];
    EXPECT_EQ(usage, usages.back());
    EXPECT_EQ(usage["input_tokens"], 1500);
    EXPECT_EQ(usage["output_tokens"], 63);
    EXPECT_EQ(usage["cache_read_tokens"], 1503);
    EXPECT_EQ(usage["cache_write_tokens"], 0);
    EXPECT_EQ(usage["model_calls"], 3);
    EXPECT_EQ(run.terminal()["result"], "Done: hello.txt and notes.txt were created.");
}

TEST(Opencode, ResumedRunReportsItsOwnStepsOnly) {
    PluginRun run(opencode(),
                  runRequest({{"provider_session_id", "ses_df49c5f28ffeamz3D6ArEF2PZA"}}));
    replay(run, loadFixture("opencode-resume-session"));
    EXPECT_EQ(run.eventsOfType("provider.session").at(0)["provider_session_id"],
              "ses_df49c5f28ffeamz3D6ArEF2PZA");
    const Json usage = run.terminal()["usage"];
    EXPECT_EQ(usage["input_tokens"], 500);
    EXPECT_EQ(usage["output_tokens"], 20);
    EXPECT_EQ(run.messageTexts().back(),
              "Follow-up answer: earlier I created hello.txt and notes.txt (history had 10 "
              "messages).");
}

TEST(Opencode, Http500FailsWithTheApiMessageAndStatus) {
    PluginRun run(opencode(), runRequest());
    replay(run, loadFixture("opencode-http500"));
    ASSERT_EQ(run.terminalTypes(), std::vector<std::string>{"run.failed"});
    EXPECT_EQ(run.terminal()["error"]["message"], "fake server scripted HTTP 500");
    EXPECT_EQ(run.terminal()["error"]["http_status"], 500);
    EXPECT_EQ(run.terminal()["error"]["class"], "api_error");
    EXPECT_EQ(run.eventsOfType("provider.session").size(), 1u);
}

TEST(Opencode, DeathBySigintIsAStopWhenRequestedAndAFailureOtherwise) {
    const Fixture fixture = loadFixture("opencode-interrupt-sigint");
    ASSERT_EQ(fixture.signal(), 2);
    PluginRun stopped(opencode(), runRequest());
    replay(stopped, fixture, true);
    EXPECT_EQ(stopped.terminalTypes(), std::vector<std::string>{"run.stopped"});
    EXPECT_EQ(stopped.terminal()["signal"], 2);

    PluginRun failed(opencode(), runRequest());
    replay(failed, fixture, false);
    ASSERT_EQ(failed.terminalTypes(), std::vector<std::string>{"run.failed"});
    EXPECT_NE(failed.terminal()["error"]["message"].get<std::string>().find("signal 2"),
              std::string::npos);
}

TEST(Opencode, AutoRejectedPermissionIsAnErrorResultAndTheRunStillCompletes) {
    PluginRun run(opencode(), runRequest());
    replay(run, loadFixture("opencode-perm-ask"));
    const auto results = run.eventsOfType("tool.result");
    ASSERT_EQ(results.size(), 2u);
    EXPECT_EQ(results[1]["tool_call_id"], "call_fake_455816_0");
    EXPECT_TRUE(results[1]["is_error"].get<bool>());
    EXPECT_EQ(results[1]["output"], "The user rejected permission to use this specific tool call.");
    EXPECT_EQ(run.terminalTypes(), std::vector<std::string>{"run.completed"});
}

TEST(Opencode, ReasoningPartsAreReasoningMessages) {
    PluginRun run(opencode(), runRequest());
    run.feed(oneLine(R"({"type":"reasoning","sessionID":"ses_1",
        "part":{"id":"prt_r","type":"reasoning","text":"thinking about it"}})"));
    EXPECT_EQ(run.messageTexts("reasoning"), std::vector<std::string>{"thinking about it"});
}

TEST(Opencode, InterruptIsSigint) {
    PluginRun run(opencode(), runRequest());
    EXPECT_EQ(run.interrupt().document, Json({{"signal", "INT"}}));
}

TEST(Opencode, ServeEventStreamsAreToleratedAndCounted) {
    PluginRun run(opencode(), runRequest());
    std::istringstream sse(readFixtureFile("opencode-serve-basic.events.sse"));
    for (std::string line; std::getline(sse, line);) {
        EXPECT_EQ(run.feed(line).status, AW_OK);
    }
    run.exit(0, 0, false);
    EXPECT_GT(run.terminal()["ignored_lines"]["non_json"].get<int>(), 0);
}

}  // namespace
}  // namespace aw::provider_tests
