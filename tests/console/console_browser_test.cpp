// The operator console in a real browser: Debian's chromium, headless, driven by
// puppeteer-core (tests/console/console_drive.mjs) against an agent-host whose claude-code
// provider runs the real Claude Code CLI on the scripted model server. The operator enters
// the tokens, watches runs appear and stream live, answers approval requests with clicks and
// stops a run; this test then checks what the page showed against what the API recorded.
// Screenshots and the page's result.json stay in build/tests/console-artifacts/.
#include <algorithm>
#include <filesystem>
#include <iostream>
#include <set>
#include <sstream>

#include "runs/claude_run_fixture.h"

namespace aw::runs {
namespace {

using namespace std::chrono_literals;
using test::dataOf;

const char* kClientToken = "console-browser-client";
const char* kAdminToken = "console-browser-admin";
//! Keep in step with scripts/install-browser-driver.sh.
const char* kPuppeteerCore = "puppeteer-core@24.43.1";
const char* kChromium = "/usr/bin/chromium";

bool contains(const std::string& text, const std::string& part) {
    return text.find(part) != std::string::npos;
}

std::filesystem::path puppeteerDir() {
    std::filesystem::path cache;
    if (const char* dir = std::getenv("AW_TEST_SERVERS_CACHE"); dir && *dir) {
        cache = dir;
    } else {
        const char* home = std::getenv("HOME");
        cache = std::filesystem::path(home ? home : "/root") / ".cache" / "agent-worker" /
                "test-servers";
    }
    return cache / kPuppeteerCore / "node_modules" / "puppeteer-core";
}

//! Empty when the browser and its driver are there; otherwise what is missing and what to do.
std::string missingBrowser() {
    if (!std::filesystem::exists(kChromium)) {
        return std::string(kChromium) +
               " is missing: scripts/install-deps.sh test installs Debian's chromium";
    }
    if (!std::filesystem::exists(puppeteerDir() / "package.json")) {
        return puppeteerDir().string() + " is missing: run scripts/install-browser-driver.sh " +
               "(make test does), with the same AW_TEST_SERVERS_CACHE";
    }
    return "";
}

std::string joined(const Json& list, const std::string& key) {
    std::string out;
    for (const auto& item : list) out += (out.empty() ? "" : " | ") + item.value(key, "");
    return out;
}

TEST(ConsoleBrowser, OperatorWatchesRunsLiveAnswersApprovalsAndStopsARun) {
    // Missing infrastructure fails the test, saying what to install: never a silent pass.
    const std::string missingCli = live::missingCli(Cli::ClaudeCode);
    ASSERT_TRUE(missingCli.empty()) << missingCli;
    const std::string missing = missingBrowser();
    ASSERT_TRUE(missing.empty()) << missing;

    HarnessOptions harness;
    harness.hostEnv = {{"AW_AUTH_CLIENT_TOKENS", kClientToken},
                       {"AW_AUTH_ADMIN_TOKENS", kAdminToken},
                       {"AW_RUNS_STOP_GRACE_MS", "1000"}};
    RunHarness h(harness);
    const auto artifacts = std::filesystem::path(AW_BUILD_DIR) / "tests" / "console-artifacts";
    std::filesystem::remove_all(artifacts);
    std::filesystem::create_directories(artifacts);
    std::cout << "console screenshots and result.json: " << artifacts.string() << std::endl;

    SubprocessOptions options;
    options.argv = {"node", std::string(AW_SOURCE_DIR) + "/tests/console/console_drive.mjs"};
    options.env = {{"AW_URL", "http://127.0.0.1:" + std::to_string(h.port())},
                   {"AW_ADMIN_TOKEN", kAdminToken},
                   {"AW_CLIENT_TOKEN", kClientToken},
                   {"AW_PUPPETEER", puppeteerDir().string()},
                   {"AW_CHROMIUM", kChromium},
                   {"AW_ARTIFACTS", artifacts.string()}};
    options.pipeStdout = false;
    options.stdoutFile = (artifacts / "drive.log").string();
    options.stderrFile = (artifacts / "drive.log").string();
    Subprocess drive(options);
    const auto ended = drive.waitFor(240s);
    const std::string driveLog = test::readText(artifacts / "drive.log");
    if (!ended) drive.terminate();
    ASSERT_TRUE(ended && ended->code == 0)
        << "the browser side failed (" << (ended ? ended->describe() : "timed out") << "):\n"
        << driveLog << "\nscreenshots: " << artifacts.string() << "\nhost log:\n"
        << h.logTail();
    const Json result = Json::parse(test::readText(artifacts / "result.json"));
    EXPECT_TRUE(result["problems"].empty())
        << "the page logged errors: " << result["problems"].dump(2);
    EXPECT_EQ(result.value("tokenStored", ""), kAdminToken) << "kept in sessionStorage";
    EXPECT_GE(result["screenshots"].size(), 6u);
    for (const auto& shot : result["screenshots"]) {
        EXPECT_GT(std::filesystem::file_size(shot.get<std::string>()), 10'000u) << shot;
    }

    // Providers with their capabilities and status.
    const Json providers = result["providers"];
    const auto claude = std::find_if(providers.begin(), providers.end(), [](const Json& p) {
        return p.value("name", "") == "claude-code";
    });
    ASSERT_NE(claude, providers.end()) << providers.dump();
    EXPECT_EQ(claude->value("status", ""), "healthy");
    EXPECT_TRUE(contains(claude->value("capabilities", ""), "human_loop")) << claude->dump();

    // The Restart button asked the host to restart that provider, with the admin token.
    bool restartAsked = false;
    std::istringstream log(h.log());
    for (std::string line; std::getline(log, line);) {
        const Json entry = Json::parse(line, nullptr, false);
        if (entry.is_object() && entry.value("path", "") == "/admin/providers/codex-cli/restart") {
            EXPECT_EQ(entry.value("method", ""), "POST") << line;
            EXPECT_EQ(entry.value("status", 0), 202) << line;
            restartAsked = true;
        }
    }
    EXPECT_TRUE(restartAsked) << "no restart request in the host's log";

    // The approval run, as the page showed it, against what the API recorded.
    const Json approval = result["runs"]["approval"];
    const std::string rid = approval.value("runId", "");
    const Json view = approval["view"];
    const auto events = h.events(rid);
    EXPECT_EQ(h.run(rid).value("status", ""), "completed") << h.describe(rid);
    EXPECT_EQ(view.value("status", ""), "completed");
    EXPECT_TRUE(view.value("outcome", "").starts_with("completed")) << view.dump(2);

    const auto requests = dataOf(events, "human.request");
    ASSERT_EQ(approval["answered"].size(), requests.size())
        << "one click per request: " << approval.dump();
    ASSERT_EQ(requests.size(), 2u) << "Bash and Write ask: " << h.describe(rid);
    for (std::size_t i = 0; i < requests.size(); ++i) {
        EXPECT_EQ(approval["answered"][i], requests[i].value("request_id", ""));
    }
    for (const auto& response : dataOf(events, "human.response")) {
        EXPECT_EQ(response.value("decision", ""), "allow") << response.dump();
        EXPECT_EQ(response.value("by", ""), "user") << response.dump();
    }
    EXPECT_TRUE(contains(result.value("approvalCard", ""), "echo hello > hello.txt"))
        << "the card shows what the tool would run: " << result.value("approvalCard", "");
    EXPECT_EQ(test::readText(h.workspace("console-chat") / "hello.txt"), "hello\n");

    // Every message the run stored, with the whole text, in order.
    std::vector<std::string> stored, shown;
    for (const auto& data : dataOf(events, "message.stop"))
        stored.push_back(data.value("text", ""));
    for (const auto& message : view["messages"]) shown.push_back(message.value("text", ""));
    EXPECT_EQ(shown, stored);
    EXPECT_TRUE(
        contains(joined(view["messages"], "text"), "Done: hello.txt and notes.txt were created."));

    // Each tool call with its input and output.
    const auto starts = dataOf(events, "tool.start");
    ASSERT_EQ(view["tools"].size(), starts.size()) << view["tools"].dump(2);
    for (std::size_t i = 0; i < starts.size(); ++i) {
        EXPECT_EQ(view["tools"][i].value("name", ""), starts[i].value("name", ""));
        EXPECT_EQ(Json::parse(view["tools"][i].value("input", "{}")), starts[i]["input"]);
    }
    for (const auto& toolResult : dataOf(events, "tool.result")) {
        const std::string callId = toolResult.value("tool_call_id", "");
        const auto tool = std::find_if(view["tools"].begin(), view["tools"].end(),
                                       [&](const Json& t) { return t.value("id", "") == callId; });
        ASSERT_NE(tool, view["tools"].end()) << toolResult.dump();
        EXPECT_EQ(tool->value("output", ""), toolResult.value("output", "")) << toolResult.dump();
        EXPECT_EQ(tool->value("isError", false), toolResult.value("is_error", false))
            << toolResult.dump();
    }
    const Json bash = *std::find_if(view["tools"].begin(), view["tools"].end(),
                                    [](const Json& t) { return t.value("name", "") == "Bash"; });
    EXPECT_TRUE(contains(bash.value("input", ""), "echo hello > hello.txt")) << bash.dump();

    // The todo list, as a checklist: the last todo.update, every item done and checked.
    const auto todoUpdates = dataOf(events, "todo.update");
    ASSERT_FALSE(todoUpdates.empty());
    const Json lastTodos = todoUpdates.back()["todos"];
    ASSERT_EQ(view["todos"].size(), lastTodos.size()) << view["todos"].dump(2);
    for (std::size_t i = 0; i < lastTodos.size(); ++i) {
        EXPECT_EQ(view["todos"][i].value("content", ""), lastTodos[i].value("content", ""));
        EXPECT_EQ(view["todos"][i].value("status", ""), lastTodos[i].value("status", ""));
        EXPECT_EQ(view["todos"][i].value("checked", false),
                  lastTodos[i].value("status", "") == "completed");
    }

    // Usage: the figures of the run's terminal event.
    const Json usage = h.run(rid)["usage"];
    EXPECT_EQ(view["usage"].value("output_tokens", ""),
              std::to_string(usage.value("output_tokens", -1)))
        << view["usage"].dump() << " vs " << usage.dump();

    // Agent output is shown as text: the markup the agent repeated back stays inert.
    const Json recall = result["runs"]["recall"]["view"];
    EXPECT_TRUE(contains(joined(recall["messages"], "text"), "<img src=\"x\" onerror="))
        << recall.dump(2);
    EXPECT_EQ(recall.value("injectedElements", -1), 0);
    EXPECT_FALSE(recall.value("pwned", true));
    EXPECT_EQ(recall.value("status", ""), "completed");

    // The Stop button: the waiting run ends stopped.
    const std::string stoppedId = result["runs"]["stopped"].value("runId", "");
    EXPECT_EQ(h.run(stoppedId).value("status", ""), "stopped") << h.describe(stoppedId);
    EXPECT_TRUE(result["runs"]["stopped"]["view"].value("outcome", "").starts_with("stopped"));

    // A question answered by choosing an option: the agent got the answer.
    const Json question = result["runs"]["question"]["view"];
    EXPECT_EQ(question.value("status", ""), "completed") << question.dump(2);
    EXPECT_TRUE(contains(question["messages"].back().value("text", ""), "bonjour"))
        << question.dump(2);

    // The lists: the sessions with their workers, every run with its status, the queue.
    std::set<std::string> sessions;
    for (const auto& row : result["sessions"]) sessions.insert(row.value("session", ""));
    EXPECT_TRUE(sessions.count("console-chat") && sessions.count("console-stop"))
        << result["sessions"].dump();
    for (const auto& row : result["runList"]) {
        EXPECT_EQ(row.value("status", ""), h.run(row.value("run", "")).value("status", ""))
            << row.dump();
    }
    EXPECT_EQ(result["runList"].size(), 4u);
    EXPECT_GE(result["queue"].size(), 3u) << result["queue"].dump();
}

}  // namespace
}  // namespace aw::runs
