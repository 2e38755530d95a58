// agent-host with `runtime: swarm` on the tests' single-node swarm and s3rver: a message runs
// a fake Claude Code in the session's own service, whose workspace lands in the bucket; the
// bootstrap route refuses a used, a wrong and a missing token; a task killed behind the
// host's back makes the worker stopped, the next message bringing it back with its files; of
// three replicas sharing their workers behind nginx (the database, cluster_id and the cluster
// secret; each with a data dir of its own, as on machines of their own), the one driving a
// run is killed mid-output and another takes the run over in the same task; and a replica
// without the cluster's secret refuses to start, saying which setting to give it.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <memory>
#include <thread>
#include <vector>

#include "agent_worker/core/random_id.h"
#include "runtime/docker_services.h"
#include "runtime/docker_worker_runtime.h"
#include "support/agent_host_harness.h"
#include "support/http_client.h"
#include "support/plugins.h"
#include "support/raw_connection.h"
#include "support/replica_cluster.h"
#include "support/run_events.h"
#include "support/s3_server.h"
#include "support/temp_dir.h"
#include "swarm/swarm_environment.h"

namespace aw::test {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

constexpr const char* kBucket = "swarm-e2e";
constexpr const char* kClusterSecret = "swarm-e2e-cluster-secret-0123456789abcdef";

class SwarmAgentHost : public ::testing::Test {
protected:
    void SetUp() override {
        try {
            s3_ = std::make_unique<S3Server>();
        } catch (const std::exception& e) {
            FAIL() << "cannot start the S3 test server: " << e.what();
        }
        s3_->createBucket(kBucket);
        fs::create_directories(root_ / "plugins");
        dropPlugin(shippedPlugin("claude-code"), root_ / "plugins", "claude-code.so");
    }
    void TearDown() override {
        if (!s3_) return;
        DockerEngine engine(SwarmEnvironment::socket());
        DockerServices services(engine);
        for (const auto& service : services.listServices({{std::string(kLabelHost), hostId_}}))
            services.removeService(service.id);
    }
    HostSpec spec() const {
        HostSpec spec{root_ / "data", root_ / "plugins", "", quickHostEnv()};
        spec.env["AW_RUNTIME"] = "swarm";
        spec.env["AW_SWARM_SOCKET"] = SwarmEnvironment::socket();
        spec.env["AW_SWARM_IMAGE"] = SwarmEnvironment::image();
        spec.env["AW_SWARM_MEMORY_BYTES"] = std::to_string(256 * 1024 * 1024);
        spec.env["AW_SWARM_STOP_GRACE_MS"] = "2000";
        spec.env["AW_HOST_ID"] = hostId_;
        spec.env["AW_OBJECT_STORE_KIND"] = "s3";
        spec.env["AW_OBJECT_STORE_ENDPOINT"] = s3_->endpoint();
        spec.env["AW_OBJECT_STORE_BUCKET"] = kBucket;
        spec.env["AW_OBJECT_STORE_PATH_STYLE"] = "true";
        spec.env["AWS_ACCESS_KEY_ID"] = S3Server::kAccessKey;
        spec.env["AWS_SECRET_ACCESS_KEY"] = S3Server::kSecretKey;
        spec.env["AW_PROVIDERS"] =
            nlohmann::json{{"claude-code", {{"binary", "/usr/local/bin/claude"}}}}.dump();
        return spec;
    }
    std::string serviceName(const std::string& sid) const { return "aw-" + hostId_ + "-" + sid; }
    //! The running task of the session's service (empty when none runs).
    std::string runningContainer(const std::string& sid) const {
        DockerEngine engine(SwarmEnvironment::socket());
        for (const auto& task : DockerServices(engine).serviceTasks(serviceName(sid)))
            if (task.state == "running" && task.desiredState == "running") return task.containerId;
        return {};
    }
    std::string runToCompletion(const AgentHost& host, const std::string& sid) const {
        const std::string runId = host.sendMessage(sid, "claude-code", "hello");
        const auto run = host.waitRunFinished(runId, 90s);
        EXPECT_EQ(run.value("status", ""), "completed") << host.describeRun(runId);
        return runId;
    }
    std::string workspaceFile(const std::string& containerId, const std::string& name) const {
        DockerEngine engine(SwarmEnvironment::socket());
        return engine.exec(containerId, {"/bin/cat", "/workspace/" + name}).out;
    }

    const std::string hostId_ = "swe2e-" + newToken().substr(0, 6);
    TempDir root_{"awse"};
    std::unique_ptr<S3Server> s3_;
};

TEST_F(SwarmAgentHost, AMessageRunsInTheSessionsOwnService) {
    AgentHost host(spec());
    host.waitProvidersHealthy(1);
    runToCompletion(host, "chat-swarm");

    DockerEngine engine(SwarmEnvironment::socket());
    const auto services = DockerServices(engine).listServices({{std::string(kLabelHost), hostId_}});
    ASSERT_EQ(services.size(), 1u);
    EXPECT_EQ(services[0].name, serviceName("chat-swarm"));
    EXPECT_EQ(services[0].replicas, 1);
    const std::string container = runningContainer("chat-swarm");
    ASSERT_FALSE(container.empty());
    EXPECT_EQ(workspaceFile(container, "run-log.txt"), "run\n");
    const auto session = host.session("chat-swarm");
    EXPECT_EQ(session["runtime"], "swarm") << session;
    EXPECT_EQ(session["last_sync_status"], "succeeded") << session;
    // The workspace followed the worker into the bucket (listed by rclone, not our code).
    const auto stored = s3_->rcloneList(kBucket, "sessions/default/chat-swarm/workspace/");
    EXPECT_EQ(stored.count("sessions/default/chat-swarm/workspace/run-log.txt"), 1u)
        << "bucket holds " << stored.size() << " objects";
    // /ready checks the swarm: this engine manages one and has the image.
    const auto ready = host.get("/ready");
    EXPECT_EQ(ready.status, 200) << ready.body;
    EXPECT_EQ(ready.json()["checks"]["swarm"].value("ok", false), true) << ready.body;
    EXPECT_EQ(ready.json()["checks"]["swarm"].value("image", ""), SwarmEnvironment::image());
    // No worker directory with files on the host: nothing to bind-mount.
    EXPECT_FALSE(fs::exists(root_ / "data" / "workers" / "chat-swarm" / "workspace"));
}

TEST_F(SwarmAgentHost, TheBootstrapRouteRefusesAUsedAWrongAndAMissingToken) {
    AgentHost host(spec());
    host.waitProvidersHealthy(1);
    runToCompletion(host, "chat-boot");
    DockerEngine engine(SwarmEnvironment::socket());
    const auto service = DockerServices(engine).inspectService(serviceName("chat-boot"));
    ASSERT_TRUE(service);
    std::string used;
    for (const auto& entry : service->spec["TaskTemplate"]["ContainerSpec"]["Env"]) {
        const std::string text = entry.get<std::string>();
        if (text.rfind("AW_BOOTSTRAP_TOKEN=", 0) == 0) used = text.substr(19);
    }
    ASSERT_FALSE(used.empty());

    const nlohmann::json body{{"address", "127.0.0.1:1"}};
    for (const std::string& authorization :
         {"Bearer " + used, "Bearer wrong-" + used, std::string()}) {
        std::map<std::string, std::string> headers;
        if (!authorization.empty()) headers["Authorization"] = authorization;
        const auto answer = httpRequest(
            host.port(), HttpCall{"POST", "/v1/executors/bootstrap", body.dump(), headers});
        EXPECT_EQ(answer.status, 401) << authorization << ": " << answer.body;
        EXPECT_EQ(answer.body.find("token\":"), std::string::npos) << answer.body;
        EXPECT_EQ(answer.body.find(S3Server::kSecretKey), std::string::npos) << answer.body;
    }
    // The worker still runs, reached where its executor said.
    runToCompletion(host, "chat-boot");
}

TEST_F(SwarmAgentHost, ATaskKilledBehindTheHostsBackIsBroughtBackWithItsFiles) {
    AgentHost host(spec());
    host.waitProvidersHealthy(1);
    runToCompletion(host, "chat-kill");
    ASSERT_EQ(host.session("chat-kill")["last_sync_status"], "succeeded");
    const std::string first = runningContainer("chat-kill");
    ASSERT_FALSE(first.empty());

    // The task's container dies (an OOM kill, a crash of the node's engine, ...).
    DockerEngine engine(SwarmEnvironment::socket());
    ASSERT_EQ(engine.call("POST", "/containers/" + first + "/kill").status, 204);
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    while (!runningContainer("chat-kill").empty() && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(50ms);
    ASSERT_TRUE(runningContainer("chat-kill").empty()) << "the task still runs";

    runToCompletion(host, "chat-kill");
    const std::string second = runningContainer("chat-kill");
    ASSERT_FALSE(second.empty());
    EXPECT_NE(second, first) << "the killed task came back by itself";
    // The new task began with the image's empty workspace: the first run's line came back
    // from the bucket before the second run added its own.
    EXPECT_EQ(workspaceFile(second, "run-log.txt"), "run\nrun\n");
}

TEST_F(SwarmAgentHost, AReplicaKilledMidRunIsTakenOverByAnotherInTheSameTask) {
    // Each replica has a data dir of its own, as on a machine of its own: they share the
    // database, the cluster secret and the swarm, nothing else.
    HostSpec shared = spec();
    shared.db = databaseUrlFor(Db::Postgres, "swarm_replicas");
    shared.env["AW_CLUSTER_ID"] = hostId_;  // the services' names and labels
    shared.env["AW_CLUSTER_SECRET"] = kClusterSecret;
    shared.env["AW_QUEUE_LEASE_S"] = "5";
    ReplicaCluster cluster(shared, 3, hostId_, ReplicaCluster::DataDirs::OwnEach);
    AgentHost& front = cluster[0];
    runToCompletion(front, "chat-taken");
    const std::string undisturbed = runToCompletion(front, "chat-taken");
    const std::string task = runningContainer("chat-taken");
    ASSERT_FALSE(task.empty());

    // The fake CLI prints three lines and waits for `release` in its workspace.
    DockerEngine engine(SwarmEnvironment::socket());
    ASSERT_EQ(engine.exec(task, {"/bin/sh", "-c", ": > /workspace/hold-output"}).exitCode, 0);
    const std::string rid = front.sendMessage("chat-taken", "claude-code", "three");
    ASSERT_TRUE(eventually([&] { return countType(front.events(rid), "message.stop") >= 1; }, 60s))
        << front.describeRun(rid);
    const auto before = front.events(rid);
    AgentHost* driver = cluster.driverOf(rid);
    ASSERT_NE(driver, nullptr) << "no replica holds " << rid;
    const auto survivors = cluster.allBut(driver);
    RawConnection stream(survivors[0]->port());
    ASSERT_TRUE(
        stream.send("GET /v1/runs/" + rid +
                    "/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n"));
    driver->killHard();
    ASSERT_TRUE(eventually([&] { return ReplicaCluster::tookOver(survivors); }, 30s));
    ASSERT_EQ(engine.exec(task, {"/bin/sh", "-c", ": > /workspace/release"}).exitCode, 0);
    const Json run = survivors[1]->waitRunFinished(rid, 60s);
    ASSERT_EQ(run.value("status", ""), "completed") << survivors[1]->describeRun(rid);

    const auto events = survivors[1]->events(rid);
    EXPECT_EQ(denseAndUnique(events), "") << describeEvents(events);
    EXPECT_EQ(Json(std::vector<Json>(events.begin(),
                                     events.begin() + static_cast<std::ptrdiff_t>(before.size()))),
              Json(before));
    EXPECT_EQ(comparableTranslation(events, rid),
              comparableTranslation(survivors[1]->events(undisturbed), undisturbed))
        << describeEvents(events);
    EXPECT_EQ(countType(events, "run.started"), 1);
    EXPECT_EQ(runningContainer("chat-taken"), task) << "the worker's task was replaced";
    EXPECT_EQ(workspaceFile(task, "run-log.txt"), "run\nrun\nrun\n");
    std::vector<std::int64_t> seqs;
    for (const auto& event : events) seqs.push_back(event.value("seq", std::int64_t{0}));
    const auto answer = stream.readResponse(60s);
    ASSERT_TRUE(answer.has_value()) << "the surviving replica's stream did not end with the run";
    EXPECT_EQ(sseEventIds(answer->body), seqs);
}

TEST_F(SwarmAgentHost, AReplicaWithoutTheClustersSecretRefusesToStartAndSaysWhy) {
    HostSpec first = spec();
    first.db = databaseUrlFor(Db::Postgres, "swarm_secret");
    first.dataDir = root_ / "first";
    first.env["AW_CLUSTER_ID"] = hostId_;
    AgentHost running(first);  // no secret configured: it made one in its data dir

    // Another machine: its own data dir, no secret configured, so another secret.
    HostSpec second = first;
    second.dataDir = root_ / "second";
    second.env["AW_HOST_ID"] = hostId_ + "-second";
    const auto refused = runHostExpectingExit(second.launch());
    EXPECT_EQ(refused.status.code, 78) << refused.status.describe();  // EX_CONFIG
    EXPECT_NE(refused.stderrText.find("cluster_secret"), std::string::npos) << refused.stderrText;
    EXPECT_NE(refused.stderrText.find("AW_CLUSTER_SECRET"), std::string::npos)
        << refused.stderrText;

    // Given the first one's secret, it starts and serves the first one's worker.
    std::ifstream file(first.dataDir / "cluster-secret");
    std::string secret;
    std::getline(file, secret);
    ASSERT_GE(secret.size(), 32u);
    second.env["AW_CLUSTER_SECRET"] = secret;
    runToCompletion(running, "chat-secret");
    AgentHost joined(second);
    runToCompletion(joined, "chat-secret");
}

}  // namespace
}  // namespace aw::test
