// Replicas of agent-host on one PostgreSQL: whichever replica drives a run, the SSE streams
// of every replica receive each of its events once and in order, and end with the run; and
// behind a load balancer (nginx, round robin), the executor's callbacks reach every replica,
// each stores what it gets, and the driving one is told through PostgreSQL. The streams'
// keep-alive pass is off, so events reach the replica that does not drive the run only
// through PostgreSQL's notices (LISTEN/NOTIFY). The real Claude Code CLI against the
// scripted model server.
#include <gtest/gtest.h>

#include <map>
#include <sstream>

#include "runs/claude_run_fixture.h"
#include "support/nginx_proxy.h"
#include "support/raw_connection.h"
#include "support/run_events.h"

namespace aw::runs {
namespace {

using namespace std::chrono_literals;
using test::RawConnection;

const char* kToolsPrompt = "TOOLS_AND_TODOS: create hello.txt and notes.txt, track the work";

TEST(Replicas, EveryReplicasStreamsGetEachEventOfARunOnceInOrder) {
    if (const auto missing = live::missingCli(Cli::ClaudeCode); !missing.empty())
        GTEST_SKIP() << missing;
    HarnessOptions options;
    options.db = test::Db::Postgres;
    options.dbUrl = test::databaseUrlFor(test::Db::Postgres, "replicas");
    options.hostEnv = {{"AW_SSE_KEEPALIVE_MS", "3600000"}};
    RunHarness a(options);
    RunHarness b(options);

    const std::string rid = a.startRun("chat-replicas", kToolsPrompt, {{"approval_mode", "ask"}});
    ASSERT_FALSE(rid.empty());
    // The run waits for a human: both replicas' streams open before the rest of it happens.
    const Json waiting = b.waitForStatus(rid, "waiting_human");
    ASSERT_EQ(waiting.value("status", ""), "waiting_human") << a.describe(rid);
    std::vector<RawConnection> streams;
    for (auto* replica : {&a, &b}) {
        streams.emplace_back(replica->port());
        ASSERT_TRUE(streams.back().send(
            "GET /v1/runs/" + rid +
            "/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n"));
        ASSERT_TRUE(streams.back().readUntil("retry: 1000", 30s));
    }

    // Every request is allowed, through the two replicas in turn: the one that does not
    // drive the run leaves the reply for the one that does, and answers once it is taken.
    int replies = 0;
    for (int round = 0; round < 10; ++round) {
        const Json run = a.waitForRun(rid, [](const Json& r) {
            return r.value("status", "") == "waiting_human" ||
                   test::isTerminalStatus(r.value("status", ""));
        });
        if (run.value("status", "") != "waiting_human") break;
        for (const auto& pending : run.value("pending_human_requests", Json::array())) {
            const Json reply = {{"request_id", pending.value("request_id", "")},
                                {"decision", "allow"}};
            RunHarness& through = replies++ % 2 == 0 ? a : b;
            const auto answered = through.humanReply(rid, reply);
            ASSERT_EQ(answered.status, 200) << answered.body;
            EXPECT_EQ(answered.json().value("decision", ""), "allow") << answered.body;
        }
        a.waitForRun(rid, [&](const Json& r) {
            return r.value("status", "") != "waiting_human" ||
                   r.value("pending_human_requests", Json::array()) !=
                       run.value("pending_human_requests", Json::array());
        });
    }
    const Json done = b.waitForEnd(rid);
    ASSERT_EQ(done.value("status", ""), "completed") << a.describe(rid);
    EXPECT_GE(replies, 2) << "both replicas took a reply";

    std::vector<std::int64_t> expected;
    for (const auto& event : a.events(rid)) expected.push_back(event.value("seq", std::int64_t{0}));
    ASSERT_GT(expected.size(), static_cast<std::size_t>(waiting.value("last_seq", 0)))
        << "the run had no events after the streams opened";
    for (std::size_t i = 0; i < streams.size(); ++i) {
        const auto answer = streams[i].readResponse(60s);
        ASSERT_TRUE(answer.has_value()) << "replica "
                                        << "ab"[i] << ": the stream did not end with the run";
        EXPECT_EQ(test::sseEventIds(answer->body), expected) << "replica "
                                                    << "ab"[i];
    }
}

//! The run's event types in seq order, but its workspace syncs (their number follows the
//! clock: at most one a second) and text deltas (how text is cut follows the CLI's reads).
std::vector<std::string> typesOf(const std::vector<Json>& events) {
    std::vector<std::string> types;
    for (const auto& event : events) {
        const std::string type = event.value("type", "");
        if (type.rfind("workspace.sync", 0) != 0 && type != "message.delta") types.push_back(type);
    }
    return types;
}

TEST(Replicas, CallbacksThroughALoadBalancerReachEveryReplicaAndTheRunComesOutWhole) {
    if (const auto missing = live::missingCli(Cli::ClaudeCode); !missing.empty())
        GTEST_SKIP() << missing;
    ASSERT_FALSE(test::nginxBinary().empty())
        << "install Debian's nginx (scripts/install-deps.sh test)";
    // The balancer's port first: the replicas hand it to their executors (public_url).
    const unsigned short balancerPort = test::freeLoopbackPort();
    HarnessOptions options;
    options.db = test::Db::Postgres;
    options.dbUrl = test::databaseUrlFor(test::Db::Postgres, "replicas_balanced");
    options.hostEnv = {{"AW_SSE_KEEPALIVE_MS", "3600000"},
                       {"AW_PUBLIC_URL", "http://127.0.0.1:" + std::to_string(balancerPort)}};
    RunHarness a(options);
    RunHarness b(options);
    RunHarness c(options);
    test::NginxProxy balancer({a.port(), b.port(), c.port()}, balancerPort);

    // Posted to A, followed on B from the start.
    const std::string rid = a.startRun("chat-balanced", kToolsPrompt);
    ASSERT_FALSE(rid.empty());
    RawConnection stream(b.port());
    ASSERT_TRUE(
        stream.send("GET /v1/runs/" + rid +
                    "/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n"));
    const Json done = c.waitForEnd(rid);
    ASSERT_EQ(done.value("status", ""), "completed") << a.describe(rid) << balancer.errorLog();

    // Every replica received callbacks of the run's executor.
    std::map<std::string, int> callbacksByReplica;
    std::istringstream lines(balancer.upstreamLog());
    for (std::string uri, upstream; lines >> uri >> upstream;) {
        if (uri == "/v1/callbacks/executor") ++callbacksByReplica[upstream];
    }
    for (const auto* replica : {&a, &b, &c}) {
        const std::string address = "127.0.0.1:" + std::to_string(replica->port());
        EXPECT_GE(callbacksByReplica[address], 1)
            << address << " got no callback; the balancer's log:\n"
            << balancer.upstreamLog();
    }

    // B's stream, the JSON replay of each replica, and a run nobody balanced agree.
    const auto replay = a.events(rid);
    std::vector<std::int64_t> seqs;
    for (const auto& event : replay) seqs.push_back(event.value("seq", std::int64_t{0}));
    const auto answer = stream.readResponse(60s);
    ASSERT_TRUE(answer.has_value()) << "B's stream did not end with the run";
    EXPECT_EQ(test::sseEventIds(answer->body), seqs);
    EXPECT_EQ(b.events(rid), replay);
    EXPECT_EQ(c.events(rid), replay);

    HarnessOptions alone;
    alone.db = test::Db::Postgres;
    RunHarness single(alone);
    const std::string undisturbed = single.startRun("chat-alone", kToolsPrompt);
    ASSERT_EQ(single.waitForEnd(undisturbed).value("status", ""), "completed")
        << single.describe(undisturbed);
    EXPECT_EQ(typesOf(replay), typesOf(single.events(undisturbed)));
}

}  // namespace
}  // namespace aw::runs
