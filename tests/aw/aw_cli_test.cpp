// (AwCli) build/bin/aw against a real agent-host running real runs: the Claude Code CLI
// against the scripted model server (runs/claude_run_fixture.h), on SQLite, the host
// requiring client and admin tokens. One host serves the whole suite; each test has its
// own session.
#include <gtest/gtest.h>

#include <csignal>
#include <sstream>

#include "aw/aw_process.h"
#include "runs/claude_run_fixture.h"

namespace aw::awcli {
namespace {

using Json = nlohmann::json;
using namespace std::chrono_literals;

constexpr const char* kClientToken = "aw-cli-client-token";
constexpr const char* kAdminToken = "aw-cli-admin-token";
constexpr const char* kToolsPrompt =
    "TOOLS_AND_TODOS: create hello.txt and notes.txt, track the work";

std::vector<std::string> linesOf(const std::string& text) {
    std::vector<std::string> lines;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    return lines;
}

//! The run id from aw's first line, "• run <id> queued (...)".
std::string runIdIn(const std::string& out) {
    const auto at = out.find("• run ");
    if (at == std::string::npos) return "";
    const auto start = at + std::string("• run ").size();
    return out.substr(start, out.find(' ', start) - start);
}

class AwCli : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        if (!live::missingCli(live::Cli::ClaudeCode).empty()) return;  // each test fails, below
        runs::HarnessOptions options;
        options.hostEnv = {{"AW_AUTH_CLIENT_TOKENS", kClientToken},
                           {"AW_AUTH_ADMIN_TOKENS", kAdminToken},
                           {"AW_RUNS_STOP_GRACE_MS", "1000"}};
        harness_ = new runs::RunHarness(options);
    }
    static void TearDownTestSuite() {
        delete harness_;
        harness_ = nullptr;
    }
    void SetUp() override {
        // The suite's whole point is a real CLI's run: without it, fail and say how to get it.
        ASSERT_EQ(live::missingCli(live::Cli::ClaudeCode), "")
            << "run scripts/install-agent-clis.sh";
        ASSERT_NE(harness_, nullptr);
    }

    static runs::RunHarness& host() { return *harness_; }
    static std::string url() { return "http://127.0.0.1:" + std::to_string(harness_->port()); }
    //! What a user has set up: the host's URL and both tokens.
    static std::map<std::string, std::string> env() {
        return {{"AW_URL", url()}, {"AW_TOKEN", kClientToken}, {"AW_ADMIN_TOKEN", kAdminToken}};
    }

    static runs::RunHarness* harness_;
};

runs::RunHarness* AwCli::harness_ = nullptr;

TEST_F(AwCli, SendShowsTextToolsTodosAndUsageAndExitsZeroOnCompletion) {
    const auto result =
        runAw({"send", "aw-send", "--provider", "claude-code", kToolsPrompt}, env());
    ASSERT_EQ(result.status.code, 0) << result.describe();
    const std::string& out = result.out;
    EXPECT_NE(out.find("I'll create hello.txt and track the work."), std::string::npos) << out;
    EXPECT_NE(out.find("Done: hello.txt and notes.txt were created."), std::string::npos) << out;
    EXPECT_NE(out.find("→ Bash  echo hello > hello.txt"), std::string::npos) << out;
    EXPECT_NE(out.find("  ✓ Bash"), std::string::npos) << out;
    EXPECT_NE(out.find("→ Write  " + host().workspace("aw-send").string()), std::string::npos)
        << "a Write shows its path; " << out;
    // The checklist as it changed: first one item to do, at last both done.
    const auto first = out.find("[ ] Create hello.txt");
    const auto last = out.find("[x] Write notes.txt");
    EXPECT_NE(first, std::string::npos) << out;
    EXPECT_NE(last, std::string::npos) << out;
    EXPECT_LT(first, last) << out;
    EXPECT_NE(out.find("✓ completed\nusage: "), std::string::npos) << out;
    EXPECT_NE(out.find(" out · "), std::string::npos) << out;
    EXPECT_TRUE(std::filesystem::exists(host().workspace("aw-send") / "hello.txt"));

    // The run it showed is the session's run, completed.
    const std::string runId = runIdIn(out);
    ASSERT_FALSE(runId.empty()) << out;
    EXPECT_EQ(host().run(runId).value("status", ""), "completed");
}

TEST_F(AwCli, AFailedRunExitsOneWithTheError) {
    const auto result =
        runAw({"send", "aw-fail", "--provider", "claude-code", "FAIL400 this one"}, env());
    EXPECT_EQ(result.status.code, 1) << result.describe();
    EXPECT_NE(result.out.find("✗ failed: api_error"), std::string::npos) << result.out;
    EXPECT_EQ(host().run(runIdIn(result.out)).value("status", ""), "failed");
}

TEST_F(AwCli, JsonPrintsEveryEventAsOneJsonLine) {
    const auto result =
        runAw({"send", "aw-json", "--provider", "claude-code", "--json", "say hello"}, env());
    ASSERT_EQ(result.status.code, 0) << result.describe();
    const auto lines = linesOf(result.out);
    ASSERT_FALSE(lines.empty());
    std::int64_t seq = 0;
    std::string runId;
    for (const auto& line : lines) {
        const Json event = Json::parse(line, nullptr, false);
        ASSERT_TRUE(event.is_object()) << "not a JSON object: " << line;
        EXPECT_EQ(event.value("seq", std::int64_t{0}), ++seq) << line;
        runId = event.value("run_id", "");
    }
    EXPECT_EQ(Json::parse(lines.front()).value("type", ""), "run.queued");
    EXPECT_EQ(Json::parse(lines.back()).value("type", ""), "run.completed");
    // The same events the API stores, no more, no fewer.
    EXPECT_EQ(host().events(runId).size(), lines.size());
}

TEST_F(AwCli, ReplyAllowAnswersWhatTheRunAsks) {
    AwProcess send({"send", "aw-ask", "--provider", "claude-code", "--ask", kToolsPrompt}, env());
    std::vector<std::string> replies;
    // Bash and Write each ask; each is shown with the command that answers it.
    while (auto line = send.waitForLine("answer: aw reply ", 90s)) {
        const std::string runId = runIdIn(send.outSoFar());
        EXPECT_NE(line->find("aw reply " + runId + " allow"), std::string::npos) << *line;
        const auto reply = runAw({"reply", runId, "allow"}, env());
        ASSERT_EQ(reply.status.code, 0) << reply.describe();
        EXPECT_NE(reply.out.find("answered "), std::string::npos) << reply.out;
        replies.push_back(reply.out);
    }
    const auto result = send.finish(60s);
    ASSERT_EQ(result.status.code, 0) << result.describe();
    EXPECT_EQ(replies.size(), 2u) << result.out;
    EXPECT_NE(result.out.find("? Bash asks for permission: echo hello > hello.txt"),
              std::string::npos)
        << result.out;
    EXPECT_NE(result.out.find("• answered allow (by user)"), std::string::npos) << result.out;
    EXPECT_TRUE(std::filesystem::exists(host().workspace("aw-ask") / "notes.txt"));

    // Nothing is pending any more: a reply says so, with the run's status.
    const auto late = runAw({"reply", runIdIn(result.out), "deny"}, env());
    EXPECT_EQ(late.status.code, 4) << late.describe();
    EXPECT_NE(late.err.find("has no pending request (it is completed)"), std::string::npos)
        << late.err;
}

TEST_F(AwCli, ReplyAnswersAQuestionWithTheChosenLabel) {
    AwProcess send(
        {"send", "aw-question", "--provider", "claude-code", "--ask", "ASKUSER: which greeting?"},
        env());
    const auto how = send.waitForLine("answer: aw reply ", 90s);
    ASSERT_TRUE(how) << send.outSoFar();
    EXPECT_NE(send.outSoFar().find("Which greeting should I write?"), std::string::npos)
        << send.outSoFar();
    EXPECT_NE(send.outSoFar().find("- bonjour: The French greeting"), std::string::npos)
        << send.outSoFar();
    const auto reply =
        runAw({"reply", runIdIn(send.outSoFar()), "allow", "--answer", "bonjour"}, env());
    ASSERT_EQ(reply.status.code, 0) << reply.describe();
    const auto result = send.finish(60s);
    ASSERT_EQ(result.status.code, 0) << result.describe();
    EXPECT_NE(result.out.find("You answered."), std::string::npos) << result.out;
    EXPECT_NE(result.out.find("bonjour"), std::string::npos) << result.out;
}

TEST_F(AwCli, CtrlCStopsTheRunAndExitsThree) {
    AwProcess send({"send", "aw-stop", "--provider", "claude-code", "SLOWTOOL please"}, env());
    // The slow command runs (30 s) once the CLI has started it.
    ASSERT_TRUE(send.waitForLine("→ Bash  touch slow.started", 90s)) << send.outSoFar();
    send.signal(SIGINT);
    const auto result = send.finish(60s);
    EXPECT_EQ(result.status.code, 3) << result.describe();
    EXPECT_NE(result.err.find("stopping run"), std::string::npos) << result.err;
    EXPECT_NE(result.out.find("■ stopped"), std::string::npos) << result.out;
    const Json run = host().run(runIdIn(result.out));
    EXPECT_EQ(run.value("status", ""), "stopped") << run.dump();
    EXPECT_FALSE(std::filesystem::exists(host().workspace("aw-stop") / "slow.done"));
}

TEST_F(AwCli, ListsRunsSessionsAndProvidersAsTables) {
    const auto sent = runAw({"send", "aw-list", "--provider", "claude-code", "hello"}, env());
    ASSERT_EQ(sent.status.code, 0) << sent.describe();
    const std::string runId = runIdIn(sent.out);

    const auto runs = runAw({"runs", "--session", "aw-list"}, env());
    ASSERT_EQ(runs.status.code, 0) << runs.describe();
    const auto runLines = linesOf(runs.out);
    ASSERT_EQ(runLines.size(), 2u) << runs.out;
    EXPECT_EQ(runLines[0].rfind("RUN ", 0), 0u) << runs.out;
    EXPECT_EQ(runLines[1].rfind(runId + " ", 0), 0u) << runs.out;
    EXPECT_NE(runLines[1].find(" claude-code "), std::string::npos) << runs.out;
    EXPECT_NE(runLines[1].find(" completed "), std::string::npos) << runs.out;

    const auto sessions = runAw({"sessions"}, env());
    ASSERT_EQ(sessions.status.code, 0) << sessions.describe();
    EXPECT_NE(sessions.out.find("\naw-list "), std::string::npos) << sessions.out;

    const auto providers = runAw({"providers"}, env());
    ASSERT_EQ(providers.status.code, 0) << providers.describe();
    EXPECT_NE(providers.out.find("\nclaude-code "), std::string::npos) << providers.out;
    EXPECT_NE(providers.out.find(" healthy "), std::string::npos) << providers.out;

    const auto json = runAw({"runs", "--session", "aw-list", "--json"}, env());
    const Json listed = Json::parse(json.out, nullptr, false);
    ASSERT_TRUE(listed.is_object()) << json.out;
    ASSERT_EQ(listed["runs"].size(), 1u) << json.out;
    EXPECT_EQ(listed["runs"][0].value("run_id", ""), runId);
}

TEST_F(AwCli, WatchShowsAnEndedRunFromItsStartAndItsOutcome) {
    const auto failed =
        runAw({"send", "aw-watch", "--provider", "claude-code", "FAIL400 again"}, env());
    ASSERT_EQ(failed.status.code, 1) << failed.describe();
    const auto watched = runAw({"watch", runIdIn(failed.out)}, env());
    EXPECT_EQ(watched.status.code, 1) << watched.describe();
    EXPECT_EQ(watched.out, failed.out) << "the same events, shown the same way";
}

TEST_F(AwCli, BadUrlAndBadTokensAreClearErrors) {
    const auto unreachable = runAw({"runs", "--url", "http://127.0.0.1:1"}, {});
    EXPECT_EQ(unreachable.status.code, 5) << unreachable.describe();
    EXPECT_NE(unreachable.err.find("cannot reach agent-host at http://127.0.0.1:1"),
              std::string::npos)
        << unreachable.err;

    const auto notHttp = runAw({"runs", "--url", "https://127.0.0.1:1"}, {});
    EXPECT_EQ(notHttp.status.code, 2) << notHttp.describe();

    const auto wrongToken = runAw({"runs", "--url", url(), "--token", "not-the-token"}, {});
    EXPECT_EQ(wrongToken.status.code, 4) << wrongToken.describe();
    EXPECT_NE(wrongToken.err.find("aw: 401 unauthorized: "), std::string::npos) << wrongToken.err;
    EXPECT_NE(wrongToken.err.find("hint: "), std::string::npos) << wrongToken.err;

    // A client token is not an admin token: the providers are the operators'.
    const auto clientOnly = runAw({"providers", "--url", url(), "--token", kClientToken}, {});
    EXPECT_EQ(clientOnly.status.code, 4) << clientOnly.describe();
    EXPECT_NE(clientOnly.err.find("aw: 403 forbidden: "), std::string::npos) << clientOnly.err;

    // Flags win over the environment.
    auto wrongEnv = env();
    wrongEnv["AW_TOKEN"] = "stale";
    const auto flagWins = runAw({"runs", "--token", kClientToken}, wrongEnv);
    EXPECT_EQ(flagWins.status.code, 0) << flagWins.describe();

    const auto usage = runAw({"send", "aw-usage", "no provider"}, env());
    EXPECT_EQ(usage.status.code, 2) << usage.describe();
    EXPECT_NE(usage.err.find("aw send needs --provider"), std::string::npos) << usage.err;

    const auto unknownProvider = runAw({"send", "aw-usage", "--provider", "nope", "hi"}, env());
    EXPECT_EQ(unknownProvider.status.code, 4) << unknownProvider.describe();
    EXPECT_NE(unknownProvider.err.find("404 unknown_provider"), std::string::npos)
        << unknownProvider.err;
}

// The listing routes aw uses (docs/api.md): newest first, filtered, and strict about their query.
TEST_F(AwCli, ListingRoutesAnswerNewestFirstAndRefuseBadQueries) {
    const std::string first = host().sendMessage("aw-routes", "claude-code", "hello one");
    host().waitRunFinished(first, 90s);
    const std::string second = host().sendMessage("aw-routes", "claude-code", "hello two");
    host().waitRunFinished(second, 90s);

    const auto listed = host().get("/v1/runs?session_id=aw-routes");
    ASSERT_EQ(listed.status, 200) << listed.body;
    const Json runs = listed.json()["runs"];
    ASSERT_EQ(runs.size(), 2u) << listed.body;
    EXPECT_EQ(runs[0].value("run_id", ""), second);
    EXPECT_EQ(runs[1].value("run_id", ""), first);
    EXPECT_EQ(runs[0].value("session_id", ""), "aw-routes");

    const auto one = host().get("/v1/runs?limit=1");
    ASSERT_EQ(one.status, 200) << one.body;
    EXPECT_EQ(one.json()["runs"].size(), 1u) << one.body;

    const auto sessions = host().get("/v1/sessions?limit=1000");
    ASSERT_EQ(sessions.status, 200) << sessions.body;
    bool found = false;
    const Json listedSessions = sessions.json()["sessions"];
    for (const auto& session : listedSessions) {
        found = found || session.value("session_id", "") == "aw-routes";
    }
    EXPECT_TRUE(found) << sessions.body;

    EXPECT_EQ(host().get("/v1/runs?limit=0").status, 400);
    EXPECT_EQ(host().get("/v1/runs?limit=abc").status, 400);
    EXPECT_EQ(host().get("/v1/sessions?limit=1001").status, 400);
    EXPECT_EQ(host().get("/v1/runs?session_id=..%2F..%2Fx%20y").status, 400);
    EXPECT_EQ(host().get("/v1/runs?session_id=no-such-session").json()["runs"].size(), 0u);
}

}  // namespace
}  // namespace aw::awcli
