// The swarm worker runtime against a real single-node swarm and s3rver: create, start, stop
// and remove map to the worker's service and its replicas; the task carries the isolation
// and resource settings; the executor answers where it said it listens; and the bootstrap
// exchange refuses a token used once, a wrong one and one revoked by a stop. Two runtimes
// sharing only the database and the cluster secret (replicas on two machines) drive one
// worker alike; one with another secret is refused.
#include <gtest/gtest.h>

#include <memory>
#include <thread>

#include "agent_worker/core/random_id.h"
#include "api/routes.h"
#include "db/database.h"
#include "db/migrator.h"
#include "db/soci_executor_directory.h"
#include "http/http_server.h"
#include "http/listening_socket.h"
#include "runtime/docker_services.h"
#include "runtime/docker_worker_runtime.h"
#include "runtime/swarm_worker_runtime.h"
#include "support/s3_server.h"
#include "support/temp_dir.h"
#include "swarm/swarm_environment.h"

namespace aw::test {
namespace {

using namespace std::chrono_literals;
using Json = nlohmann::json;

constexpr const char* kBucket = "swarm-runtime";

//! Stands in for agent-host: serves the bootstrap exchange for the runtime under test.
class BootstrapHost {
public:
    BootstrapHost() : listening_(listenTcp("127.0.0.1", 0)), port_(boundPort(listening_)) {}
    ~BootstrapHost() {
        if (server_) server_->stop();
    }
    std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
    void serve(SwarmWorkerRuntime& runtime) {
        addExecutorBootstrapRoutes(router_,
                                   [&runtime](const std::string& token,
                                              const std::string& address) -> std::optional<Json> {
                                       const auto grant = runtime.redeemBootstrap(token, address);
                                       if (!grant) return std::nullopt;
                                       return grant->toJson();
                                   });
        server_ = std::make_unique<HttpServer>(router_, listening_, HttpServerOptions{});
        server_->start();
    }

private:
    int listening_;
    unsigned short port_;
    Router router_{TokenAuth({"client-token"}, {}), 1 << 20};
    std::unique_ptr<HttpServer> server_;
};

class SwarmRuntime : public ::testing::Test {
protected:
    void SetUp() override {
        try {
            s3_ = std::make_unique<S3Server>();
        } catch (const std::exception& e) {
            FAIL() << "cannot start the S3 test server: " << e.what();
        }
        s3_->createBucket(kBucket);
        applyMigrations(database_, std::filesystem::path(AW_SOURCE_DIR) / "sql");
        runtime_ = std::make_unique<SwarmWorkerRuntime>(options());
        host_.serve(*runtime_);
        worker_.sessionId = "chat-" + newToken().substr(0, 6);
        worker_.tenantId = "acme";
        worker_.workspaceS3Prefix =
            std::string("s3://") + kBucket + "/sessions/acme/" + worker_.sessionId + "/";
    }
    void TearDown() override {
        if (!runtime_) return;
        DockerEngine engine(SwarmEnvironment::socket());
        DockerServices services(engine);
        for (const auto& service : services.listServices({{std::string(kLabelHost), hostId_}}))
            services.removeService(service.id);
    }

    //! What every runtime of this test's cluster is made with.
    SwarmRuntimeOptions options() {
        return swarmOptions(hostId_, directory_, s3_->settings(kBucket), host_.url());
    }

    ServiceStatus service() {
        DockerEngine engine(SwarmEnvironment::socket());
        const auto status = DockerServices(engine).inspectService(runtime_->serviceName(worker_));
        if (!status) throw std::runtime_error("no service " + runtime_->serviceName(worker_));
        return *status;
    }
    //! The bootstrap token in the service's spec (empty when there is none).
    std::string bootstrapTokenInSpec() {
        const Json spec = service().spec;
        for (const auto& entry : spec["TaskTemplate"]["ContainerSpec"]["Env"]) {
            const std::string text = entry.get<std::string>();
            if (text.rfind("AW_BOOTSTRAP_TOKEN=", 0) == 0) return text.substr(19);
        }
        return {};
    }

    const std::string hostId_ = "swarm-" + newToken().substr(0, 6);
    TempDir root_{"awsw"};
    Database database_{parseDatabaseUrl("sqlite://" + (root_.path() / "aw.db").string()), 2,
                       std::chrono::seconds(10)};
    SociExecutorDirectory directory_{database_};
    std::unique_ptr<S3Server> s3_;
    BootstrapHost host_;
    std::unique_ptr<SwarmWorkerRuntime> runtime_;
    SessionWorker worker_;
};

TEST_F(SwarmRuntime, CreateStartStopRemoveMapToTheServiceAndItsReplicas) {
    EXPECT_EQ(runtime_->inspect(worker_), SandboxState::Missing);

    runtime_->create(worker_);
    EXPECT_EQ(service().replicas, 0);
    EXPECT_EQ(runtime_->inspect(worker_), SandboxState::Stopped);

    runtime_->start(worker_);
    EXPECT_EQ(service().replicas, 1);
    EXPECT_EQ(runtime_->inspect(worker_), SandboxState::Running);
    // The executor answers where it said, on loopback TCP, with the worker's token only.
    const auto endpoint = runtime_->endpoint(worker_);
    ASSERT_EQ(endpoint.url.rfind("http://127.0.0.1:", 0), 0u) << endpoint.url;
    HttpExecutorClientOptions once;
    once.retry.maxAttempts = 1;
    const TraceContext trace{newTraceId(), worker_.sessionId, runtime_->executorId(worker_), ""};
    EXPECT_EQ(HttpExecutorClient(endpoint, once).health(trace).value("executor_id", ""),
              runtime_->executorId(worker_));
    EXPECT_THROW(HttpExecutorClient({endpoint.url, "not-the-token"}, once).health(trace),
                 std::exception);

    runtime_->stop(worker_);
    EXPECT_EQ(service().replicas, 0);
    EXPECT_EQ(runtime_->inspect(worker_), SandboxState::Stopped);
    EXPECT_EQ(bootstrapTokenInSpec(), "") << "a stopped service keeps no bootstrap token";
    EXPECT_FALSE(runtime_->executorRunning(worker_));

    runtime_->start(worker_);  // again: a new task, a new token
    EXPECT_EQ(runtime_->inspect(worker_), SandboxState::Running);

    runtime_->remove(worker_);
    EXPECT_EQ(runtime_->inspect(worker_), SandboxState::Missing);
    DockerEngine engine(SwarmEnvironment::socket());
    EXPECT_FALSE(DockerServices(engine).inspectService(runtime_->serviceName(worker_)));
}

TEST_F(SwarmRuntime, TheTaskIsHardenedAndPlacedFromConfiguration) {
    runtime_->create(worker_);
    runtime_->start(worker_);
    const Json spec = service().spec;
    const Json& task = spec["TaskTemplate"];
    const Json& container = task["ContainerSpec"];
    EXPECT_EQ(spec["Labels"][std::string(kLabelSession)], worker_.sessionId);
    EXPECT_EQ(spec["Labels"][std::string(kLabelHost)], hostId_);
    EXPECT_EQ(container["User"], "10001:10001");
    EXPECT_EQ(container["ReadOnly"], true);
    EXPECT_EQ(container["Init"], true);
    EXPECT_EQ(container["CapabilityDrop"], Json::array({"ALL"})) << container.dump();
    for (const auto& mount : container["Mounts"])
        EXPECT_NE(mount["Type"], "bind") << "a task must not depend on its node's files";
    EXPECT_EQ(task["Resources"]["Limits"]["MemoryBytes"], 256LL * 1024 * 1024);
    EXPECT_EQ(task["Resources"]["Limits"]["Pids"], 512);
    EXPECT_EQ(task["Resources"]["Reservations"]["MemoryBytes"], 16LL * 1024 * 1024);
    EXPECT_EQ(task["Placement"]["Constraints"], Json::array({"node.role==manager"}));
    EXPECT_EQ(task["RestartPolicy"]["Condition"], "none");
    // No secret of the worker is in the spec: only the bootstrap token, used up already.
    const std::string text = spec.dump();
    EXPECT_EQ(text.find(runtime_->endpoint(worker_).token), std::string::npos);
    EXPECT_EQ(text.find(S3Server::kSecretKey), std::string::npos);

    // Inside: the user, no capabilities, a root that refuses writes, the volumes writable.
    DockerEngine engine(SwarmEnvironment::socket());
    std::string containerId;
    for (const auto& each : DockerServices(engine).serviceTasks(runtime_->serviceName(worker_)))
        if (each.state == "running") containerId = each.containerId;
    ASSERT_FALSE(containerId.empty());
    const auto status = engine.exec(containerId, {"/bin/cat", "/proc/self/status"});
    EXPECT_NE(status.out.find("Uid:\t10001"), std::string::npos) << status.out;
    EXPECT_NE(status.out.find("CapEff:\t0000000000000000"), std::string::npos) << status.out;
    EXPECT_NE(engine.exec(containerId, {"/bin/sh", "-c", "echo x > /etc/x"}).exitCode, 0);
    EXPECT_EQ(engine.exec(containerId, {"/bin/sh", "-c", "echo x > /workspace/x"}).exitCode, 0);
    EXPECT_EQ(engine.exec(containerId, {"/bin/sh", "-c", "echo x > /home/agent/x"}).exitCode, 0);
}

TEST_F(SwarmRuntime, ABootstrapTokenServesOneExecutorOnce) {
    runtime_->create(worker_);
    runtime_->start(worker_);
    const std::string used = bootstrapTokenInSpec();
    ASSERT_FALSE(used.empty());

    // What an agent could read in its task's environment opens nothing any more.
    EXPECT_FALSE(runtime_->redeemBootstrap(used, "127.0.0.1:1"));
    EXPECT_FALSE(runtime_->redeemBootstrap("wrong-" + used, "127.0.0.1:1"));
    EXPECT_FALSE(runtime_->redeemBootstrap("", "127.0.0.1:1"));
    // The executor's address was not replaced by the attempts.
    EXPECT_NE(runtime_->endpoint(worker_).url, "http://127.0.0.1:1");

    // A token issued for a start that a stop cut short is revoked with it.
    runtime_->stop(worker_);
    EXPECT_FALSE(runtime_->redeemBootstrap(used, "127.0.0.1:1"));
}

//! Sets the availability of the swarm's only node (active, drain).
void setNodeAvailability(DockerEngine& engine, const std::string& availability) {
    const auto info = Json::parse(engine.call("GET", "/info").body);
    const std::string nodeId = info["Swarm"]["NodeID"];
    const auto node = Json::parse(engine.call("GET", "/nodes/" + nodeId).body);
    Json spec = node["Spec"];
    spec["Availability"] = availability;
    const auto answer = engine.call("POST",
                                    "/nodes/" + nodeId + "/update?version=" +
                                        std::to_string(node["Version"]["Index"].get<long>()),
                                    spec.dump());
    ASSERT_EQ(answer.status, 200) << answer.body;
}

TEST_F(SwarmRuntime, AWorkerWhoseNodeLeavesIsSeenStoppedAndStartsAgain) {
    runtime_->create(worker_);
    runtime_->start(worker_);
    ASSERT_EQ(runtime_->inspect(worker_), SandboxState::Running);

    // The node is drained (as before maintenance, or when it leaves): the swarm takes its
    // tasks down, and with no restart policy it does not place them elsewhere.
    DockerEngine engine(SwarmEnvironment::socket());
    setNodeAvailability(engine, "drain");
    const auto deadline = std::chrono::steady_clock::now() + 30s;
    while (runtime_->inspect(worker_) == SandboxState::Running &&
           std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(100ms);
    const auto drained = runtime_->inspect(worker_);
    setNodeAvailability(engine, "active");
    EXPECT_EQ(drained, SandboxState::Stopped);
    EXPECT_FALSE(runtime_->executorRunning(worker_));

    // A node is back: the next start places a new task there.
    runtime_->start(worker_);
    EXPECT_EQ(runtime_->inspect(worker_), SandboxState::Running);
}


TEST_F(SwarmRuntime, TwoRuntimesSharingOnlyTheDatabaseAndSecretDriveOneWorker) {
    // Another replica on another machine: its own directory object and connections, no file
    // of the first's.
    Database otherDatabase(parseDatabaseUrl("sqlite://" + (root_.path() / "aw.db").string()), 1,
                           10s);
    SociExecutorDirectory otherDirectory(otherDatabase);
    auto options = this->options();
    options.directory = &otherDirectory;
    SwarmWorkerRuntime other(options);

    runtime_->create(worker_);
    runtime_->start(worker_);
    const auto mine = runtime_->endpoint(worker_);
    const auto theirs = other.endpoint(worker_);
    EXPECT_EQ(theirs.url, mine.url);
    EXPECT_EQ(theirs.token, mine.token);
    EXPECT_EQ(other.inspect(worker_), SandboxState::Running);
    HttpExecutorClientOptions once;
    once.retry.maxAttempts = 1;
    const TraceContext trace{newTraceId(), worker_.sessionId, other.executorId(worker_), ""};
    EXPECT_EQ(HttpExecutorClient(theirs, once).health(trace).value("executor_id", ""),
              other.executorId(worker_));

    // The other stops and starts it: the first reaches the new task's executor.
    other.stop(worker_);
    EXPECT_EQ(runtime_->endpoint(worker_).url, "http://127.0.0.1:0") << "a stopped worker's address";
    other.start(worker_);
    EXPECT_EQ(HttpExecutorClient(runtime_->endpoint(worker_), once)
                  .health(trace)
                  .value("executor_id", ""),
              runtime_->executorId(worker_));

    // Removed by the other: its tokens open nothing on either.
    other.remove(worker_);
    EXPECT_EQ(runtime_->inspect(worker_), SandboxState::Missing);
    EXPECT_EQ(runtime_->endpoint(worker_).token, "");
}

TEST_F(SwarmRuntime, ARuntimeWithAnotherClusterSecretIsRefused) {
    auto options = this->options();
    options.clusterSecret = std::string(kTestClusterSecret) + "-but-another";
    try {
        SwarmWorkerRuntime stranger(options);
        FAIL() << "a runtime with another secret was made";
    } catch (const ProblemError& e) {
        EXPECT_EQ(e.problem().code, "config_invalid");
        EXPECT_NE(e.problem().message.find("cluster_secret"), std::string::npos)
            << e.problem().message;
        EXPECT_NE(e.problem().hint.find("AW_CLUSTER_SECRET"), std::string::npos);
    }
    options.clusterSecret.clear();
    EXPECT_THROW(SwarmWorkerRuntime{options}, ProblemError);
}

}  // namespace
}  // namespace aw::test
