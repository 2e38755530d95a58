// agent-host's /ready with `runtime: docker` reports the Docker engine and the worker image:
// with the image removed, or the engine gone from its socket, /ready answers 503 saying why
// (and what to do); once they are back, 200.
#include <gtest/gtest.h>

#include "runtime/docker_engine.h"
#include "runtime/docker_worker_runtime.h"
#include "support/agent_host_harness.h"
#include "support/docker_daemon.h"
#include "support/temp_dir.h"

namespace aw::test {
namespace {

namespace fs = std::filesystem;

//! The engine's socket moved aside (the engine is gone for whoever looks there) until the
//! object goes, even when the test fails on the way: the other tests share the engine.
class SocketAway {
public:
    explicit SocketAway(std::string socket) : socket_(std::move(socket)) {
        fs::rename(socket_, socket_ + ".away");
    }
    ~SocketAway() { back(); }
    void back() {
        std::error_code ignored;
        if (fs::exists(socket_ + ".away")) fs::rename(socket_ + ".away", socket_, ignored);
    }

private:
    std::string socket_;
};

TEST(DockerReady, SaysWhenTheImageIsRemovedOrTheEngineIsGoneAndRecovers) {
    const std::string socket = DockerDaemonEnvironment::daemon().socketPath();
    // An image of this test's own: removing it leaves the other tests theirs.
    const std::string image = "aw-test/ready:1";
    importTestWorkerImage(socket, image);
    TempDir root("awdr");
    fs::create_directories(root / "plugins");
    HostSpec spec{root / "data", root / "plugins", "", quickHostEnv()};
    spec.env["AW_RUNTIME"] = "docker";
    spec.env["AW_DOCKER_SOCKET"] = socket;
    spec.env["AW_DOCKER_IMAGE"] = image;
    spec.env["AW_HOST_ID"] = "docker-ready";
    AgentHost host(spec);

    const auto ready = host.get("/ready");
    ASSERT_EQ(ready.status, 200) << ready.body;
    const Json docker = ready.json()["checks"]["docker"];
    EXPECT_EQ(docker.value("ok", false), true) << ready.body;
    EXPECT_EQ(docker.value("image", ""), image) << ready.body;
    EXPECT_EQ(docker.value("socket", ""), socket) << ready.body;

    DockerEngine(socket).removeImage(image);
    const auto noImage = host.get("/ready");
    EXPECT_EQ(noImage.status, 503) << noImage.body;
    const Json missing = noImage.json();
    EXPECT_EQ(missing["checks"]["docker"].value("ok", true), false) << noImage.body;
    EXPECT_NE(missing["checks"]["docker"].value("reason", "").find("has no image " + image),
              std::string::npos)
        << noImage.body;
    EXPECT_EQ(missing["error"].value("code", ""), "runtime_unavailable") << noImage.body;
    EXPECT_NE(missing["error"].value("hint", "").find("make worker-image"), std::string::npos)
        << noImage.body;

    importTestWorkerImage(socket, image);
    EXPECT_EQ(host.get("/ready").status, 200) << "the image is back";

    {
        SocketAway away(socket);
        const auto gone = host.get("/ready");
        EXPECT_EQ(gone.status, 503) << gone.body;
        const Json body = gone.json();
        EXPECT_EQ(body["checks"]["docker"].value("ok", true), false) << gone.body;
        EXPECT_NE(body["error"].value("message", "").find(socket), std::string::npos) << gone.body;
    }
    const auto back = host.get("/ready");
    EXPECT_EQ(back.status, 200) << back.body;
}

}  // namespace
}  // namespace aw::test
