#include "swarm/swarm_environment.h"

#include <Poco/Net/ServerSocket.h>

#include <filesystem>

#include "runtime/docker_services.h"
#include "support/docker_daemon.h"

namespace aw::test {
namespace {

//! The bridge a swarm's engine makes on the machine for its overlay networks.
const std::filesystem::path kGatewayBridge = "/sys/class/net/docker_gwbridge";

unsigned short freeLoopbackPort() {
    Poco::Net::ServerSocket socket(Poco::Net::SocketAddress("127.0.0.1", 0));
    return socket.address().port();
}

}  // namespace

std::string SwarmEnvironment::failure_;
bool SwarmEnvironment::initialised_ = false;
bool SwarmEnvironment::madeGatewayBridge_ = false;

void SwarmEnvironment::SetUp() {
    try {
        DockerEngine engine(DockerDaemonEnvironment::daemon().socketPath());
        // A port of its own: the machine's swarm (or another test's) may have 2377.
        const std::string address = "127.0.0.1:" + std::to_string(freeLoopbackPort());
        madeGatewayBridge_ = !std::filesystem::exists(kGatewayBridge);
        DockerServices(engine).initSwarm(address, address);
        initialised_ = true;
    } catch (const std::exception& e) {
        failure_ = std::string("cannot make a swarm: ") + e.what();
    }
}

void SwarmEnvironment::TearDown() {
    if (!initialised_) return;
    try {
        DockerEngine engine(DockerDaemonEnvironment::daemon().socketPath());
        DockerServices(engine).leaveSwarm(true);
        // Leaving keeps the engine's gateway bridge, which would outlive the engine on the
        // machine: removed through the engine when this swarm made it.
        if (madeGatewayBridge_) engine.call("DELETE", "/networks/docker_gwbridge");
    } catch (const std::exception& e) {
        ADD_FAILURE() << "cannot leave the swarm: " << e.what();
    }
}

std::string SwarmEnvironment::socket() {
    const std::string socket = DockerDaemonEnvironment::daemon().socketPath();
    if (!failure_.empty()) throw std::runtime_error(failure_);
    return socket;
}

std::string SwarmEnvironment::image() {
    socket();
    return DockerDaemonEnvironment::image().name;
}

SwarmRuntimeOptions swarmOptions(const std::string& hostId, ExecutorDirectory& directory,
                                 const S3Settings& store, const std::string& hostUrl) {
    SwarmRuntimeOptions options;
    options.socketPath = SwarmEnvironment::socket();
    options.image = SwarmEnvironment::image();
    options.memoryBytes = 256LL * 1024 * 1024;
    options.memoryReservationBytes = 16LL * 1024 * 1024;
    options.cpus = 1;
    options.cpuReservation = 0.01;
    options.constraints = {"node.role==manager"};
    options.stopGrace = std::chrono::milliseconds(2000);
    options.startTimeout = std::chrono::milliseconds(30000);
    options.hostId = hostId;
    options.directory = &directory;
    options.clusterSecret = kTestClusterSecret;
    options.s3 = store;
    options.callbackUrl = hostUrl + "/v1/callbacks/executor";
    options.bootstrapUrl = hostUrl + "/v1/executors/bootstrap";
    return options;
}

}  // namespace aw::test

int main(int argc, char** argv) {
    ::testing::InitGoogleTest(&argc, argv);
    // One engine and one swarm for every test of the binary (set up in this order, torn
    // down in the reverse one).
    ::testing::AddGlobalTestEnvironment(new aw::test::DockerDaemonEnvironment);
    ::testing::AddGlobalTestEnvironment(new aw::test::SwarmEnvironment);
    return RUN_ALL_TESTS();
}
