// agent-host with `runtime: docker` against the tests' dockerd and its test image (a fake
// Claude Code that prints a recorded turn): the host's settings, and no container of its left
// behind after a test.
#pragma once

#include <gtest/gtest.h>

#include "runtime/docker_engine.h"
#include "runtime/docker_worker_runtime.h"
#include "support/agent_host_harness.h"
#include "support/docker_daemon.h"
#include "support/plugins.h"
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

    TempDir root_{"awde"};
};

}  // namespace aw::test
