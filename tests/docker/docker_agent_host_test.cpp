// agent-host with `runtime: docker` against the tests' dockerd: a message runs in the
// session's own container (a fake Claude Code in the test image prints a recorded turn), the
// container carries the host's labels, a host killed in the middle of a run takes it over
// when it is back, as another replica does when the killed one is gone for good, and without
// its image the host refuses to start, naming the command that builds it.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>

#include "runtime/docker_engine.h"
#include "runtime/docker_worker_runtime.h"
#include "support/agent_host_harness.h"
#include "support/docker_daemon.h"
#include "support/nginx_proxy.h"
#include "support/plugins.h"
#include "support/raw_connection.h"
#include "support/run_events.h"
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

//! What the plugin made of the CLI's output: the events but the host's own (run.*,
//! workspace.*), comparable across runs.
Json translatedPart(const std::vector<Json>& events, const std::string& runId) {
    Json kept = Json::array();
    for (const auto& event : comparable(events, runId)) {
        const std::string type = event.value("type", "");
        if (type.rfind("run.", 0) != 0 && type.rfind("workspace.", 0) != 0) kept.push_back(event);
    }
    return kept;
}

TEST_F(DockerAgentHost, AHostKilledMidRunTakesItOverWhenBackAndNothingStartsTwice) {
    auto launch = spec().launch();
    setFlag(launch, "--listen", "127.0.0.1:" + std::to_string(freeLoopbackPort()));
    AgentHost host(launch);
    host.waitProvidersHealthy(1);
    // Two undisturbed runs: the first makes the worker, the second is what the third, taken
    // over, must come out as (a session's first run reports the session's cost as its own).
    std::string undisturbed;
    for (const char* prompt : {"one", "two"}) {
        undisturbed = host.sendMessage("chat-taken", "claude-code", prompt);
        ASSERT_EQ(host.waitRunFinished(undisturbed, 60s).value("status", ""), "completed")
            << host.describeRun(undisturbed);
    }
    DockerEngine engine(DockerDaemonEnvironment::daemon().socketPath());
    const std::string name = "aw-docker-e2e-chat-taken";
    const std::string container = engine.inspectContainer(name)->id;

    // The CLI prints three lines and waits: the host dies after storing their events.
    std::ofstream(host.workspace("chat-taken") / "hold-output").flush();
    const std::string rid = host.sendMessage("chat-taken", "claude-code", "three");
    ASSERT_TRUE(eventually([&] { return countType(host.events(rid), "message.stop") >= 1; }, 60s))
        << host.describeRun(rid);
    const auto before = host.events(rid);
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
    EXPECT_EQ(Json(std::vector<Json>(events.begin(),
                                     events.begin() + static_cast<std::ptrdiff_t>(before.size()))),
              Json(before))
        << "what was stored before the kill changed";
    EXPECT_EQ(translatedPart(events, rid), translatedPart(host.events(undisturbed), undisturbed))
        << describeEvents(events);
    EXPECT_EQ(countType(events, "run.started"), 1) << describeEvents(events);
    // The CLI ran once for this run, in the worker that was there all along.
    EXPECT_EQ(readText(host.workspace("chat-taken") / "run-log.txt"), "run\nrun\nrun\n");
    EXPECT_EQ(engine.inspectContainer(name)->id, container) << "the worker was made again";
}

TEST_F(DockerAgentHost, AReplicaKilledMidRunIsTakenOverByAnotherInTheSameWorker) {
    ASSERT_FALSE(nginxBinary().empty()) << "install Debian's nginx (scripts/install-deps.sh test)";
    // Three replicas on one PostgreSQL, sharing the data dir and the cluster's name (so
    // their workers), behind nginx: the executors' callbacks go there.
    const unsigned short balancerPort = freeLoopbackPort();
    HostSpec shared = spec();
    shared.db = databaseUrlFor(Db::Postgres, "docker_replicas");
    shared.env["AW_CLUSTER_ID"] = "docker-e2e";
    shared.env["AW_PUBLIC_URL"] = "http://127.0.0.1:" + std::to_string(balancerPort);
    shared.env["AW_QUEUE_LEASE_S"] = "5";  // a dead replica's runs are claimable 5 s on
    std::vector<std::unique_ptr<AgentHost>> replicas;
    for (const char* id : {"a", "b", "c"}) {
        HostSpec own = shared;
        own.env["AW_HOST_ID"] = std::string("docker-e2e-") + id;
        replicas.push_back(std::make_unique<AgentHost>(own));
    }
    std::vector<unsigned short> ports;
    for (const auto& replica : replicas) {
        replica->waitProvidersHealthy(1);
        ports.push_back(replica->port());
    }
    NginxProxy balancer(ports, balancerPort);
    AgentHost& front = *replicas[0];
    std::string undisturbed;
    for (const char* prompt : {"one", "two"}) {
        undisturbed = front.sendMessage("chat-replicas", "claude-code", prompt);
        ASSERT_EQ(front.waitRunFinished(undisturbed, 60s).value("status", ""), "completed")
            << front.describeRun(undisturbed);
    }
    DockerEngine engine(DockerDaemonEnvironment::daemon().socketPath());
    const std::string name = "aw-docker-e2e-chat-replicas";
    const std::string container = engine.inspectContainer(name)->id;

    std::ofstream(front.workspace("chat-replicas") / "hold-output").flush();
    const std::string rid = front.sendMessage("chat-replicas", "claude-code", "three");
    ASSERT_TRUE(eventually([&] { return countType(front.events(rid), "message.stop") >= 1; }, 60s))
        << front.describeRun(rid);
    const auto before = front.events(rid);
    const auto drives = [&rid](const AgentHost& replica) {
        const std::string log = replica.logTail(1000000);
        for (auto at = log.find("\"run claimed\""); at != std::string::npos;
             at = log.find("\"run claimed\"", at + 1)) {
            const auto lineEnd = log.find('\n', at);
            const auto lineStart = log.rfind('\n', at);
            if (log.substr(lineStart + 1, lineEnd - lineStart).find(rid) != std::string::npos)
                return true;
        }
        return false;
    };
    const auto driver =
        std::find_if(replicas.begin(), replicas.end(), [&](const auto& r) { return drives(*r); });
    ASSERT_NE(driver, replicas.end()) << "no replica logged claiming " << rid;
    std::vector<AgentHost*> survivors;
    for (auto& replica : replicas) {
        if (replica.get() != driver->get()) survivors.push_back(replica.get());
    }
    // A stream on a surviving replica follows the run from its start.
    RawConnection stream(survivors[0]->port());
    ASSERT_TRUE(
        stream.send("GET /v1/runs/" + rid +
                    "/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n"));
    (*driver)->killHard();
    ASSERT_TRUE(engine.inspectContainer(name)->running) << "the worker stopped with its replica";

    const auto takenOver = [&] {
        for (const auto* survivor : survivors) {
            if (survivor->logTail(1000000).find("taking a run over") != std::string::npos)
                return true;
        }
        return false;
    };
    ASSERT_TRUE(eventually(takenOver, 30s)) << survivors[0]->logTail() << survivors[1]->logTail();
    std::ofstream(front.workspace("chat-replicas") / "release").flush();
    const Json run = survivors[1]->waitRunFinished(rid, 60s);
    ASSERT_EQ(run.value("status", ""), "completed") << survivors[1]->describeRun(rid);

    const auto events = survivors[1]->events(rid);
    EXPECT_EQ(denseAndUnique(events), "") << describeEvents(events);
    EXPECT_EQ(Json(std::vector<Json>(events.begin(),
                                     events.begin() + static_cast<std::ptrdiff_t>(before.size()))),
              Json(before));
    EXPECT_EQ(translatedPart(events, rid),
              translatedPart(survivors[1]->events(undisturbed), undisturbed))
        << describeEvents(events);
    EXPECT_EQ(countType(events, "run.started"), 1) << describeEvents(events);
    EXPECT_EQ(readText(front.workspace("chat-replicas") / "run-log.txt"), "run\nrun\nrun\n");
    EXPECT_EQ(engine.inspectContainer(name)->id, container) << "the worker was made again";
    std::vector<std::int64_t> seqs;
    for (const auto& event : events) seqs.push_back(event.value("seq", std::int64_t{0}));
    const auto answer = stream.readResponse(60s);
    ASSERT_TRUE(answer.has_value()) << "the surviving replica's stream did not end with the run";
    EXPECT_EQ(sseEventIds(answer->body), seqs);
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
