#include "providers/live/live_scenarios.h"

#include <algorithm>
#include <iostream>
#include <map>
#include <set>

namespace aw::live {
namespace {

const char* kToolsPrompt = "TOOLS_AND_TODOS: create hello.txt and notes.txt, track the work";

bool contains(const std::string& text, const std::string& part) {
    return text.find(part) != std::string::npos;
}

std::string joined(const std::vector<std::string>& items) {
    std::string out;
    for (const auto& item : items) out += (out.empty() ? "" : " | ") + item;
    return out;
}

//! The data of the first tool.start named `name` (null when none).
Json toolStart(const RunResult& run, const std::string& name) {
    for (const auto& data : run.ofType("tool.start")) {
        if (data.value("name", "") == name) return data;
    }
    return Json();
}

Json toolResult(const RunResult& run, const std::string& callId) {
    for (const auto& data : run.ofType("tool.result")) {
        if (data.value("tool_call_id", "") == callId) return data;
    }
    return Json();
}

void report(const std::string& what, double seconds) {
    std::cout << "[ measured ] " << what << ": " << seconds << " s" << std::endl;
    ::testing::Test::RecordProperty("seconds", std::to_string(seconds));
}

}  // namespace

void LiveTest::SetUp() {
    const std::string missing = missingCli(traits_.cli);
    ASSERT_TRUE(missing.empty()) << missing;
    server_ = std::make_unique<ModelServer>();
    sandbox_ = std::make_unique<CliSandbox>(traits_.cli, *server_);
}

void LiveTest::useCodexProviderExtra(const std::string& lines) {
    sandbox_ = std::make_unique<CliSandbox>(traits_.cli, *server_, lines);
}

void expectWellFormed(const RunResult& run, const CliSandbox& sandbox) {
    EXPECT_TRUE(run.status.exitedNormally() && run.status.code == 0)
        << "agent-provider-host: " << run.status.describe() << "\n"
        << run.describe();
    EXPECT_EQ(run.terminalCount(), 1) << run.describe();
    EXPECT_FALSE(run.terminal().is_null()) << "the last event is not terminal\n" << run.describe();
    std::set<std::string> open;
    std::map<std::string, std::string> deltas;
    for (const auto& event : run.events) {
        const std::string type = event.value("type", "");
        const Json data = event.value("data", Json::object());
        const std::string id = data.value("message_id", "");
        EXPECT_NE(type, "<not JSON>") << run.describe();
        if (type == "message.start") open.insert(id);
        if (type == "message.delta") deltas[id] += data.value("text", "");
        if (type == "message.stop") {
            open.erase(id);
            if (!data.value("incomplete", false)) {
                EXPECT_EQ(deltas[id], data.value("text", "")) << "deltas of " << id;
            }
        }
    }
    EXPECT_TRUE(open.empty()) << "messages never stopped: " << *open.begin();
    for (const auto& start : run.ofType("tool.start")) {
        const std::string id = start.value("tool_call_id", "");
        EXPECT_FALSE(id.empty()) << start.dump();
        EXPECT_FALSE(toolResult(run, id).is_null())
            << "tool.start " << id << " has no tool.result\n"
            << run.describe();
    }
    EXPECT_EQ(processesIn(sandbox.workspace()), std::vector<std::string>())
        << "processes left running in the workspace";
    // The pinned CLIs print nothing the plugins do not understand.
    const Json terminal = run.terminal();
    if (terminal.is_object()) {
        const Json ignored = terminal["data"].value("ignored_lines", Json::object());
        EXPECT_EQ(ignored.value("malformed", 0) + ignored.value("non_json", 0) +
                      ignored.value("unknown", 0),
                  0)
            << ignored.dump();
    }
}

void checkToolsAndTodos(const CliTraits& traits, CliSandbox& sandbox, ModelServer& server,
                        RunResult* out) {
    const RunResult run = sandbox.run(sandbox.request(kToolsPrompt));
    if (out) *out = run;
    expectWellFormed(run, sandbox);
    report("tools and todos run", run.seconds);

    // provider.session comes first and names the CLI's session.
    const auto sessions = run.ofType("provider.session");
    EXPECT_FALSE(sessions.empty()) << run.describe();
    if (!sessions.empty()) {
        EXPECT_FALSE(sessions[0].value("provider_session_id", "").empty());
        EXPECT_EQ(run.events.front().value("type", ""), "provider.session");
    }

    // The model's texts, in order, and its reasoning.
    const auto texts = run.texts("text");
    for (const char* expected :
         {"I'll create hello.txt and track the work.", "Now writing notes.txt.",
          "Done: hello.txt and notes.txt were created."}) {
        EXPECT_NE(std::find(texts.begin(), texts.end(), expected), texts.end())
            << "missing text '" << expected << "' in: " << joined(texts);
    }
    if (!texts.empty()) {
        EXPECT_EQ(texts.back(), "Done: hello.txt and notes.txt were created.");
    }
    const auto reasoning = run.texts("reasoning");
    EXPECT_NE(std::find(reasoning.begin(), reasoning.end(),
                        "The user wants two files; start with the shell."),
              reasoning.end())
        << "reasoning: " << joined(reasoning);

    // The shell command and the file write, with the CLI's call ids and their results.
    const Json shell = toolStart(run, traits.shellTool);
    ASSERT_FALSE(shell.is_null()) << "no " << traits.shellTool << " tool.start\n" << run.describe();
    EXPECT_TRUE(contains(shell["input"].dump(), "echo hello > hello.txt")) << shell.dump();
    const std::string shellId = shell.value("tool_call_id", "");
    EXPECT_EQ(shellId.rfind(traits.callIdPrefix, 0), 0u) << shellId;
    const Json shellResult = toolResult(run, shellId);
    EXPECT_FALSE(shellResult.value("is_error", true)) << shellResult.dump();
    const Json write = toolStart(run, traits.writeTool);
    ASSERT_FALSE(write.is_null()) << "no " << traits.writeTool << " tool.start\n" << run.describe();
    EXPECT_TRUE(contains(write["input"].dump(), "notes.txt")) << write.dump();
    EXPECT_FALSE(toolResult(run, write.value("tool_call_id", "")).value("is_error", true));
    std::set<std::string> ids;
    for (const auto& start : run.ofType("tool.start")) {
        EXPECT_TRUE(ids.insert(start.value("tool_call_id", "")).second)
            << "call id used twice: " << start.dump();
    }

    // todo.update carries the whole list each time; the last one has both items done.
    const auto todos = run.ofType("todo.update");
    EXPECT_GE(todos.size(), 2u) << run.describe();
    if (!todos.empty()) {
        const Json last = todos.back();
        EXPECT_EQ(last.value("source", ""), traits.lastTodoSource);
        ASSERT_EQ(last["todos"].size(), 2u) << last.dump();
        EXPECT_EQ(last["todos"][0].value("content", ""), "Create hello.txt");
        EXPECT_EQ(last["todos"][1].value("content", ""), "Write notes.txt");
        for (const auto& todo : last["todos"]) {
            EXPECT_EQ(todo.value("status", ""), "completed") << last.dump();
        }
        bool sawOpenItem = false;
        for (const auto& update : todos) {
            for (const auto& todo : update["todos"]) {
                sawOpenItem = sawOpenItem || todo.value("status", "") != "completed";
            }
        }
        EXPECT_TRUE(sawOpenItem) << "no update showed unfinished work";
    }

    // Usage: the last usage event is the run's, repeated on run.completed.
    const auto usages = run.ofType("usage");
    EXPECT_FALSE(usages.empty()) << run.describe();
    const Json terminal = run.terminal();
    EXPECT_EQ(terminal.value("type", ""), "run.completed") << run.describe();
    if (!usages.empty() && terminal.is_object()) {
        const Json usage = terminal["data"].value("usage", Json());
        EXPECT_EQ(usage, usages.back());
        // Three or four model calls of 1000 new + 500 cached input tokens each.
        EXPECT_GE(usage.value("input_tokens", 0), 3000) << usage.dump();
        EXPECT_GE(usage.value("cache_read_tokens", 0), 1500) << usage.dump();
        EXPECT_GT(usage.value("output_tokens", 0), 0) << usage.dump();
        EXPECT_EQ(terminal["data"].value("result", ""),
                  "Done: hello.txt and notes.txt were created.");
    }

    EXPECT_EQ(test::readText(sandbox.workspace() / "hello.txt"), "hello\n");
    EXPECT_EQ(test::readText(sandbox.workspace() / "notes.txt"),
              "notes written by the scripted model\n");
    EXPECT_GE(server.requests().size(), 3u) << server.log();
}

void checkResume(const CliTraits& traits, CliSandbox& sandbox, ModelServer& server) {
    RunResult first;
    checkToolsAndTodos(traits, sandbox, server, &first);
    if (::testing::Test::HasFatalFailure()) return;
    const auto sessions = first.ofType("provider.session");
    ASSERT_FALSE(sessions.empty());
    const std::string sessionId = sessions[0].value("provider_session_id", "");
    const Json firstUsage = first.terminal()["data"].value("usage", Json::object());
    const std::size_t requestsBefore = server.requests().size();

    const Json request =
        sandbox.request("RECALL what I asked before",
                        {{"provider_session_id", sessionId}, {"previous_usage", firstUsage}});
    const RunResult second = sandbox.run(request);
    expectWellFormed(second, sandbox);
    report("resumed run", second.seconds);

    const auto resumed = second.ofType("provider.session");
    ASSERT_FALSE(resumed.empty()) << second.describe();
    EXPECT_EQ(resumed[0].value("provider_session_id", ""), sessionId);
    EXPECT_EQ(second.terminal().value("type", ""), "run.completed") << second.describe();
    const auto texts = second.texts("text");
    ASSERT_FALSE(texts.empty()) << second.describe();
    EXPECT_TRUE(contains(texts.back(), "I remember 1 earlier prompt(s)")) << texts.back();
    EXPECT_TRUE(contains(texts.back(), "TOOLS_AND_TODOS")) << texts.back();

    // The model server saw the history: both prompts, and more messages than a new session.
    const Json requests = server.requests();
    ASSERT_GT(requests.size(), requestsBefore);
    Json recall;
    for (const auto& entry : requests) {
        if (entry.value("scenario", "") == "recall") recall = entry;
    }
    ASSERT_FALSE(recall.is_null()) << server.log();
    ASSERT_EQ(recall["user_prompts"].size(), 2u) << recall.dump();
    EXPECT_TRUE(contains(recall["user_prompts"][0].get<std::string>(), kToolsPrompt));
    EXPECT_TRUE(contains(recall["user_prompts"][1].get<std::string>(), "RECALL"));
    EXPECT_GT(recall.value("messages", 0), requests[0].value("messages", 0));

    // The resumed run's usage is its own (one model call), not the session's total.
    const Json usage = second.terminal()["data"].value("usage", Json::object());
    EXPECT_EQ(usage.value("input_tokens", -1), 1000) << usage.dump();
    EXPECT_EQ(usage.value("cache_read_tokens", -1), 500) << usage.dump();
    if (usage.contains("session_totals")) {  // the CLI's cumulative figures, kept aside
        EXPECT_EQ(usage["session_totals"].value("input_tokens", -1),
                  firstUsage.value("input_tokens", 0) + 1000)
            << usage.dump();
    }
    if (firstUsage.value("cost_usd", 0.0) > 0) {  // one model call costs less than four
        EXPECT_GT(usage.value("cost_usd", 0.0), 0.0) << usage.dump();
        EXPECT_LT(usage.value("cost_usd", 0.0), firstUsage.value("cost_usd", 0.0)) << usage.dump();
    }
}

void checkLongPrompt(CliSandbox& sandbox) {
    std::string sessionId;
    // A new session, then the same one resumed: the resume arguments come before stdin's turn.
    for (const std::size_t size : {200 * 1024, 150 * 1024}) {
        const std::string prompt = "LONGPROMPT: how long is this? " + std::string(size, 'x');
        const Json overrides =
            sessionId.empty() ? Json::object() : Json{{"provider_session_id", sessionId}};
        const RunResult run = sandbox.run(sandbox.request(prompt, overrides));
        expectWellFormed(run, sandbox);
        report(std::to_string(size / 1024) + " KB prompt run", run.seconds);
        EXPECT_EQ(run.terminal().value("type", ""), "run.completed") << run.describe();
        const auto texts = run.texts("text");
        const std::string expected =
            "Received a prompt of " + std::to_string(prompt.size()) + " bytes.";
        EXPECT_NE(std::find(texts.begin(), texts.end(), expected), texts.end())
            << "expected '" << expected << "' in: " << joined(texts);
        const auto sessions = run.ofType("provider.session");
        ASSERT_FALSE(sessions.empty()) << run.describe();
        if (!sessionId.empty()) {
            EXPECT_EQ(sessions[0].value("provider_session_id", ""), sessionId);
        }
        sessionId = sessions[0].value("provider_session_id", "");
    }
}

void checkHttpFailure(const CliTraits& traits, CliSandbox& sandbox, const std::string& prompt,
                      int expectedStatus, const std::string& expectedMessage, double maxSeconds) {
    (void)traits;
    const RunResult run = sandbox.run(sandbox.request(prompt));
    expectWellFormed(run, sandbox);
    report(prompt + " -> terminal event", run.seconds);
    const Json terminal = run.terminal();
    ASSERT_EQ(terminal.value("type", ""), "run.failed") << run.describe();
    const Json error = terminal["data"].value("error", Json::object());
    EXPECT_TRUE(contains(error.value("message", ""), expectedMessage))
        << "expected '" << expectedMessage << "' in: " << error.dump();
    if (error.contains("http_status")) {
        EXPECT_EQ(error.value("http_status", 0), expectedStatus);
    }
    EXPECT_EQ(error.value("class", ""), "api_error") << error.dump();
    EXPECT_LT(run.seconds, maxSeconds) << "run.failed took too long";
}

void checkInterruptMidTool(const CliTraits& traits, CliSandbox& sandbox) {
    RunOptions options;
    options.interruptWhenFileExists = sandbox.workspace() / "slow.started";
    const RunResult run = sandbox.run(sandbox.request("SLOWTOOL: wait for something"), options);
    expectWellFormed(run, sandbox);
    report("interrupted run", run.seconds);
    EXPECT_TRUE(run.interruptSent) << "the slow command never started\n" << run.describe();
    EXPECT_EQ(run.terminal().value("type", ""), "run.stopped") << run.describe();
    EXPECT_LT(run.seconds, 60) << "the 30 s command was waited out";
    const Json shell = toolStart(run, traits.shellTool);
    if (traits.toolStartWhileRunning) {
        ASSERT_FALSE(shell.is_null()) << run.describe();
        EXPECT_TRUE(contains(shell["input"].dump(), "sleep 30")) << shell.dump();
        const Json result = toolResult(run, shell.value("tool_call_id", ""));
        EXPECT_TRUE(result.value("is_error", false)) << result.dump();
    } else {
        // The CLI reports a tool only once it has finished; this one never did.
        EXPECT_TRUE(shell.is_null()) << shell.dump();
    }
    EXPECT_FALSE(std::filesystem::exists(sandbox.workspace() / "slow.done"));
}

void checkInterruptAfterToolStart(const CliTraits& traits, CliSandbox& sandbox) {
    RunOptions options;
    options.interruptAfterEvent = "tool.start";
    const RunResult run = sandbox.run(sandbox.request("SLOWTOOL: wait for something"), options);
    expectWellFormed(run, sandbox);
    report("run interrupted after tool.start", run.seconds);
    EXPECT_EQ(run.terminal().value("type", ""), "run.stopped") << run.describe();
    EXPECT_FALSE(toolStart(run, traits.shellTool).is_null()) << run.describe();
    EXPECT_LT(run.seconds, 60);
}

}  // namespace aw::live
