// A thousand chat clients following one run: each SSE subscriber, opened while the run waits
// for a human, receives every event of the run exactly once and in order (the catch-up and
// the live part), and its stream ends with the run. The real Claude Code CLI against the
// scripted model server, on SQLite and PostgreSQL.
#include <gtest/gtest.h>

#include <sys/resource.h>

#include "runs/claude_run_fixture.h"
#include "support/raw_connection.h"
#include "support/run_events.h"

namespace aw::runs {
namespace {

using namespace std::chrono_literals;
using test::RawConnection;

constexpr int kSubscribers = 1000;
const char* kToolsPrompt = "TOOLS_AND_TODOS: create hello.txt and notes.txt, track the work";

std::string paramName(const ::testing::TestParamInfo<test::Db>& info) { return toString(info.param); }

class SseFanout : public ::testing::TestWithParam<test::Db> {
protected:
    void SetUp() override {
        if (const auto missing = live::missingCli(Cli::ClaudeCode); !missing.empty()) GTEST_SKIP() << missing;
        rlimit limit{};  // a thousand client sockets in this process
        ::getrlimit(RLIMIT_NOFILE, &limit);
        limit.rlim_cur = limit.rlim_max;
        ::setrlimit(RLIMIT_NOFILE, &limit);
    }
};

TEST_P(SseFanout, AThousandSubscribersEachGetEveryEventOnceInOrder) {
    HarnessOptions options;
    options.db = GetParam();
    // No keep-alive pass within the test: every event must reach the streams through the
    // wake-up of its own publish, none through the periodic pass that also ends streams.
    options.hostEnv = {{"AW_SSE_KEEPALIVE_MS", "3600000"}};
    RunHarness h(options);
    const std::string rid = h.startRun("chat-fanout", kToolsPrompt, {{"approval_mode", "ask"}});
    ASSERT_FALSE(rid.empty());
    const Json waiting = h.waitForStatus(rid, "waiting_human");
    ASSERT_EQ(waiting.value("status", ""), "waiting_human") << h.describe(rid);

    std::vector<RawConnection> subscribers;
    subscribers.reserve(kSubscribers);
    const std::string request = "GET /v1/runs/" + rid +
                                "/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n";
    for (int i = 0; i < kSubscribers; ++i) {
        subscribers.emplace_back(h.port());
        ASSERT_TRUE(subscribers.back().send(request)) << "subscriber " << i;
    }
    // Each is subscribed once its stream has begun.
    for (int i = 0; i < kSubscribers; ++i) {
        ASSERT_TRUE(subscribers[i].readUntil("retry: 1000", 30s))
            << "subscriber " << i << " got: " << subscribers[i].received().substr(0, 300);
    }

    // The run goes on: every request it makes is allowed until it ends.
    for (int round = 0; round < 10; ++round) {
        const Json run = h.waitForRun(rid, [](const Json& r) {
            return r.value("status", "") == "waiting_human" || test::isTerminalStatus(r.value("status", ""));
        });
        if (run.value("status", "") != "waiting_human") break;
        for (const auto& pending : run.value("pending_human_requests", Json::array())) {
            const std::string requestId = pending.value("request_id", "");
            EXPECT_EQ(h.humanReply(rid, {{"request_id", requestId}, {"decision", "allow"}}).status, 200);
            h.waitForRun(rid, [&](const Json& r) {
                for (const auto& still : r.value("pending_human_requests", Json::array())) {
                    if (still.value("request_id", "") == requestId) return false;
                }
                return true;
            });
        }
    }
    const Json done = h.waitForEnd(rid);
    ASSERT_EQ(done.value("status", ""), "completed") << h.describe(rid);

    const auto events = h.events(rid);
    std::vector<std::int64_t> expected;
    for (const auto& event : events) expected.push_back(event.value("seq", std::int64_t{0}));
    ASSERT_GT(expected.size(), static_cast<std::size_t>(waiting.value("last_seq", 0)))
        << "the run had no events after the subscribers came";
    int whole = 0;
    for (int i = 0; i < kSubscribers; ++i) {
        const auto answer = subscribers[i].readResponse(60s);
        ASSERT_TRUE(answer.has_value()) << "subscriber " << i << ": the stream did not end with the run";
        EXPECT_EQ(answer->status, 200);
        const auto ids = test::sseEventIds(answer->body);
        EXPECT_EQ(ids, expected) << "subscriber " << i;
        whole += ids == expected ? 1 : 0;
    }
    EXPECT_EQ(whole, kSubscribers);
}

INSTANTIATE_TEST_SUITE_P(Db, SseFanout, ::testing::Values(test::Db::Sqlite, test::Db::Postgres), paramName);

}  // namespace
}  // namespace aw::runs
