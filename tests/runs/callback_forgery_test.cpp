// Executor credentials are bound to their worker: with session A's callback token (read from
// A's worker, as a malicious agent in A could), nothing reaches session B's run; A's own run
// refuses records that do not fit it (zero, negative, mistyped or far-ahead seq, a second
// exit) with 400 and keeps its events; a removed worker's token is refused; two different
// exits posted at once store one and refuse the other (CallbackRace, SQLite and PostgreSQL).
// agent-host runs as a child process with a fake `claude` that prints nothing and waits, so
// the only output the runs get is what the test posts.
#include <gtest/gtest.h>

#include <atomic>
#include <fstream>
#include <thread>
#include <utility>
#include <vector>

#include "support/agent_host_harness.h"
#include "support/fake_cli.h"
#include "support/plugins.h"
#include "support/temp_dir.h"

namespace aw::test {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

class CallbackForgery : public ::testing::Test {
protected:
    void SetUp() override {
        for (const auto& dir : {data(), plugins(), bin(), releases()}) fs::create_directories(dir);
        dropPlugin(shippedPlugin("claude-code"), plugins(), "claude-code.so");
        // Waits (at most 90 s) until releases/<session> exists, then exits 0 having printed
        // nothing.
        writeScript(bin() / "silent-claude",
                    "session=$(basename \"$(dirname \"$PWD\")\")\n"
                    "i=0\n"
                    "while [ ! -e " +
                        shellQuote(releases().string()) +
                        "/$session ] && [ $i -lt 900 ]; do "
                        "sleep 0.1; i=$((i+1)); done\n"
                        "exit 0\n");
    }

    fs::path data() const { return root_ / "data"; }
    fs::path plugins() const { return root_ / "plugins"; }
    fs::path bin() const { return root_ / "bin"; }
    fs::path releases() const { return root_ / "release"; }

    HostSpec spec() const {
        HostSpec spec{data(), plugins(), "", quickHostEnv()};
        spec.env["AW_PROVIDERS"] =
            Json{{"claude-code", {{"binary", (bin() / "silent-claude").string()}}}}.dump();
        spec.env["AW_RUNTIME_LOCAL_READ_ONLY_PATHS"] =
            releases().string();  // shown to the fake CLI
        spec.env["AW_LIFECYCLE_IDLE_TIMEOUT_S"] = "0";
        spec.env["AW_LIFECYCLE_REMOVE_AFTER_S"] = "0";
        return spec;
    }

    void release(const std::string& sid) { std::ofstream(releases() / sid) << "go\n"; }

    //! The worker's own callback token, as its executor got it (an agent that could read it
    //! out of its executor is assumed here).
    std::string callbackTokenOf(const AgentHost& host, const std::string& sid) const {
        std::ifstream in(host.dataDir() / "workers-private" / sid / "callback-token");
        std::string token;
        std::getline(in, token);
        return token;
    }

    static HttpResult post(const AgentHost& host, const std::string& token,
                           const std::string& executorSession, const std::string& runId,
                           const Json& records) {
        return host.post("/v1/callbacks/executor",
                         {{"executor_id", "local-" + executorSession},
                          {"session_id", executorSession},
                          {"run_id", runId},
                          {"events", records}},
                         {{"Authorization", "Bearer " + token}});
    }

    static Json line(const std::string& runId, const Json& seq, const std::string& text) {
        return Json::array(
            {{{"run_id", runId}, {"stream", "stdout"}, {"seq", seq}, {"line", text}}});
    }

    static Json exitRecord(const std::string& runId, const Json& seq, int stdoutLines) {
        return Json::array({{{"run_id", runId},
                             {"stream", "exit"},
                             {"seq", seq},
                             {"exit_code", 0},
                             {"signal", nullptr},
                             {"stdout_lines", stdoutLines},
                             {"stderr_lines", 0}}});
    }

    //! The run's events after a moment for anything delivered to be translated.
    static std::vector<Json> settledEvents(const AgentHost& host, const std::string& runId) {
        std::this_thread::sleep_for(300ms);
        return host.events(runId);
    }

    TempDir root_{"aw-forgery"};
};

TEST_F(CallbackForgery, AnotherSessionsTokenCannotTouchARunAndBadRecordsAreRefusedWhole) {
    AgentHost host(spec());
    host.waitProviderHealthy("claude-code");
    const auto runA = host.sendMessage("forge-a", "claude-code", "hello");
    const auto runB = host.sendMessage("forge-b", "claude-code", "hello");
    host.waitRunStatus(runA, {"running"}, 60s);
    host.waitRunStatus(runB, {"running"}, 60s);
    const std::string tokenA = callbackTokenOf(host, "forge-a");
    const std::string tokenB = callbackTokenOf(host, "forge-b");
    ASSERT_FALSE(tokenA.empty());
    ASSERT_NE(tokenA, tokenB) << "workers share a callback token";
    const std::string realLine = fixtureLines("claude-todowrite.jsonl").at(0);

    // ---- session A's token against session B's run: 403, B unchanged --------------------
    const auto eventsB = host.events(runB);
    for (const auto& claimed : {std::string("forge-a"), std::string("forge-b")}) {
        const auto answer = post(host, tokenA, claimed, runB, line(runB, 1, realLine));
        EXPECT_EQ(answer.status, 403) << "claiming " << claimed << ": " << answer.body;
        EXPECT_EQ(answer.json()["error"].value("code", ""), "forbidden") << answer.body;
        const auto exitAnswer = post(host, tokenA, claimed, runB, exitRecord(runB, 1, 0));
        EXPECT_EQ(exitAnswer.status, 403) << "claiming " << claimed << ": " << exitAnswer.body;
    }
    EXPECT_EQ(settledEvents(host, runB), eventsB) << "a forged callback changed session B's run";
    EXPECT_EQ(host.run(runB).value("status", ""), "running");
    EXPECT_NE(host.log().find("\"worker\":\"local-forge-a\""), std::string::npos)
        << "the refusal is not logged with the worker:\n"
        << host.logTail();

    // ---- A's own run: records that do not fit are 400 invalid_callback, A unchanged ------
    const auto eventsA = host.events(runA);
    const std::vector<std::pair<std::string, Json>> refused{
        {"zero seq", line(runA, 0, realLine)},
        {"negative seq", line(runA, -1, realLine)},
        {"string seq", line(runA, "1", realLine)},
        {"fractional seq", line(runA, 1.5, realLine)},
        {"seq far ahead", line(runA, 100001, realLine)},
        {"huge seq", line(runA, Json(18446744073709551615ull), realLine)},
        {"line of the wrong type",
         Json::array({{{"run_id", runA}, {"stream", "stdout"}, {"seq", 1}, {"line", 7}}})},
        {"second exit (seq 2)", exitRecord(runA, 2, 0)},
        {"exit counting lines far ahead", exitRecord(runA, 1, 100001)},
        {"a good line then a bad one",
         Json::array({line(runA, 1, realLine)[0], line(runA, 0, realLine)[0]})},
    };
    for (const auto& [what, records] : refused) {
        const auto answer = post(host, tokenA, "forge-a", runA, records);
        EXPECT_EQ(answer.status, 400) << what << ": " << answer.body;
        EXPECT_EQ(answer.json()["error"].value("code", ""), "invalid_callback")
            << what << ": " << answer.body;
    }
    EXPECT_EQ(settledEvents(host, runA), eventsA) << "a refused batch changed the run";

    // The executor's own records go in; a second, different exit is refused; a resent exit
    // is acknowledged as the duplicate it is.
    const auto good = post(host, tokenA, "forge-a", runA, line(runA, 1, realLine));
    ASSERT_EQ(good.status, 200) << good.body;
    EXPECT_EQ(good.json().value("new", -1), 1) << good.body;
    const auto exitA = post(host, tokenA, "forge-a", runA, exitRecord(runA, 1, 1));
    ASSERT_EQ(exitA.status, 200) << exitA.body;
    const Json finishedA = host.waitRunFinished(runA, 60s);
    const auto eventsAfterExit = host.events(runA);
    const auto secondExit = post(host, tokenA, "forge-a", runA, exitRecord(runA, 1, 0));
    EXPECT_EQ(secondExit.status, 400) << secondExit.body;
    EXPECT_EQ(secondExit.json()["error"].value("code", ""), "invalid_callback") << secondExit.body;
    const auto resent = post(host, tokenA, "forge-a", runA, exitRecord(runA, 1, 1));
    EXPECT_EQ(resent.status, 200) << resent.body;
    EXPECT_EQ(resent.json().value("new", -1), 0) << resent.body;
    EXPECT_EQ(settledEvents(host, runA), eventsAfterExit);
    EXPECT_EQ(host.run(runA).value("status", ""), finishedA.value("status", ""));

    // ---- a removed worker's token is refused -------------------------------------------
    release("forge-a");
    release("forge-b");
    host.waitRunFinished(runB, 60s);
    const auto stopped = host.post("/v1/maintenance/idle-stop");
    ASSERT_EQ(stopped.status, 200) << stopped.body;
    const auto removed = host.post("/v1/maintenance/remove-stopped");
    ASSERT_EQ(removed.status, 200) << removed.body;
    ASSERT_EQ(host.session("forge-a").value("status", ""), "removed")
        << removed.body << host.logTail();
    const auto afterRemoval = post(host, tokenA, "forge-a", runA, exitRecord(runA, 1, 1));
    EXPECT_EQ(afterRemoval.status, 401) << afterRemoval.body;
}

// Two batches of one run racing, each with a different exit (a forged exit against the real
// one, or two executors of one worker): the check and the insert are one transaction, so
// exactly one is stored and the other is refused on what the first stored, never a 500 and
// never a silent 200 for an exit that was dropped.
class CallbackRace : public CallbackForgery, public ::testing::WithParamInterface<Db> {};

TEST_P(CallbackRace, TwoDifferentExitsAtOnceStoreOneAndRefuseTheOther) {
    constexpr int kSessions = 6;
    HostSpec hostSpec = spec();
    hostSpec.db = databaseUrlFor(GetParam(), "race");
    hostSpec.env["AW_DISPATCHER_CONCURRENCY"] = std::to_string(kSessions);  // all running at once
    AgentHost host(hostSpec);
    host.waitProviderHealthy("claude-code");
    std::vector<std::pair<std::string, std::string>> runs;  // session, run
    for (int i = 0; i < kSessions; ++i) {
        const std::string sid = "race-" + std::to_string(i);
        runs.emplace_back(sid, host.sendMessage(sid, "claude-code", "hello"));
    }
    for (const auto& [sid, runId] : runs) host.waitRunStatus(runId, {"running"}, 90s);

    for (const auto& [sid, runId] : runs) {
        const auto exitWith = [&](int code) {
            Json records = exitRecord(runId, 1, 0);
            records[0]["exit_code"] = code;
            return records;
        };
        std::atomic<int> ready{0};
        HttpResult answers[2];
        const auto race = [&](int code) {
            const Json records = exitWith(code);
            ++ready;
            while (ready.load() < 2) std::this_thread::yield();  // both post together
            answers[code] = host.callback(sid, runId, records);
        };
        std::thread zero(race, 0), one(race, 1);
        zero.join();
        one.join();
        for (const auto& answer : answers) {
            EXPECT_TRUE(answer.status == 200 || answer.status == 400)
                << runId << ": " << answer.status << " " << answer.body << host.logTail();
        }
        ASSERT_NE(answers[0].status, answers[1].status)
            << runId << ": both " << answers[0].status << ": " << answers[0].body << " / "
            << answers[1].body;
        const int winner = answers[0].status == 200 ? 0 : 1;
        EXPECT_EQ(answers[winner].json().value("new", -1), 1) << answers[winner].body;
        EXPECT_EQ(answers[1 - winner].json()["error"].value("code", ""), "invalid_callback")
            << answers[1 - winner].body;
        // What is stored is the winner's exit, once: it is a redelivery, the other is not.
        const auto again = host.callback(sid, runId, exitWith(winner));
        EXPECT_EQ(again.status, 200) << again.body;
        EXPECT_EQ(again.json().value("new", -1), 0) << again.body;
        EXPECT_EQ(host.callback(sid, runId, exitWith(1 - winner)).status, 400);
    }
    for (const auto& [sid, runId] : runs) {
        host.waitRunFinished(runId, 60s);
        release(sid);
    }
}

INSTANTIATE_TEST_SUITE_P(Db, CallbackRace, ::testing::Values(Db::Sqlite, Db::Postgres),
                         [](const ::testing::TestParamInfo<Db>& info) {
                             return std::string(toString(info.param));
                         });

}  // namespace
}  // namespace aw::test
