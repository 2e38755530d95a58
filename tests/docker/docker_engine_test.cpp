// The Docker Engine API client: the socket it picks, the wire formats it reads (multiplexed
// streams, inspect documents, label filters), and against the tests' real engine the
// idempotent cases the worker runtime relies on and volumes.
#include <gtest/gtest.h>

#include "agent_worker/core/problem.h"
#include "runtime/docker_engine.h"
#include "support/docker_daemon.h"

namespace aw::test {
namespace {

std::string frame(char stream, const std::string& text) {
    std::string header{stream, 0, 0, 0};
    const auto size = static_cast<std::uint32_t>(text.size());
    for (int shift : {24, 16, 8, 0}) header += static_cast<char>((size >> shift) & 0xff);
    return header + text;
}

TEST(DockerSocket, TheSettingWinsThenDockerHostThenTheDefault) {
    EXPECT_EQ(resolveDockerSocket("/run/x.sock", "unix:///other.sock"), "/run/x.sock");
    EXPECT_EQ(resolveDockerSocket("", "unix:///tmp/d/docker.sock"), "/tmp/d/docker.sock");
    EXPECT_EQ(resolveDockerSocket("", nullptr), "/var/run/docker.sock");
    EXPECT_EQ(resolveDockerSocket("", ""), "/var/run/docker.sock");
}

TEST(DockerSocket, ADockerHostThatIsNotAUnixSocketIsRefusedSayingWhy) {
    try {
        resolveDockerSocket("", "tcp://10.0.0.1:2375");
        FAIL() << "a TCP DOCKER_HOST was accepted";
    } catch (const ProblemError& e) {
        EXPECT_EQ(e.problem().code, "config_invalid");
        EXPECT_NE(e.problem().message.find("tcp://10.0.0.1:2375"), std::string::npos);
        EXPECT_NE(e.problem().hint.find("docker.socket"), std::string::npos);
    }
}

TEST(DockerStreams, FramesAreSplitIntoStdoutAndStderr) {
    const auto result =
        demultiplexDockerStream(frame(1, "out 1\n") + frame(2, "err\n") + frame(1, "out 2\n"));
    EXPECT_EQ(result.out, "out 1\nout 2\n");
    EXPECT_EQ(result.err, "err\n");
    // A frame cut short keeps what arrived; a header cut short is dropped.
    EXPECT_EQ(demultiplexDockerStream(frame(1, "whole\n") + frame(1, "partial").substr(0, 11)).out,
              "whole\npar");
    EXPECT_EQ(demultiplexDockerStream(frame(2, "whole\n") + std::string("\x01\x00", 2)).err,
              "whole\n");
    EXPECT_TRUE(demultiplexDockerStream("").out.empty());
}

TEST(DockerInspect, StateExitCodeNameAndLabelsAreRead) {
    const auto status = parseContainerStatus(nlohmann::json::parse(R"({
        "Id": "abc", "Name": "/aw-h-chat",
        "State": {"Status": "exited", "Running": false, "ExitCode": 137},
        "Config": {"Labels": {"agent-worker.session": "chat", "n": 1}}})"));
    EXPECT_EQ(status.id, "abc");
    EXPECT_EQ(status.name, "aw-h-chat");
    EXPECT_EQ(status.status, "exited");
    EXPECT_FALSE(status.running);
    EXPECT_EQ(status.exitCode, 137);
    EXPECT_EQ(status.labels,
              (std::map<std::string, std::string>{{"agent-worker.session", "chat"}}));
    EXPECT_TRUE(parseContainerStatus(nlohmann::json::parse(R"({"Config": {"Labels": null}})"))
                    .labels.empty());
}

TEST(DockerFilters, EveryLabelIsRequired) {
    EXPECT_EQ(labelFilter({{"a", "1"}, {"b", "x y"}}), R"({"label":["a=1","b=x y"]})");
}

TEST(DockerEngineCalls, TheIdempotentCasesSucceedAndTheOthersSayWhatWasWrong) {
    DockerEngine engine(DockerDaemonEnvironment::daemon().socketPath());
    EXPECT_NO_THROW(engine.ping());
    EXPECT_EQ(engine.version()["ApiVersion"], "1.41");
    EXPECT_FALSE(engine.inspectContainer("aw-no-such-container").has_value());
    EXPECT_NO_THROW(engine.stopContainer("aw-no-such-container", std::chrono::seconds(1)));
    EXPECT_NO_THROW(engine.removeContainer("aw-no-such-container"));
    EXPECT_THROW(engine.startContainer("aw-no-such-container"), ProblemError);
    EXPECT_TRUE(engine.imageExists(DockerDaemonEnvironment::image().name));
    EXPECT_FALSE(engine.imageExists("aw-test/absent:0"));
    try {
        engine.createContainer("aw-imageless", {{"Image", "aw-test/absent:0"}},
                               "run make worker-image");
        FAIL() << "a container of a missing image was made";
    } catch (const ProblemError& e) {
        EXPECT_EQ(e.problem().code, "runtime_unavailable");
        EXPECT_NE(e.problem().message.find("aw-test/absent"), std::string::npos)
            << e.problem().message;
        EXPECT_EQ(e.problem().hint, "run make worker-image");
    }
}

TEST(DockerEngineCalls, VolumesAreMadeLabelledAndRemovedOnce) {
    DockerEngine engine(DockerDaemonEnvironment::daemon().socketPath());
    engine.createVolume("aw-test-volume", {{"agent-worker.session", "chat-v"}});
    EXPECT_TRUE(engine.volumeExists("aw-test-volume"));
    const auto inspected = engine.call("GET", "/volumes/aw-test-volume");
    EXPECT_EQ(nlohmann::json::parse(inspected.body)["Labels"]["agent-worker.session"], "chat-v");
    engine.removeVolume("aw-test-volume");
    engine.removeVolume("aw-test-volume");  // idempotent
    EXPECT_FALSE(engine.volumeExists("aw-test-volume"));
}

}  // namespace
}  // namespace aw::test

int main(int argc, char** argv) {
    ::testing::InitGoogleTest(&argc, argv);
    // One engine for every test of the binary: dockerd takes seconds to start.
    ::testing::AddGlobalTestEnvironment(new aw::test::DockerDaemonEnvironment);
    return RUN_ALL_TESTS();
}
