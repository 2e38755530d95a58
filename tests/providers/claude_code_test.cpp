// claude-code plugin: invocations per approval mode, and the recorded Claude Code streams
// (print mode and stdio protocol mode) translated into unified events.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <sstream>

#include "provider_harness.h"

namespace aw::provider_tests {
namespace {

const aw_provider& claude() {
    return loadProvider("claude-code");
}

std::vector<std::string> argvOf(const PluginRun& run) {
    return run.invocation().at("argv").get<std::vector<std::string>>();
}

bool contains(const std::vector<std::string>& list, const std::string& item) {
    return std::find(list.begin(), list.end(), item) != list.end();
}

std::vector<std::string> callIds(const std::vector<Json>& events) {
    std::vector<std::string> ids;
    for (const Json& data : events) ids.push_back(data.value("tool_call_id", ""));
    return ids;
}

TEST(ClaudeCode, AutoModeRunsPrintModeWithoutPermissionsAndStdinClosed) {
    PluginRun run(claude(), runRequest({{"model", "claude-sonnet-4-5"}}));
    ASSERT_TRUE(run.opened()) << run.openResult().error;
    const auto argv = argvOf(run);
    EXPECT_EQ(argv.front(), "claude");
    EXPECT_EQ(argv.back(), "make hello.txt");
    for (const char* flag :
         {"-p", "--output-format", "stream-json", "--verbose", "--dangerously-skip-permissions",
          "--include-partial-messages", "--model", "claude-sonnet-4-5"}) {
        EXPECT_TRUE(contains(argv, flag)) << flag;
    }
    EXPECT_FALSE(contains(argv, "--resume"));
    EXPECT_FALSE(run.invocation().at("keep_stdin_open").get<bool>());
    EXPECT_EQ(run.invocation().at("cwd"), "/work/ws");
    const Json& env = run.invocation().at("env");
    EXPECT_EQ(env.at("IS_SANDBOX"), "1");               // root refuses the bypass flag without it
    EXPECT_EQ(env.at("CLAUDE_CODE_MAX_RETRIES"), "2");  // fail fast on API errors
    EXPECT_EQ(env.at("CLAUDE_CODE_ENABLE_TODO_TOOLS"), "1");  // what makes TODO true
}

TEST(ClaudeCode, ResumedRunPassesTheSessionIdToResume) {
    PluginRun run(claude(), runRequest({{"provider_session_id", "f88fa23c"}}));
    const auto argv = argvOf(run);
    auto resume = std::find(argv.begin(), argv.end(), "--resume");
    ASSERT_NE(resume, argv.end());
    EXPECT_EQ(*(resume + 1), "f88fa23c");
}

TEST(ClaudeCode, SettingsReplaceTheBinaryAddArgsAndOverrideEnv) {
    PluginRun run(claude(),
                  runRequest({{"settings",
                               {{"binary", "/opt/claude/bin/claude"},
                                {"args", {"--max-budget-usd", "3"}},
                                {"env", {{"CLAUDE_CODE_MAX_RETRIES", "5"}, {"FOO", "bar"}}}}}}));
    const auto argv = argvOf(run);
    EXPECT_EQ(argv.front(), "/opt/claude/bin/claude");
    auto budget = std::find(argv.begin(), argv.end(), "--max-budget-usd");
    ASSERT_NE(budget, argv.end());
    EXPECT_EQ(*(budget + 1), "3");
    EXPECT_EQ(argv.back(), "make hello.txt");  // extra args stay options, before the prompt
    EXPECT_EQ(run.invocation()["env"]["CLAUDE_CODE_MAX_RETRIES"], "5");
    EXPECT_EQ(run.invocation()["env"]["FOO"], "bar");
}

TEST(ClaudeCode, PromptStartingWithADashIsNotTakenForAnOption) {
    PluginRun run(claude(), runRequest({{"prompt", "-h explain"}}));
    const auto argv = argvOf(run);
    ASSERT_GE(argv.size(), 2u);
    EXPECT_EQ(argv[argv.size() - 2], "--");
    EXPECT_EQ(argv.back(), "-h explain");
}

TEST(ClaudeCode, APromptTooLongForAnArgumentGoesOnStdinInstead) {
    const std::string longest(AW_MAX_ARGUMENT_BYTES, 'a');
    PluginRun fits(claude(), runRequest({{"prompt", longest}}));
    EXPECT_EQ(argvOf(fits).back(), longest);
    EXPECT_FALSE(fits.invocation().contains("stdin"));

    // One byte more: `claude -p` without a prompt argument reads it from stdin, then EOF.
    const std::string tooLong = "-" + longest;
    PluginRun run(claude(), runRequest({{"prompt", tooLong}}));
    ASSERT_TRUE(run.opened()) << run.openResult().error;
    const auto argv = argvOf(run);
    EXPECT_FALSE(contains(argv, tooLong));
    EXPECT_FALSE(contains(argv, "--"));
    EXPECT_EQ(argv.back(), "--include-partial-messages");  // options only: no prompt argument
    EXPECT_EQ(run.invocation().at("stdin"), tooLong);
    EXPECT_FALSE(run.invocation().at("keep_stdin_open").get<bool>());
}

TEST(ClaudeCode, AskModeUsesTheStdioProtocolAndSendsThePromptAsAUserLine) {
    const Fixture fixture = loadFixture("claude-stdio-hitl");
    PluginRun run(claude(), runRequest({{"approval_mode", "ask"},
                                        {"prompt", "ASKUSER then make hello.txt"}}));
    auto argv = argvOf(run);
    // Live typing is on in both modes; the recording predates it.
    const auto partial = std::find(argv.begin(), argv.end(), "--include-partial-messages");
    ASSERT_NE(partial, argv.end());
    argv.erase(partial);
    const std::vector<std::string> recorded =
        fixture.meta.at("argv").get<std::vector<std::string>>();
    EXPECT_EQ(std::vector<std::string>(argv.begin() + 1, argv.end()),
              std::vector<std::string>(recorded.begin() + 1, recorded.end()));
    EXPECT_TRUE(run.invocation().at("keep_stdin_open").get<bool>());
    EXPECT_FALSE(run.invocation()["env"].contains("IS_SANDBOX"));

    std::vector<Json> preamble;
    std::istringstream lines(run.invocation().at("stdin").get<std::string>());
    for (std::string line; std::getline(lines, line);) preamble.push_back(Json::parse(line));
    ASSERT_EQ(preamble.size(), 2u);
    EXPECT_EQ(preamble[0]["type"], "control_request");
    EXPECT_EQ(preamble[0]["request"]["subtype"], "initialize");
    EXPECT_EQ(preamble[1], Json::parse(fixture.stdinLines.at(1)));
}

TEST(ClaudeCode, BasicRunReportsSessionTextsToolsUsageAndCompletion) {
    PluginRun run(claude(), runRequest());
    replay(run, loadFixture("claude-basic"));

    const auto sessions = run.eventsOfType("provider.session");
    ASSERT_EQ(sessions.size(), 1u);
    EXPECT_EQ(sessions[0]["provider_session_id"], "f88fa23c-02ec-4346-b471-0d38cc2333e5");
    EXPECT_EQ(run.messageTexts(),
              (std::vector<std::string>{"I'll create hello.txt and track the work.",
                                        "Now writing notes.txt.",
                                        "Done: hello.txt and notes.txt were created."}));
    const auto starts = run.eventsOfType("tool.start");
    EXPECT_EQ(callIds(starts),
              (std::vector<std::string>{"toolu_fake_736006_0", "toolu_fake_736138_0"}));
    EXPECT_EQ(starts[0]["name"], "Bash");
    EXPECT_EQ(starts[0]["input"]["command"], "echo hello > hello.txt");
    const auto results = run.eventsOfType("tool.result");
    EXPECT_EQ(callIds(results), callIds(starts));
    EXPECT_EQ(results[0]["output"], "(Bash completed with no output)");
    EXPECT_FALSE(results[0]["is_error"].get<bool>());

    ASSERT_EQ(run.terminalTypes(), std::vector<std::string>{"run.completed"});
    const Json done = run.terminal();
    EXPECT_EQ(done["result"], "Done: hello.txt and notes.txt were created.");
    EXPECT_EQ(done["usage"]["input_tokens"], 3003);
    EXPECT_EQ(done["usage"]["output_tokens"], 63);
    EXPECT_EQ(done["usage"]["cache_read_tokens"], 1503);
    EXPECT_EQ(done["usage"]["cache_write_tokens"], 303);
    EXPECT_NEAR(done["usage"]["cost_usd"].get<double>(), 0.0150876, 1e-9);
    EXPECT_EQ(run.eventsOfType("usage").size(), 1u);
    EXPECT_EQ(done["ignored_lines"]["unknown"], 0);
}

TEST(ClaudeCode, MessageDeltasConcatenateToTheStoppedText) {
    PluginRun run(claude(), runRequest());
    replay(run, loadFixture("claude-basic"));
    std::map<std::string, std::string> streamed;
    for (const Json& delta : run.eventsOfType("message.delta")) {
        streamed[delta["message_id"]] += delta["text"].get<std::string>();
    }
    const auto stops = run.eventsOfType("message.stop");
    ASSERT_EQ(stops.size(), run.eventsOfType("message.start").size());
    for (const Json& stop : stops) EXPECT_EQ(streamed[stop["message_id"]], stop["text"]);
}

TEST(ClaudeCode, TodoWriteReportsTheWholeListAfterEachSuccessfulCall) {
    PluginRun run(claude(), runRequest());
    replay(run, loadFixture("claude-todowrite"));
    const auto updates = run.eventsOfType("todo.update");
    ASSERT_EQ(updates.size(), 2u);
    const Json first = Json::parse(R"([
        {"id":"1","content":"Create hello.txt with a shell command","status":"in_progress"},
        {"id":"2","content":"Write notes.txt with the file tool","status":"pending"}])");
    const Json second = Json::parse(R"([
        {"id":"1","content":"Create hello.txt with a shell command","status":"completed"},
        {"id":"2","content":"Write notes.txt with the file tool","status":"in_progress"}])");
    EXPECT_EQ(updates[0]["todos"], first);
    EXPECT_EQ(updates[1]["todos"], second);
}

TEST(ClaudeCode, ResumedRunReportsOnlyItsOwnCostFromThePreviousTotals) {
    const Fixture fixture = loadFixture("claude-resume");
    PluginRun first(claude(), runRequest());
    replay(first, loadFixture("claude-basic"));
    const Json previous = first.terminal()["usage"]["session_totals"];

    PluginRun run(claude(),
                  runRequest({{"provider_session_id", "f88fa23c-02ec-4346-b471-0d38cc2333e5"},
                              {"previous_usage", {{"session_totals", previous}}}}));
    replay(run, fixture);
    const Json usage = run.terminal()["usage"];
    EXPECT_EQ(usage["input_tokens"], 1000);
    EXPECT_EQ(usage["output_tokens"], 20);
    EXPECT_NEAR(usage["cost_usd"].get<double>(), 0.005, 1e-9);
    EXPECT_NEAR(usage["session_totals"]["cost_usd"].get<double>(), 0.0200876, 1e-9);
    EXPECT_EQ(run.messageTexts().back(),
              "Follow-up answer: earlier I created hello.txt and notes.txt (history had 8 "
              "messages).");
}

TEST(ClaudeCode, ResumedRunWithoutPreviousTotalsStillReportsTheRunsCost) {
    PluginRun run(claude(),
                  runRequest({{"provider_session_id", "f88fa23c-02ec-4346-b471-0d38cc2333e5"}}));
    replay(run, loadFixture("claude-resume"));
    EXPECT_NEAR(run.terminal()["usage"]["cost_usd"].get<double>(), 0.005, 1e-9);
}

TEST(ClaudeCode, Http500FailsWithTheCliMessageAndStatus) {
    PluginRun run(claude(), runRequest());
    replay(run, loadFixture("claude-http500-maxretries2"));
    ASSERT_EQ(run.terminalTypes(), std::vector<std::string>{"run.failed"});
    const Json failed = run.terminal();
    EXPECT_EQ(failed["error"]["class"], "api_error");
    EXPECT_EQ(failed["error"]["http_status"], 500);
    EXPECT_NE(failed["error"]["message"].get<std::string>().find(
                  "API Error: 500 fake server scripted HTTP 500"),
              std::string::npos);
    EXPECT_TRUE(run.messageTexts().empty());  // the synthetic error reply is not chat text
}

TEST(ClaudeCode, ApiRetriesAreProviderNoticesWithTheRetryCount) {
    PluginRun run(claude(), runRequest());
    replay(run, loadFixture("claude-http500-maxretries2"));
    const auto notices = run.eventsOfType("provider.notice");
    ASSERT_EQ(notices.size(), 2u);
    EXPECT_EQ(notices[1]["kind"], "api_retry");
    EXPECT_EQ(notices[1]["attempt"], 2);
    EXPECT_EQ(notices[1]["max_attempts"], 2);
    EXPECT_EQ(notices[1]["http_status"], 500);
    const std::string message = notices[1]["message"];
    EXPECT_NE(message.find("HTTP 500"), std::string::npos) << message;
    EXPECT_NE(message.find("attempt 2 of 2"), std::string::npos) << message;
    // The notices say what happened on the way; the failure is still the result's.
    EXPECT_EQ(run.terminalTypes(), std::vector<std::string>{"run.failed"});
}

TEST(ClaudeCode, ARetryThatSucceedsLeavesOnlyANotice) {
    PluginRun run(claude(), runRequest());
    const Fixture basic = loadFixture("claude-basic");
    run.feed(basic.lines.at(0));
    run.feed(R"({"type":"system","subtype":"api_retry","attempt":1,"max_retries":10,)"
             R"("retry_delay_ms":600,"error_status":null,"error":"unknown"})");
    for (size_t i = 1; i < basic.lines.size(); ++i) run.feed(basic.lines[i]);
    run.exit(0, 0, false);
    ASSERT_EQ(run.terminalTypes(), std::vector<std::string>{"run.completed"});
    const auto notices = run.eventsOfType("provider.notice");
    ASSERT_EQ(notices.size(), 1u);
    EXPECT_FALSE(notices[0].contains("http_status")) << "no HTTP status when unreachable";
    EXPECT_EQ(notices[0]["max_attempts"], 10);
}

TEST(ClaudeCode, SigintAbortIsAStopWhenTheHostAskedForIt) {
    PluginRun run(claude(), runRequest());
    replay(run, loadFixture("claude-interrupt-sigint"), true);
    ASSERT_EQ(run.terminalTypes(), std::vector<std::string>{"run.stopped"});
    EXPECT_EQ(run.terminal()["reason"], "cancelled");
    EXPECT_EQ(run.terminal()["usage"]["output_tokens"], 20);
    const auto results = run.eventsOfType("tool.result");
    ASSERT_EQ(results.size(), 1u);
    EXPECT_EQ(results[0]["tool_call_id"], "toolu_fake_843722_0");
    EXPECT_TRUE(results[0]["is_error"].get<bool>());
}

TEST(ClaudeCode, SigintAbortIsAFailureWhenNobodyAskedForIt) {
    PluginRun run(claude(), runRequest());
    replay(run, loadFixture("claude-interrupt-sigint"), false);
    ASSERT_EQ(run.terminalTypes(), std::vector<std::string>{"run.failed"});
    EXPECT_EQ(run.terminal()["error"]["class"], "interrupted");
}

TEST(ClaudeCode, DeathWithoutResultIsStoppedOrFailedWithTheLastApiError) {
    const Fixture fixture = loadFixture("claude-http500-maxretries2");
    PluginRun stopped(claude(), runRequest());
    for (size_t i = 0; i < 3; ++i) stopped.feed(fixture.lines[i]);  // init + 2 api_retry
    stopped.exit(-1, 15, true);
    EXPECT_EQ(stopped.terminalTypes(), std::vector<std::string>{"run.stopped"});

    PluginRun killed(claude(), runRequest());
    for (size_t i = 0; i < 3; ++i) killed.feed(fixture.lines[i]);
    killed.exit(143, 0, false);
    ASSERT_EQ(killed.terminalTypes(), std::vector<std::string>{"run.failed"});
    const std::string message = killed.terminal()["error"]["message"];
    EXPECT_NE(message.find("exited with code 143"), std::string::npos) << message;
    EXPECT_NE(message.find("API retry 2/2"), std::string::npos) << message;
}

TEST(ClaudeCode, InterruptIsSigintInPrintModeAndAControlRequestInStdioMode) {
    PluginRun print(claude(), runRequest());
    EXPECT_EQ(print.interrupt().document, Json({{"signal", "INT"}}));

    PluginRun stdio(claude(), runRequest({{"approval_mode", "ask"}}));
    const Json interrupt = stdio.interrupt().document;
    ASSERT_TRUE(interrupt.contains("stdin"));
    const Json request = Json::parse(interrupt["stdin"].get<std::string>());
    EXPECT_EQ(request["type"], "control_request");
    EXPECT_EQ(request["request"]["subtype"], "interrupt");
}

// Replays claude-stdio-hitl, answering each human.request the way the recorded host did.
class ClaudeStdioHitl : public ::testing::Test {
protected:
    void replayAnswering(const std::vector<std::string>& answers) {
        size_t next = 0;
        for (const std::string& line : fixture.lines) {
            const size_t before = run.eventsOfType("human.request").size();
            run.feed(line);
            const auto requests = run.eventsOfType("human.request");
            if (requests.size() > before && next < answers.size()) {
                Json answer = Json::parse(answers[next++]);
                answer["request_id"] = requests.back()["request_id"];
                replies.push_back(run.reply(answer.dump()));
            }
        }
        run.exit(fixture.exitCode(), fixture.signal(), false);
    }

    Fixture fixture = loadFixture("claude-stdio-hitl");
    PluginRun run{loadProvider("claude-code"), runRequest({{"approval_mode", "ask"}})};
    std::vector<CallResult> replies;
};

TEST_F(ClaudeStdioHitl, AskUserQuestionBecomesAQuestionWithItsOptions) {
    replayAnswering({});
    const auto requests = run.eventsOfType("human.request");
    ASSERT_EQ(requests.size(), 2u);
    EXPECT_EQ(requests[0]["kind"], "question");
    EXPECT_EQ(requests[0]["tool"], "AskUserQuestion");
    EXPECT_EQ(requests[0]["request_id"], "026a423d-139e-4e26-8b50-d629cdd08037");
    EXPECT_EQ(requests[0]["tool_call_id"], "toolu_fake_805349_0");
    const Json& question = requests[0]["questions"].at(0);
    EXPECT_EQ(question["question"], "Which greeting should hello.txt contain?");
    EXPECT_EQ(question["options"].at(0)["label"], "hello");
    EXPECT_EQ(question["options"].at(1)["label"], "hi");

    EXPECT_EQ(requests[1]["kind"], "permission");
    EXPECT_EQ(requests[1]["tool"], "Bash");
    EXPECT_EQ(requests[1]["input"]["command"], "echo hello > hello.txt");
    EXPECT_EQ(requests[1]["options"], Json({"allow", "deny"}));
}

TEST_F(ClaudeStdioHitl, RepliesBecomeTheRecordedControlResponses) {
    replayAnswering({R"({"decision":"allow",
                         "answers":{"Which greeting should hello.txt contain?":"hello"}})",
                     R"({"decision":"allow"})"});
    ASSERT_EQ(replies.size(), 2u);
    for (const CallResult& reply : replies) EXPECT_EQ(reply.status, AW_OK) << reply.error;
    // Nothing else was written: the stdin writes are exactly the two replies.
    ASSERT_EQ(run.stdinWrites().size(), 2u);
    EXPECT_EQ(Json::parse(run.stdinWrites()[0]), Json::parse(fixture.stdinLines.at(2)));
    EXPECT_EQ(Json::parse(run.stdinWrites()[1]), Json::parse(fixture.stdinLines.at(3)));
    EXPECT_EQ(run.terminalTypes(), std::vector<std::string>{"run.completed"});
}

TEST_F(ClaudeStdioHitl, AnswersByPositionAreMappedToTheQuestionText) {
    replayAnswering({R"({"decision":"allow","answers":[["hello"]]})"});
    ASSERT_FALSE(replies.empty());
    const Json sent = Json::parse(run.stdinWrites().at(0));
    EXPECT_EQ(sent["response"]["response"]["updatedInput"]["answers"],
              Json({{"Which greeting should hello.txt contain?", "hello"}}));
}

TEST_F(ClaudeStdioHitl, DenyCarriesTheHumansMessage) {
    replayAnswering({R"({"decision":"allow","answers":[["hi"]]})",
                     R"({"decision":"deny","message":"not in this directory"})"});
    const Json sent = Json::parse(run.stdinWrites().at(1));
    EXPECT_EQ(sent["response"]["request_id"], "503d6793-81b5-4730-a754-38b2bcc41e98");
    EXPECT_EQ(sent["response"]["response"],
              Json({{"behavior", "deny"}, {"message", "not in this directory"}}));
}

TEST_F(ClaudeStdioHitl, ResultAsksTheHostToCloseStdinSoTheCliExits) {
    replayAnswering({});
    EXPECT_EQ(run.closeStdinRequests(), 2);  // one per result line (the fixture has two turns)
}

TEST_F(ClaudeStdioHitl, RepliesToUnknownRequestsOrWithoutAnswersAreRefused) {
    replayAnswering({});
    EXPECT_EQ(run.reply(R"({"request_id":"nope","decision":"allow"})").status,
              AW_ERR_INVALID_INPUT);
    EXPECT_EQ(run.reply("not json").status, AW_ERR_INVALID_INPUT);
    PluginRun fresh(loadProvider("claude-code"), runRequest({{"approval_mode", "ask"}}));
    fresh.feed(fixture.lines.at(4));  // the AskUserQuestion control request
    const std::string id = fresh.eventsOfType("human.request").at(0)["request_id"];
    const CallResult noAnswers =
        fresh.reply(Json({{"request_id", id}, {"decision", "allow"}}).dump());
    EXPECT_EQ(noAnswers.status, AW_ERR_INVALID_INPUT);
    EXPECT_NE(noAnswers.error.find("answers"), std::string::npos);
}

TEST(ClaudeCode, UnhandledControlRequestsAreAnsweredWithAnError) {
    PluginRun run(claude(), runRequest({{"approval_mode", "ask"}}));
    run.feed(
        R"({"type":"control_request","request_id":"r9","request":{"subtype":"hook_callback"}})");
    ASSERT_EQ(run.stdinWrites().size(), 1u);
    const Json sent = Json::parse(run.stdinWrites()[0]);
    EXPECT_EQ(sent["response"]["subtype"], "error");
    EXPECT_EQ(sent["response"]["request_id"], "r9");
}

TEST(ClaudeCode, CancelledPermissionRequestIsReportedAsCancelled) {
    PluginRun run(claude(), runRequest({{"approval_mode", "ask"}}));
    run.feed(oneLine(R"({"type":"control_request","request_id":"r1","request":{
        "subtype":"can_use_tool","tool_name":"Bash","input":{"command":"ls"},
        "tool_use_id":"t1"}})"));
    run.feed(R"({"type":"control_cancel_request","request_id":"r1"})");
    const auto responses = run.eventsOfType("human.response");
    ASSERT_EQ(responses.size(), 1u);
    EXPECT_EQ(responses[0]["decision"], "cancelled");
    EXPECT_EQ(run.reply(R"({"request_id":"r1","decision":"allow"})").status, AW_ERR_INVALID_INPUT);
}

TEST(ClaudeCode, PartialMessagesStreamDeltasThatTheFullBlockCloses) {
    PluginRun run(claude(), runRequest());
    const char* lines[] = {
        R"({"type":"stream_event","api_message_id":"m1",
            "event":{"type":"message_start","message":{"id":"m1"}}})",
        R"({"type":"stream_event","api_message_id":"m1",
            "event":{"type":"content_block_start","index":0,
                     "content_block":{"type":"thinking","thinking":""}}})",
        R"({"type":"stream_event","api_message_id":"m1",
            "event":{"type":"content_block_delta","index":0,
                     "delta":{"type":"thinking_delta","thinking":"plan"}}})",
        R"({"type":"stream_event","api_message_id":"m1",
            "event":{"type":"content_block_start","index":1,
                     "content_block":{"type":"text","text":""}}})",
        R"({"type":"stream_event","api_message_id":"m1",
            "event":{"type":"content_block_delta","index":1,
                     "delta":{"type":"text_delta","text":"Hel"}}})",
        R"({"type":"stream_event","api_message_id":"m1",
            "event":{"type":"content_block_delta","index":1,
                     "delta":{"type":"text_delta","text":"lo"}}})",
        R"({"type":"assistant","message":{"id":"m1","content":[
            {"type":"thinking","thinking":"plan","signature":"s"}]}})",
        R"({"type":"assistant","message":{"id":"m1","content":[{"type":"text","text":"Hello"}]}})",
    };
    for (const char* line : lines) run.feed(oneLine(line));
    const auto deltas = run.eventsOfType("message.delta");
    ASSERT_EQ(deltas.size(), 3u);
    EXPECT_EQ(deltas[1]["text"], "Hel");
    EXPECT_EQ(deltas[2]["text"], "lo");
    EXPECT_EQ(run.eventsOfType("message.start").size(), 2u);
    EXPECT_EQ(run.messageTexts("text"), std::vector<std::string>{"Hello"});
    EXPECT_EQ(run.messageTexts("reasoning"), std::vector<std::string>{"plan"});
}

// The real CLI with --include-partial-messages against the scripted model server: every
// text and thinking block is typed live, in several deltas that come before its stop and add
// up to its text.
TEST(ClaudeCode, RecordedPartialMessagesTypeEveryBlockLive) {
    PluginRun run(claude(), runRequest());
    replay(run, loadFixture("claude-partial"));
    std::map<std::string, std::string> typed;
    std::map<std::string, int> deltas;
    std::map<std::string, int> stops;
    for (const Json& event : run.events()) {
        const Json& data = event["data"];
        const std::string id = data.value("message_id", "");
        if (event["type"] == "message.delta") {
            EXPECT_EQ(stops[id], 0) << "a delta after its message stopped: " << data.dump();
            typed[id] += data["text"].get<std::string>();
            ++deltas[id];
        } else if (event["type"] == "message.stop") {
            ++stops[id];
            EXPECT_GE(deltas[id], 2) << data.dump();
            EXPECT_EQ(typed[id], data["text"]) << data.dump();
            EXPECT_FALSE(data.value("incomplete", false)) << data.dump();
        }
    }
    EXPECT_EQ(run.messageTexts(),
              (std::vector<std::string>{
                  "Loading the task tools.", "I'll create hello.txt and track the work.",
                  "Now writing notes.txt.", "Done: hello.txt and notes.txt were created."}));
    EXPECT_EQ(run.messageTexts("reasoning"),
              std::vector<std::string>{"The user wants two files; start with the shell."});
    EXPECT_EQ(run.eventsOfType("message.start").size(), run.eventsOfType("message.stop").size());
    ASSERT_EQ(run.terminalTypes(), std::vector<std::string>{"run.completed"});
    EXPECT_EQ(run.terminal()["ignored_lines"]["unknown"], 0);
}

TEST(ClaudeCode, TheFullBlockDeliversWhatItsDeltasMissed) {
    PluginRun run(claude(), runRequest());
    const char* lines[] = {
        R"({"type":"stream_event","event":{"type":"message_start","message":{"id":"m1"}}})",
        R"({"type":"stream_event","event":{"type":"content_block_start","index":0,
            "content_block":{"type":"text","text":""}}})",
        R"({"type":"stream_event","event":{"type":"content_block_delta","index":0,
            "delta":{"type":"text_delta","text":"Hel"}}})",
        R"({"type":"assistant","message":{"id":"m1","content":[{"type":"text","text":"Hello"}]}})",
    };
    for (const char* line : lines) run.feed(oneLine(line));
    const auto deltas = run.eventsOfType("message.delta");
    ASSERT_EQ(deltas.size(), 2u);
    EXPECT_EQ(deltas[0]["text"], "Hel");
    EXPECT_EQ(deltas[1]["text"], "lo");
    EXPECT_EQ(run.messageTexts(), std::vector<std::string>{"Hello"});
}

TEST(ClaudeCode, ThinkingBlocksAreReportedAsReasoningMessages) {
    PluginRun run(claude(), runRequest());
    run.feed(oneLine(R"({"type":"assistant","session_id":"s","message":{"id":"m2","content":[
                 {"type":"thinking","thinking":"Let me think.","signature":"x"}]}})"));
    EXPECT_EQ(run.messageTexts("reasoning"), std::vector<std::string>{"Let me think."});
    EXPECT_TRUE(run.messageTexts("text").empty());
}

TEST(ClaudeCode, TaskToolsKeepTheWholeTaskList) {
    PluginRun run(claude(), runRequest());
    const char* lines[] = {
        R"({"type":"assistant","message":{"id":"a","content":[
            {"type":"tool_use","id":"t1","name":"TaskCreate",
             "input":{"subject":"Write tests","description":"d","activeForm":"Writing"}}]}})",
        R"({"type":"user","message":{"content":[
            {"type":"tool_result","tool_use_id":"t1","content":"Task #1 created"}]},
            "tool_use_result":{"task":{"id":"1","subject":"Write tests"}}})",
        R"({"type":"assistant","message":{"id":"b","content":[
            {"type":"tool_use","id":"t2","name":"TaskCreate","input":{"subject":"Ship it"}}]}})",
        R"({"type":"user","message":{"content":[
            {"type":"tool_result","tool_use_id":"t2","content":"Task #2 created"}]},
            "tool_use_result":{"task":{"id":"2","subject":"Ship it"}}})",
        R"({"type":"assistant","message":{"id":"c","content":[
            {"type":"tool_use","id":"t3","name":"TaskUpdate",
             "input":{"taskId":"1","status":"completed"}}]}})",
        R"({"type":"user","message":{"content":[
            {"type":"tool_result","tool_use_id":"t3","content":"ok"}]},
            "tool_use_result":{"success":true,"taskId":"1",
                               "statusChange":{"from":"pending","to":"completed"}}})",
    };
    for (const char* line : lines) run.feed(oneLine(line));
    const auto updates = run.eventsOfType("todo.update");
    ASSERT_EQ(updates.size(), 3u);
    EXPECT_EQ(updates[2]["todos"], Json::parse(R"([
        {"id":"1","content":"Write tests","status":"completed"},
        {"id":"2","content":"Ship it","status":"pending"}])"));
}

TEST(ClaudeCode, NoiseAndUnknownTypesAreCountedOnTheTerminalEvent) {
    PluginRun run(claude(), runRequest());
    EXPECT_EQ(run.feed("Warning: no stdin data received in 3s, proceeding without it").status,
              AW_OK);
    EXPECT_EQ(run.feed(R"({"type":"rate_limit_event","x":1})").status, AW_OK);
    EXPECT_EQ(run.feed(R"({"type":"assistant","message":42})").status, AW_OK);
    EXPECT_EQ(run.feed("[1,2,3]").status, AW_OK);
    EXPECT_TRUE(run.events().empty());
    run.exit(1, 0, false);
    const Json ignored = run.terminal()["ignored_lines"];
    EXPECT_EQ(ignored["non_json"], 1);
    EXPECT_EQ(ignored["unknown"], 2);
    EXPECT_EQ(ignored["malformed"], 1);
    EXPECT_EQ(ignored["unknown_types"].at(0), "rate_limit_event");
    // With nothing better to go on, the failure quotes the CLI's last words.
    EXPECT_NE(run.terminal()["error"]["message"].get<std::string>().find("no stdin data"),
              std::string::npos);
}

}  // namespace
}  // namespace aw::provider_tests
