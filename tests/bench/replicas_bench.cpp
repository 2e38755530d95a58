// Replica figures: agent-host replicas on one PostgreSQL sharing docker workers (the same data
// dir and cluster_id) behind nginx, with the tests' own dockerd, tiny image (its fake Claude
// Code prints a recorded turn of 9 lines) and a throwaway cluster. Prints; asserts nothing.
//  1. Runs per second end to end, 1 replica and 3: N runs over 20 sessions posted to the
//     replicas in turn, from the first POST to the last run's end.
//  2. Event latency across replicas: a run driven by replica B (its CLI holding after three
//     lines), lines posted as callbacks to replica C, the SSE stream read on replica A: from
//     each POST to its line's first event on A's stream, p50 and p99.
//  3. Takeover: the replica driving a run killed with SIGKILL, its CLI then printing the rest:
//     from the kill to the run's next event on a surviving replica's stream. The survivors
//     end the dead replica's leases once its presence lock is found free twice (about two
//     seconds at most, ReplicaPresence), before queue.lease_s (5 s here) would.
//   build/tests/aw_replicas_bench [--runs N] [--lines L]   (as root: it starts a dockerd)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "support/agent_host_harness.h"
#include "support/docker_daemon.h"
#include "support/http_client.h"
#include "support/plugins.h"
#include "support/postgres_cluster.h"
#include "support/raw_connection.h"
#include "support/replica_cluster.h"
#include "support/temp_dir.h"

namespace {

using namespace std::chrono_literals;
using aw::test::AgentHost;
using aw::test::HostSpec;
using aw::test::ReplicaCluster;
using Clock = std::chrono::steady_clock;
using Json = nlohmann::json;

double millisSince(Clock::time_point start) {
    return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

double percentile(std::vector<double> samples, double p) {
    if (samples.empty()) return 0;
    std::sort(samples.begin(), samples.end());
    return samples[static_cast<std::size_t>(p * static_cast<double>(samples.size() - 1))];
}

void runsPerSecond(const HostSpec& base, int replicaCount, int runs, const std::string& tag) {
    ReplicaCluster cluster(base, replicaCount, "bench");
    std::vector<std::string> ids;
    const auto start = Clock::now();
    for (int i = 0; i < runs; ++i) {
        auto& replica = cluster[static_cast<std::size_t>(i) % cluster.replicas().size()];
        ids.push_back(
            replica.sendMessage(tag + "-" + std::to_string(i % 20), "claude-code", "run"));
    }
    int completed = 0;
    for (const auto& id : ids) {
        const Json run = cluster[0].waitRunFinished(id, 300s);
        if (run.value("status", "") == "completed") {
            ++completed;
        } else {  // a figure of runs that did not complete says which and why
            std::printf("run %s ended %s\n", id.c_str(), cluster[0].describeRun(id).c_str());
        }
    }
    const double seconds = millisSince(start) / 1000;
    std::printf("runs end to end   replicas %d  runs %4d  completed %4d  %6.1f s  %6.1f runs/s\n",
                replicaCount, runs, completed, seconds, runs / seconds);
}

std::string heldRun(ReplicaCluster& cluster, const std::string& sessionId) {
    auto& front = cluster[0];
    // A first run makes the worker; the next one's CLI prints three lines and holds.
    front.waitRunFinished(front.sendMessage(sessionId, "claude-code", "warm"), 60s);
    std::ofstream(front.workspace(sessionId) / "hold-output").flush();
    const std::string runId = front.sendMessage(sessionId, "claude-code", "held");
    for (auto deadline = Clock::now() + 60s; Clock::now() < deadline;
         std::this_thread::sleep_for(50ms)) {
        if (cluster.driverOf(runId) && front.run(runId).value("last_seq", 0) >= 6) break;
    }
    return runId;
}

std::string callbackBody(const std::string& sessionId, const std::string& runId, std::int64_t seq) {
    const std::string text = "bench line " + std::to_string(seq);
    const Json line = {{"type", "assistant"},
                       {"message",
                        {{"id", "msg_bench_" + std::to_string(seq)},
                         {"type", "message"},
                         {"role", "assistant"},
                         {"content", Json::array({{{"type", "text"}, {"text", text}}})}}},
                       {"session_id", "bench"}};
    return Json{{"executor_id", "bench"},
                {"session_id", sessionId},
                {"run_id", runId},
                {"events", Json::array({{{"event_id", runId + "/stdout/" + std::to_string(seq)},
                                         {"run_id", runId},
                                         {"stream", "stdout"},
                                         {"seq", seq},
                                         {"line", line.dump()}}})}}
        .dump();
}

aw::test::RawConnection openStream(const AgentHost& replica, const std::string& runId) {
    aw::test::RawConnection stream(replica.port());
    stream.send("GET /v1/runs/" + runId +
                "/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n");
    return stream;
}

void crossReplicaLatency(const HostSpec& base, int lines) {
    ReplicaCluster cluster(base, 3, "bench");
    const std::string runId = heldRun(cluster, "latency");
    const auto* driver = cluster.driverOf(runId);
    if (!driver) {
        std::printf("latency: no replica holds the run\n");
        return;
    }
    const auto others = cluster.allBut(driver);
    auto& reader = *others[0];
    auto& receiver = *others[1];
    auto stream = openStream(reader, runId);
    std::vector<double> latencies;
    for (int i = 0; i < lines; ++i) {
        const std::int64_t seq = 4 + i;  // the CLI printed 1..3
        const auto sent = Clock::now();
        const auto answer = aw::test::httpRequest(
            receiver.port(),
            {"POST",
             "/v1/callbacks/executor",
             callbackBody("latency", runId, seq),
             {{"Authorization", std::string("Bearer ") + aw::test::kExecutorToken}}});
        if (answer.status != 200) {
            std::printf("latency: the callback answered %d: %s\n", answer.status,
                        answer.body.c_str());
            return;
        }
        if (!stream.readUntil("bench line " + std::to_string(seq) + "\"", 10s)) {
            std::printf("latency: line %lld never reached the stream\n",
                        static_cast<long long>(seq));
            return;
        }
        latencies.push_back(millisSince(sent));
    }
    std::printf("callback on C -> driver B -> SSE on A   lines %d  p50 %6.2f ms  p99 %6.2f ms\n",
                lines, percentile(latencies, 0.5), percentile(latencies, 0.99));
    cluster[0].post("/v1/runs/" + runId + "/stop");
}

void takeover(const HostSpec& base) {
    ReplicaCluster cluster(base, 3, "bench");
    const std::string runId = heldRun(cluster, "takeover");
    auto* driver = cluster.driverOf(runId);
    if (!driver) {
        std::printf("takeover: no replica holds the run\n");
        return;
    }
    auto& survivor = *cluster.allBut(driver)[0];
    auto stream = openStream(survivor, runId);
    const std::int64_t seen = survivor.run(runId).value("last_seq", 0);
    if (!stream.readUntil("id: " + std::to_string(seen) + "\n", 10s)) {
        std::printf("takeover: the stream did not catch up\n");
        return;
    }
    const auto killed = Clock::now();
    driver->killHard();
    std::ofstream(survivor.workspace("takeover") / "release").flush();
    if (!stream.readUntil("id: " + std::to_string(seen + 1) + "\n", 60s)) {
        std::printf("takeover: no event after the kill within 60 s\n");
        return;
    }
    std::printf(
        "takeover after kill -9 (queue.lease_s 5): %.0f ms to the next event on the stream\n",
        millisSince(killed));
}

}  // namespace

int main(int argc, char** argv) {
    int runs = 300;
    int lines = 300;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string flag = argv[i];
        if (flag == "--runs") runs = std::atoi(argv[i + 1]);
        if (flag == "--lines") lines = std::atoi(argv[i + 1]);
    }
    if (const auto reason = aw::test::DockerDaemon::unavailableReason(); !reason.empty()) {
        std::printf("skipped: %s\n", reason.c_str());
        return 0;
    }
    aw::test::DockerDaemon daemon;
    const auto image = aw::test::importTestWorkerImage(daemon.socketPath(), "aw-bench/worker:1");
    aw::test::PostgresCluster postgres;
    int databases = 0;
    aw::test::TempDir root("awrb");
    std::filesystem::create_directories(root / "plugins");
    aw::test::dropPlugin(aw::test::shippedPlugin("claude-code"), root / "plugins",
                         "claude-code.so");
    const auto baseSpec = [&] {
        const std::string database = "replicas" + std::to_string(++databases);
        postgres.createDatabase(database);
        HostSpec spec{root / ("data" + std::to_string(databases)), root / "plugins",
                      postgres.url(database), aw::test::quickHostEnv()};
        spec.env["AW_RUNTIME"] = "docker";
        spec.env["AW_DOCKER_SOCKET"] = daemon.socketPath();
        spec.env["AW_DOCKER_IMAGE"] = image.name;
        spec.env["AW_DOCKER_MEMORY_BYTES"] = std::to_string(256 * 1024 * 1024);
        spec.env["AW_CLUSTER_ID"] = "bench" + std::to_string(databases);
        spec.env["AW_QUEUE_LEASE_S"] = "5";
        spec.env["AW_PROVIDERS"] =
            Json{{"claude-code", {{"binary", "/usr/local/bin/claude"}}}}.dump();
        return spec;
    };
    std::printf("agent-host replicas on one PostgreSQL, docker workers shared, nginx in front\n");
    runsPerSecond(baseSpec(), 1, runs, "one");
    runsPerSecond(baseSpec(), 3, runs, "three");
    crossReplicaLatency(baseSpec(), lines);
    takeover(baseSpec());
    return 0;
}
