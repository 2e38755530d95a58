// agent-host with `runtime: docker` against the tests' dockerd: a message runs in the
// session's own container (a fake Claude Code in the test image prints a recorded turn), the
// container carries the host's labels, and without its image the host refuses to start,
// naming the command that builds it.
#include <gtest/gtest.h>

#include "runtime/docker_engine.h"
#include "runtime/docker_worker_runtime.h"
#include "support/agent_host_harness.h"
#include "support/docker_daemon.h"
#include "support/plugins.h"
#include "support/temp_dir.h"

namespace aw::test {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

class DockerAgentHost : public ::testing::Test {
protected:
    void SetUp() override {
        fs::create_directories(root_ / "plugins");
        dropPlugin(shippedPlugin("claude-code"), root_ / "plugins", "claude-code.so");
    }
    void TearDown() override {
        DockerEngine engine(DockerDaemonEnvironment::daemon().socketPath());
        for (const auto& container :
             engine.listContainers({{std::string(kLabelHost), "docker-e2e"}})) {
            engine.removeContainer(container.id);
        }
    }
    HostSpec spec() const {
        HostSpec spec{root_ / "data", root_ / "plugins", "", quickHostEnv()};
        spec.env["AW_RUNTIME"] = "docker";
        spec.env["AW_DOCKER_SOCKET"] = DockerDaemonEnvironment::daemon().socketPath();
        spec.env["AW_DOCKER_IMAGE"] = DockerDaemonEnvironment::image().name;
        spec.env["AW_DOCKER_MEMORY_BYTES"] = std::to_string(256 * 1024 * 1024);
        spec.env["AW_HOST_ID"] = "docker-e2e";
        spec.env["AW_PROVIDERS"] =
            nlohmann::json{{"claude-code", {{"binary", "/usr/local/bin/claude"}}}}.dump();
        return spec;
    }

    TempDir root_{"awde"};
};

TEST_F(DockerAgentHost, AMessageRunsInTheSessionsOwnContainer) {
    AgentHost host(spec());
    host.waitProvidersHealthy(1);
    const std::string runId = host.sendMessage("chat-e2e", "claude-code", "hello");
    const auto run = host.waitRunFinished(runId, 60s);
    ASSERT_EQ(run.value("status", ""), "completed") << host.describeRun(runId);

    DockerEngine engine(DockerDaemonEnvironment::daemon().socketPath());
    const auto containers = engine.listContainers({{std::string(kLabelHost), "docker-e2e"}});
    ASSERT_EQ(containers.size(), 1u);
    EXPECT_EQ(containers[0].name, "aw-docker-e2e-chat-e2e");
    EXPECT_EQ(containers[0].labels.at(std::string(kLabelSession)), "chat-e2e");
    EXPECT_EQ(containers[0].state, "running");
    const auto session = host.session("chat-e2e");
    EXPECT_EQ(session["runtime"], "docker") << session;
    // The executor in the container synced the workspace after the message.
    EXPECT_EQ(session["last_sync_status"], "succeeded") << session;
}

TEST_F(DockerAgentHost, WithoutItsImageTheHostRefusesToStartNamingTheCommand) {
    auto refused = spec();
    refused.env["AW_DOCKER_IMAGE"] = "aw-test/absent:0";
    const auto ended = runHostExpectingExit(refused.launch());
    EXPECT_NE(ended.status.code, 0);
    EXPECT_NE(ended.stderrText.find("aw-test/absent:0"), std::string::npos) << ended.stderrText;
    EXPECT_NE(ended.stderrText.find("make worker-image"), std::string::npos) << ended.stderrText;
}

}  // namespace
}  // namespace aw::test
