// Replicas of agent-host on one PostgreSQL with docker workers they share (the same data
// dir and cluster_id), behind nginx, which is where the executors post their callbacks:
//   - the replica driving a run is killed in the middle of its output, and another takes the
//     run over in the same container, long before the run's lease would have run out: every
//     event once and in order, on a stream served by a third replica, and the CLI never
//     started again;
//   - 1,000 queued runs, posted to the replicas in turn, are drained by the three: each run
//     claimed once, every replica claiming some, each session's runs one after the other;
//   - two replicas' idle-stop passes at the same moment stop each worker once, after its sync.
#include <gtest/gtest.h>

#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <thread>
#include <vector>

#include "docker/docker_host_fixture.h"
#include "support/raw_connection.h"
#include "support/replica_cluster.h"
#include "support/run_events.h"

namespace aw::test {
namespace {

using namespace std::chrono_literals;

class DockerReplicas : public DockerHostTest {
protected:
    //! Starts `count` replicas sharing the database, data dir and cluster name.
    void startReplicas(int count, const std::map<std::string, std::string>& extraEnv = {}) {
        HostSpec shared = spec();
        shared.db = databaseUrlFor(Db::Postgres, "docker_replicas");
        shared.env["AW_CLUSTER_ID"] = kOwner;
        for (const auto& [key, value] : extraEnv) shared.env[key] = value;
        cluster_ = std::make_unique<ReplicaCluster>(shared, count, kOwner);
    }

    std::unique_ptr<ReplicaCluster> cluster_;
};

TEST_F(DockerReplicas, AReplicaKilledMidRunIsTakenOverByAnotherInTheSameWorker) {
    // A lease of ten minutes: a takeover within the 30 s below comes from the survivors
    // seeing the dead replica's presence lock freed (ReplicaPresence), not from its lease.
    startReplicas(3, {{"AW_QUEUE_LEASE_S", "600"}});
    AgentHost& front = (*cluster_)[0];
    HeldRun held;
    ASSERT_NO_FATAL_FAILURE(holdARun(front, "chat-replicas", held));
    const std::string& rid = held.runId;
    DockerEngine engine(DockerDaemonEnvironment::daemon().socketPath());
    const std::string name = "aw-docker-e2e-chat-replicas";
    AgentHost* driver = cluster_->driverOf(rid);
    ASSERT_NE(driver, nullptr) << "no replica holds " << rid;
    const auto survivors = cluster_->allBut(driver);
    // A stream on a surviving replica follows the run from its start.
    RawConnection stream(survivors[0]->port());
    ASSERT_TRUE(
        stream.send("GET /v1/runs/" + rid +
                    "/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n"));
    driver->killHard();
    ASSERT_TRUE(engine.inspectContainer(name)->running) << "the worker stopped with its replica";
    ASSERT_TRUE(eventually([&] { return ReplicaCluster::tookOver(survivors); }, 30s))
        << survivors[0]->logTail() << survivors[1]->logTail();
    EXPECT_NE(
        (survivors[0]->log() + survivors[1]->log()).find("a replica is gone; its leases ended"),
        std::string::npos);
    std::ofstream(front.workspace("chat-replicas") / "release").flush();
    const Json run = survivors[1]->waitRunFinished(rid, 60s);
    ASSERT_EQ(run.value("status", ""), "completed") << survivors[1]->describeRun(rid);

    const auto events = survivors[1]->events(rid);
    EXPECT_EQ(denseAndUnique(events), "") << describeEvents(events);
    EXPECT_EQ(Json(std::vector<Json>(events.begin(), events.begin() + static_cast<std::ptrdiff_t>(
                                                                          held.before.size()))),
              Json(held.before));
    EXPECT_EQ(comparableTranslation(events, rid),
              comparableTranslation(survivors[1]->events(held.undisturbed), held.undisturbed))
        << describeEvents(events);
    EXPECT_EQ(countType(events, "run.started"), 1) << describeEvents(events);
    EXPECT_EQ(readText(front.workspace("chat-replicas") / "run-log.txt"), "run\nrun\nrun\n");
    EXPECT_EQ(engine.inspectContainer(name)->id, held.container) << "the worker was made again";
    std::vector<std::int64_t> seqs;
    for (const auto& event : events) seqs.push_back(event.value("seq", std::int64_t{0}));
    const auto answer = stream.readResponse(60s);
    ASSERT_TRUE(answer.has_value()) << "the surviving replica's stream did not end with the run";
    EXPECT_EQ(sseEventIds(answer->body), seqs);
}

TEST_F(DockerReplicas, AThousandQueuedRunsAreDrainedByThreeReplicasEachClaimedOnce) {
    startReplicas(3);
    constexpr int kRuns = 1000;
    constexpr int kSessions = 20;
    // Posted to the replicas in turn: each session's runs reach all of them.
    std::vector<std::string> runIds;
    const auto posted = std::chrono::steady_clock::now();
    for (int i = 0; i < kRuns; ++i) {
        auto& replica =
            *cluster_->replicas()[static_cast<std::size_t>(i) % cluster_->replicas().size()];
        runIds.push_back(replica.sendMessage("drain-" + std::to_string(i % kSessions),
                                             "claude-code", "run " + std::to_string(i)));
        ASSERT_FALSE(runIds.back().empty());
    }
    std::map<std::string, std::vector<Json>> bySession;  // in the order they were posted
    for (const auto& rid : runIds) {
        const Json run = cluster_->replicas()[0]->waitRunFinished(rid, 120s);
        ASSERT_EQ(run.value("status", ""), "completed")
            << cluster_->replicas()[0]->describeRun(rid);
        EXPECT_EQ(run.value("attempts", 0), 1) << run.dump();
        bySession[run.value("session_id", "")].push_back(run);
    }
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - posted).count();
    std::cout << kRuns << " runs through 3 replicas in " << seconds << " s: " << kRuns / seconds
              << " runs/s\n";

    // Claimed once each, by one replica or another, and every replica took some: the queue's
    // finished entries say who held them.
    const auto done =
        cluster_->replicas()[2]->get("/v1/run-queue?status=succeeded&limit=1000").json();
    std::map<std::string, int> byHolder;
    for (const auto& entry : done.value("entries", Json::array())) {
        EXPECT_EQ(entry.value("attempts", 0), 1) << entry.dump();
        ++byHolder[entry.value("locked_by", "")];
    }
    int claimed = 0;
    for (const auto& replica : cluster_->replicas()) {
        const int mine = byHolder[replica->launch().env.at("AW_HOST_ID")];
        EXPECT_GT(mine, 0) << "a replica claimed nothing";
        claimed += mine;
    }
    EXPECT_EQ(claimed, kRuns);
    for (const auto& rid : {runIds.front(), runIds[kRuns / 2], runIds.back()}) {
        EXPECT_EQ(countType(cluster_->replicas()[1]->events(rid), "run.started"), 1);
    }
    // A session's runs one at a time, in the order they were posted.
    for (const auto& [session, runs] : bySession) {
        for (std::size_t i = 1; i < runs.size(); ++i) {
            EXPECT_LE(runs[i - 1].value("finished_at", ""), runs[i].value("started_at", ""))
                << session << ": " << runs[i - 1].dump() << " then " << runs[i].dump();
        }
    }
}

TEST_F(DockerReplicas, TwoReplicasMaintenancePassesAtOnceStopEachWorkerOnceAfterItsSync) {
    startReplicas(2, {{"AW_LIFECYCLE_IDLE_TIMEOUT_S", "0"}});  // idle once its run is over
    constexpr int kSessions = 6;
    for (int i = 0; i < kSessions; ++i) {
        auto& replica =
            *cluster_->replicas()[static_cast<std::size_t>(i) % cluster_->replicas().size()];
        const std::string rid =
            replica.sendMessage("idle-" + std::to_string(i), "claude-code", "hello");
        ASSERT_EQ(replica.waitRunFinished(rid, 60s).value("status", ""), "completed")
            << replica.describeRun(rid);
    }

    // Both replicas' idle-stop passes at the same moment: they take turns.
    std::vector<HttpResult> passes(cluster_->replicas().size());
    std::vector<std::thread> threads;
    for (std::size_t i = 0; i < cluster_->replicas().size(); ++i) {
        threads.emplace_back(
            [&, i] { passes[i] = cluster_->replicas()[i]->post("/v1/maintenance/idle-stop"); });
    }
    for (auto& thread : threads) thread.join();
    std::map<std::string, int> stops;
    for (const auto& pass : passes) {
        ASSERT_EQ(pass.status, 200) << pass.body;
        for (const auto& worker : pass.json().value("workers", Json::array())) {
            if (worker.value("outcome", "") == "acted") ++stops[worker.value("session_id", "")];
        }
    }
    DockerEngine engine(DockerDaemonEnvironment::daemon().socketPath());
    for (int i = 0; i < kSessions; ++i) {
        const std::string sid = "idle-" + std::to_string(i);
        EXPECT_EQ(stops[sid], 1) << sid << " " << passes[0].body << " " << passes[1].body;
        const Json session = cluster_->replicas()[0]->session(sid);
        EXPECT_EQ(session.value("status", ""), "stopped") << session;
        // Synced by the pass that stopped it: after the run's end, and successfully.
        EXPECT_EQ(session.value("last_sync_status", ""), "succeeded") << session;
        EXPECT_GE(session.value("last_sync_at", ""), session.value("last_active_at", ""))
            << session;
        EXPECT_FALSE(engine.inspectContainer("aw-docker-e2e-" + sid)->running) << sid;
    }
}

}  // namespace
}  // namespace aw::test
