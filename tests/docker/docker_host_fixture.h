// agent-host with `runtime: docker` against the tests' dockerd and its test image (a fake
// Claude Code that prints a recorded turn): the host's settings, and no container of its left
// behind after a test.
#pragma once

#include <gtest/gtest.h>

#include <fstream>
#include <string>
#include <vector>

#include "runtime/docker_engine.h"
#include "runtime/docker_worker_runtime.h"
#include "support/agent_host_harness.h"
#include "support/docker_daemon.h"
#include "support/plugins.h"
#include "support/run_events.h"
#include "support/temp_dir.h"

namespace aw::test {

class DockerHostTest : public ::testing::Test {
protected:
    //! The name the hosts' containers carry (`agent-worker.host`).
    static constexpr const char* kOwner = "docker-e2e";

    void SetUp() override {
        std::filesystem::create_directories(root_ / "plugins");
        dropPlugin(shippedPlugin("claude-code"), root_ / "plugins", "claude-code.so");
    }
    void TearDown() override {
        DockerEngine engine(DockerDaemonEnvironment::daemon().socketPath());
        for (const auto& container : engine.listContainers({{std::string(kLabelHost), kOwner}})) {
            engine.removeContainer(container.id);
        }
    }
    HostSpec spec() const {
        HostSpec spec{root_ / "data", root_ / "plugins", "", quickHostEnv()};
        spec.env["AW_RUNTIME"] = "docker";
        spec.env["AW_DOCKER_SOCKET"] = DockerDaemonEnvironment::daemon().socketPath();
        spec.env["AW_DOCKER_IMAGE"] = DockerDaemonEnvironment::image().name;
        spec.env["AW_DOCKER_MEMORY_BYTES"] = std::to_string(256 * 1024 * 1024);
        spec.env["AW_HOST_ID"] = kOwner;
        spec.env["AW_PROVIDERS"] =
            nlohmann::json{{"claude-code", {{"binary", "/usr/local/bin/claude"}}}}.dump();
        return spec;
    }

    //! A session's third run, held by the fake CLI after its first three lines (their events
    //! stored); the session's second, undisturbed run is what it must come out as (a
    //! session's first run reports the session's cost as its own).
    struct HeldRun {
        std::string undisturbed;
        std::string runId;
        std::string container;     //!< the session's container's id
        std::vector<Json> before;  //!< the held run's events so far
    };
    static void holdARun(AgentHost& host, const std::string& sessionId, HeldRun& held) {
        using namespace std::chrono_literals;
        for (const char* prompt : {"one", "two"}) {
            held.undisturbed = host.sendMessage(sessionId, "claude-code", prompt);
            ASSERT_EQ(host.waitRunFinished(held.undisturbed, 60s).value("status", ""), "completed")
                << host.describeRun(held.undisturbed);
        }
        DockerEngine engine(DockerDaemonEnvironment::daemon().socketPath());
        held.container = engine.inspectContainer(std::string("aw-") + kOwner + "-" + sessionId)->id;
        std::ofstream(host.workspace(sessionId) / "hold-output").flush();
        held.runId = host.sendMessage(sessionId, "claude-code", "three");
        ASSERT_TRUE(eventually(
            [&] { return countType(host.events(held.runId), "message.stop") >= 1; }, 60s))
            << host.describeRun(held.runId);
        held.before = host.events(held.runId);
    }

    TempDir root_{"awde"};
};

}  // namespace aw::test
