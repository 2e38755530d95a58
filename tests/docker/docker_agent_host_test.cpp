// agent-host with `runtime: docker` against the tests' dockerd: a message runs in the
// session's own container (a fake Claude Code in the test image prints a recorded turn), the
// container carries the host's labels, a host killed in the middle of a run takes it over
// when it is back, and without its image the host refuses to start, naming the command that
// builds it.
#include <gtest/gtest.h>

#include <fstream>

#include "docker/docker_host_fixture.h"
#include "support/nginx_proxy.h"
#include "support/run_events.h"

namespace aw::test {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

using DockerAgentHost = DockerHostTest;

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

TEST_F(DockerAgentHost, AContainerRemovedBehindTheHostsBackIsMadeAgainAndRestored) {
    AgentHost host(spec());
    host.waitProvidersHealthy(1);
    const std::string first = host.sendMessage("chat-gone", "claude-code", "one");
    ASSERT_EQ(host.waitRunFinished(first, 60s).value("status", ""), "completed")
        << host.describeRun(first);
    ASSERT_EQ(readText(host.workspace("chat-gone") / "run-log.txt"), "run\n");
    ASSERT_EQ(host.session("chat-gone")["last_sync_status"], "succeeded");

    // The machine loses the container and the worker's files; storage still has them.
    DockerEngine engine(DockerDaemonEnvironment::daemon().socketPath());
    const std::string name = "aw-docker-e2e-chat-gone";
    const std::string before = engine.inspectContainer(name)->id;
    engine.removeContainer(name);
    fs::remove_all(host.workerDir("chat-gone"));

    const std::string second = host.sendMessage("chat-gone", "claude-code", "two");
    ASSERT_EQ(host.waitRunFinished(second, 60s).value("status", ""), "completed")
        << host.describeRun(second);
    const auto after = engine.inspectContainer(name);
    ASSERT_TRUE(after.has_value()) << "no container was made again";
    EXPECT_NE(after->id, before);
    EXPECT_EQ(readText(host.workspace("chat-gone") / "run-log.txt"), "run\nrun\n")
        << "the workspace was not restored from storage before the second run";
}

TEST_F(DockerAgentHost, ARestartedHostCarriesOnWithTheContainerItLeftRunning) {
    auto launch = spec().launch();
    setFlag(launch, "--listen", "127.0.0.1:" + std::to_string(freeLoopbackPort()));
    AgentHost host(launch);
    host.waitProvidersHealthy(1);
    const std::string first = host.sendMessage("chat-again", "claude-code", "one");
    ASSERT_EQ(host.waitRunFinished(first, 60s).value("status", ""), "completed")
        << host.describeRun(first);
    DockerEngine engine(DockerDaemonEnvironment::daemon().socketPath());
    const std::string name = "aw-docker-e2e-chat-again";
    const std::string before = engine.inspectContainer(name)->id;

    host.restart();  // same port, same host id: the container is the host's still
    host.waitProvidersHealthy(1);
    ASSERT_TRUE(engine.inspectContainer(name)->running) << "the container stopped with the host";
    const std::string second = host.sendMessage("chat-again", "claude-code", "two");
    ASSERT_EQ(host.waitRunFinished(second, 60s).value("status", ""), "completed")
        << host.describeRun(second);
    EXPECT_EQ(engine.inspectContainer(name)->id, before) << "the running container was replaced";
    EXPECT_EQ(readText(host.workspace("chat-again") / "run-log.txt"), "run\nrun\n");
}

TEST_F(DockerAgentHost, AHostKilledMidRunTakesItOverWhenBackAndNothingStartsTwice) {
    auto launch = spec().launch();
    setFlag(launch, "--listen", "127.0.0.1:" + std::to_string(freeLoopbackPort()));
    AgentHost host(launch);
    host.waitProvidersHealthy(1);
    // The CLI prints three lines and waits: the host dies after storing their events.
    HeldRun held;
    ASSERT_NO_FATAL_FAILURE(holdARun(host, "chat-taken", held));
    const std::string& rid = held.runId;
    DockerEngine engine(DockerDaemonEnvironment::daemon().socketPath());
    const std::string name = "aw-docker-e2e-chat-taken";
    host.killHard();
    ASSERT_TRUE(engine.inspectContainer(name)->running) << "the worker stopped with the host";

    host.restart();  // same port (its executor calls back there), host id and data dir
    ASSERT_TRUE(eventually(
        [&] { return host.logTail(200000).find("taking a run over") != std::string::npos; }, 30s))
        << host.logTail();
    std::ofstream(host.workspace("chat-taken") / "release").flush();
    const Json run = host.waitRunFinished(rid, 60s);
    ASSERT_EQ(run.value("status", ""), "completed") << host.describeRun(rid) << host.logTail();

    const auto events = host.events(rid);
    EXPECT_EQ(denseAndUnique(events), "") << describeEvents(events);
    EXPECT_EQ(Json(std::vector<Json>(events.begin(), events.begin() + static_cast<std::ptrdiff_t>(
                                                                          held.before.size()))),
              Json(held.before))
        << "what was stored before the kill changed";
    EXPECT_EQ(comparableTranslation(events, rid),
              comparableTranslation(host.events(held.undisturbed), held.undisturbed))
        << describeEvents(events);
    EXPECT_EQ(countType(events, "run.started"), 1) << describeEvents(events);
    // The CLI ran once for this run, in the worker that was there all along.
    EXPECT_EQ(readText(host.workspace("chat-taken") / "run-log.txt"), "run\nrun\nrun\n");
    EXPECT_EQ(engine.inspectContainer(name)->id, held.container) << "the worker was made again";
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
