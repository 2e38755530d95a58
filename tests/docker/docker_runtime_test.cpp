// The docker worker runtime against a real dockerd the binary starts itself (one for all
// tests, DockerDaemonEnvironment) and a tiny image of the project's own agent-executor:
// the lifecycle and its idempotence, a container removed behind the runtime's back, the
// executor's token on its unix socket, callbacks, labels, the effective isolation read back
// through the Engine API and seen from inside, and the errors an operator meets.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <thread>

#include "agent_worker/core/workspace_prefix.h"
#include "runtime/docker_worker_runtime.h"
#include "support/callback_sink.h"
#include "support/docker_daemon.h"
#include "support/temp_dir.h"

namespace aw::test {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

SessionWorker workerOf(const std::string& session) {
    SessionWorker worker;
    worker.sessionId = session;
    worker.tenantId = "tenant-1";
    worker.runtime = "docker";
    worker.workspaceS3Prefix =
        computeWorkspacePrefix("agent-worker", "root", "tenant-1", session).uri();
    return worker;
}

class DockerRuntime : public ::testing::Test {
protected:
    DockerRuntimeOptions options(const std::string& hostId = "host-a") {
        DockerRuntimeOptions options;
        options.socketPath = DockerDaemonEnvironment::daemon().socketPath();
        options.image = DockerDaemonEnvironment::image().name;
        options.user = DockerDaemonEnvironment::image().user;
        options.network = "host";
        options.memoryBytes = 256LL * 1024 * 1024;
        options.cpus = 0.5;
        options.pidsLimit = 64;
        options.stopGrace = 2s;
        options.hostId = hostId;
        options.workersDir = data_ / "workers";
        options.objectsDir = data_ / "objects";
        options.callbackUrl = sink_.url();
        return options;
    }
    HttpExecutorClient client(const ExecutorEndpoint& endpoint) {
        HttpExecutorClientOptions options;
        options.retry.maxAttempts = 1;
        return HttpExecutorClient(endpoint, options);
    }
    ContainerStatus container(const SessionWorker& worker) {
        auto status = runtime().engine().inspectContainer(runtime().containerName(worker));
        if (!status) throw std::runtime_error("no container for " + worker.sessionId);
        return *status;
    }
    DockerWorkerRuntime& runtime() {
        if (!runtime_) runtime_ = std::make_unique<DockerWorkerRuntime>(options());
        return *runtime_;
    }
    //! The HTTP status the executor answers /health with for `token`.
    int healthStatus(const SessionWorker& worker, const std::string& token) {
        try {
            client({runtime().endpoint(worker).url, token}).health(trace(worker));
            return 200;
        } catch (const ExecutorCallError& e) {
            return e.failure().status.value_or(0);
        }
    }
    TraceContext trace(const SessionWorker& worker, const std::string& runId = "") {
        return {"", worker.sessionId, runtime().executorId(worker), runId};
    }
    void TearDown() override {
        // Containers outlive a failed test otherwise; the daemon is shared.
        if (!runtime_) return;
        for (const auto& container : runtime_->list()) {
            runtime_->engine().removeContainer(container.id);
        }
    }

    TempDir data_{"awdr"};
    CallbackSink sink_;
    std::unique_ptr<DockerWorkerRuntime> runtime_;
};

TEST_F(DockerRuntime, AWorkerLivesThroughCreateStartStopStartAgainAndRemove) {
    const auto worker = workerOf("chat-1");
    EXPECT_EQ(runtime().inspect(worker), SandboxState::Missing);
    runtime().create(worker);
    runtime().create(worker);  // idempotent
    EXPECT_EQ(runtime().inspect(worker), SandboxState::Stopped);

    runtime().start(worker);
    runtime().start(worker);  // idempotent
    ASSERT_EQ(runtime().inspect(worker), SandboxState::Running);
    EXPECT_EQ(client(runtime().endpoint(worker)).health(trace(worker))["executor_id"],
              "docker-chat-1");

    runtime().stop(worker);
    runtime().stop(worker);  // idempotent
    EXPECT_EQ(runtime().inspect(worker), SandboxState::Stopped);
    EXPECT_FALSE(container(worker).running);
    EXPECT_EQ(container(worker).exitCode, 0) << "the executor did not stop gracefully on SIGTERM";

    // Started again: the executor gets its tokens again, on a fresh stdin.
    runtime().start(worker);
    ASSERT_EQ(runtime().inspect(worker), SandboxState::Running);
    EXPECT_EQ(healthStatus(worker, runtime().endpoint(worker).token), 200);

    runtime().remove(worker);
    runtime().remove(worker);  // idempotent
    EXPECT_EQ(runtime().inspect(worker), SandboxState::Missing);
    EXPECT_FALSE(fs::exists(runtime().workerDir(worker)));
    EXPECT_FALSE(fs::exists(runtime().privateDir(worker)));
    EXPECT_THROW(runtime().start(worker), ProblemError) << "a removed worker cannot start";
}

TEST_F(DockerRuntime, AContainerRemovedBehindItsBackIsMissingAndIsMadeAgain) {
    const auto worker = workerOf("chat-2");
    runtime().create(worker);
    runtime().start(worker);
    // Someone else (an operator, a cleanup job) removes it through the Engine API.
    DockerEngine(DockerDaemonEnvironment::daemon().socketPath())
        .removeContainer(runtime().containerName(worker));
    EXPECT_EQ(runtime().inspect(worker), SandboxState::Missing);
    runtime().stop(worker);  // stopping what is gone succeeds

    runtime().create(worker);
    runtime().start(worker);
    EXPECT_EQ(runtime().inspect(worker), SandboxState::Running);
    EXPECT_EQ(healthStatus(worker, runtime().endpoint(worker).token), 200);
}

TEST_F(DockerRuntime, TheExecutorAnswersItsOwnWorkersTokenOnly) {
    const auto mine = workerOf("chat-3"), theirs = workerOf("chat-4");
    for (const auto& worker : {mine, theirs}) {
        runtime().create(worker);
        runtime().start(worker);
    }
    EXPECT_EQ(healthStatus(mine, runtime().endpoint(mine).token), 200);
    EXPECT_EQ(healthStatus(mine, ""), 401);
    EXPECT_EQ(healthStatus(mine, runtime().endpoint(theirs).token), 401)
        << "one worker's token opens another worker's executor";
    EXPECT_NE(runtime().endpoint(mine).token, runtime().endpoint(theirs).token);
    EXPECT_EQ(fs::status(runtime().privateDir(mine) / "executor-token").permissions() &
                  (fs::perms::group_all | fs::perms::others_all),
              fs::perms::none);
}

TEST_F(DockerRuntime, ARunInTheContainerCallsTheHostBackWithItsWorkersToken) {
    const auto worker = workerOf("chat-5");
    runtime().create(worker);
    runtime().start(worker);
    client(runtime().endpoint(worker))
        .startRun(trace(worker, "r1"),
                  {{"run_id", "r1"}, {"argv", {"/bin/sh", "-c", "echo hello from the container"}}});
    ASSERT_TRUE(sink_.waitForExit("r1", 20s));
    EXPECT_EQ(sink_.events("r1", "stdout").at(0)["line"], "hello from the container");
    const std::string presented = sink_.lastToken();
    ASSERT_EQ(presented.rfind("Bearer ", 0), 0u) << presented;
    const auto caller = runtime().callbackTokens().identify(presented.substr(7));
    ASSERT_TRUE(caller.has_value()) << "the callback token is not the worker's";
    EXPECT_EQ(caller->sessionId, "chat-5");
    EXPECT_EQ(caller->executorId, "docker-chat-5");

    // A restarted host (a new runtime on the same data dir) knows the worker's tokens.
    DockerWorkerRuntime restarted(options());
    EXPECT_EQ(restarted.callbackTokens().identify(presented.substr(7))->sessionId, "chat-5");
    runtime().remove(worker);
    EXPECT_FALSE(runtime().callbackTokens().identify(presented.substr(7)).has_value())
        << "a removed worker's callback token still works";
}

TEST_F(DockerRuntime, AStoppedContainerOfOldSettingsIsMadeAgainOnStart) {
    const auto worker = workerOf("chat-12");
    runtime().create(worker);
    runtime().start(worker);
    std::ofstream(runtime().workerDir(worker) / "workspace" / "kept.txt") << "kept";
    runtime().stop(worker);
    const std::string before = container(worker).id;
    // The host now listens elsewhere (a new callback URL): a new runtime of the same host.
    CallbackSink moved;
    auto settings = options();
    settings.callbackUrl = moved.url();
    DockerWorkerRuntime restarted(settings);
    restarted.start(worker);
    EXPECT_NE(container(worker).id, before) << "the old container was started again";
    client(restarted.endpoint(worker))
        .startRun(trace(worker, "r2"), {{"run_id", "r2"}, {"argv", {"/bin/cat", "kept.txt"}}});
    ASSERT_TRUE(moved.waitForExit("r2", 20s)) << "the callbacks went to the old URL";
    EXPECT_EQ(moved.events("r2", "stdout").at(0)["line"], "kept") << "the files were lost";
}

TEST_F(DockerRuntime, LabelsNameTheWorkerAndEachHostListsItsOwnContainersOnly) {
    const auto worker = workerOf("chat-6");
    runtime().create(worker);
    DockerWorkerRuntime otherHost(options("host-b"));
    const auto theirs = workerOf("chat-7");
    otherHost.create(theirs);

    const auto labels = container(worker).labels;
    EXPECT_EQ(labels.at(std::string(kLabelSession)), "chat-6");
    EXPECT_EQ(labels.at(std::string(kLabelTenant)), "tenant-1");
    EXPECT_EQ(labels.at(std::string(kLabelHost)), "host-a");
    EXPECT_EQ(labels.at(std::string(kLabelVersion)), projectVersion());

    const auto mine = runtime().list();
    ASSERT_EQ(mine.size(), 1u);
    EXPECT_EQ(mine[0].name, runtime().containerName(worker));
    EXPECT_EQ(mine[0].labels.at(std::string(kLabelSession)), "chat-6");
    const auto others = otherHost.list();
    ASSERT_EQ(others.size(), 1u);
    EXPECT_EQ(others[0].labels.at(std::string(kLabelSession)), "chat-7");
    otherHost.remove(theirs);
}

TEST_F(DockerRuntime, TheContainerRunsWithTheConfiguredIsolation) {
    const auto worker = workerOf("chat-8");
    runtime().create(worker);
    runtime().start(worker);
    const auto raw = container(worker).raw;
    const auto& host = raw["HostConfig"];
    EXPECT_EQ(raw["Config"]["User"], "10001:10001");
    EXPECT_EQ(host["CapDrop"], nlohmann::json::array({"ALL"}));
    EXPECT_TRUE(host["CapAdd"].is_null() || host["CapAdd"].empty()) << host["CapAdd"];
    EXPECT_EQ(host["SecurityOpt"], nlohmann::json::array({"no-new-privileges"}));
    EXPECT_EQ(host["ReadonlyRootfs"], true);
    EXPECT_EQ(host["Privileged"], false);
    EXPECT_TRUE(host["Tmpfs"].contains("/tmp")) << host["Tmpfs"];
    EXPECT_EQ(host["Memory"], 256LL * 1024 * 1024);
    EXPECT_EQ(host["NanoCpus"], 500000000LL);
    EXPECT_EQ(host["PidsLimit"], 64);
    EXPECT_EQ(host["NetworkMode"], "host");
    EXPECT_TRUE(raw["Config"]["Env"].dump().find("AW_") == std::string::npos)
        << "agent-host's settings reached the worker: " << raw["Config"]["Env"];

    // And as the worker's processes see it.
    auto& engine = runtime().engine();
    const auto name = runtime().containerName(worker);
    const auto status = engine.exec(name, {"/bin/cat", "/proc/self/status"});
    ASSERT_EQ(status.exitCode, 0) << status.err;
    EXPECT_NE(status.out.find("Uid:\t10001\t10001"), std::string::npos) << status.out;
    EXPECT_NE(status.out.find("CapEff:\t0000000000000000"), std::string::npos) << status.out;
    EXPECT_NE(status.out.find("CapBnd:\t0000000000000000"), std::string::npos) << status.out;
    EXPECT_NE(status.out.find("NoNewPrivs:\t1"), std::string::npos) << status.out;
    EXPECT_NE(engine.exec(name, {"/bin/sh", "-c", "echo x > /probe"}).exitCode, 0)
        << "the root file system is writable";
    EXPECT_EQ(engine.exec(name, {"/bin/sh", "-c", "echo x > /tmp/probe"}).exitCode, 0)
        << "/tmp is not writable";
    EXPECT_EQ(engine.exec(name, {"/bin/sh", "-c", "echo x > /workspace/probe"}).exitCode, 0)
        << "the workspace is not writable";
    EXPECT_EQ(readText(runtime().workerDir(worker) / "workspace" / "probe"), "x\n");
}

TEST_F(DockerRuntime, AWorkerSeesNeitherAnotherWorkersFilesNorTheHostsSecrets) {
    const auto mine = workerOf("chat-9"), theirs = workerOf("chat-10");
    for (const auto& worker : {mine, theirs}) {
        runtime().create(worker);
        runtime().start(worker);
    }
    std::ofstream(runtime().workerDir(theirs) / "workspace" / "secret.txt") << "theirs";
    const auto name = runtime().containerName(mine);
    const std::string theirDir = runtime().workerDir(theirs).string();
    const auto probe = runtime().engine().exec(
        name, {"/bin/sh", "-c",
               "ls -a /workspace /home/agent /aw /tmp; for p in " + theirDir + " " +
                   runtime().privateDir(mine).string() + " " + data_.path().string() +
                   " /var/run/docker.sock " + DockerDaemonEnvironment::daemon().socketPath() +
                   "; do test -e $p && echo VISIBLE $p; done; cat /workspace/secret.txt"});
    EXPECT_EQ(probe.out.find("secret"), std::string::npos) << probe.out;
    EXPECT_EQ(probe.out.find("VISIBLE"), std::string::npos) << probe.out;
    EXPECT_EQ(probe.out.find("theirs"), std::string::npos) << probe.out;
    EXPECT_NE(probe.exitCode, 0) << "cat of another worker's file succeeded";
    // Its mounts are its own directory's parts and its own object prefix, nothing else.
    for (const auto& mount : container(mine).raw["Mounts"]) {
        const std::string source = mount["Source"];
        const bool own = source.rfind(runtime().workerDir(mine).string() + "/", 0) == 0 ||
                         source.find("/chat-9") != std::string::npos;
        EXPECT_TRUE(own) << "a mount of another's: " << source;
    }
}

TEST_F(DockerRuntime, AMissingImageSaysHowToBuildIt) {
    auto settings = options();
    settings.image = "aw-test/absent:0";
    try {
        DockerWorkerRuntime runtime(settings);
        FAIL() << "a runtime without its image was made";
    } catch (const ProblemError& e) {
        EXPECT_EQ(e.problem().code, "runtime_unavailable");
        EXPECT_NE(e.problem().message.find("aw-test/absent:0"), std::string::npos)
            << e.problem().message;
        EXPECT_NE(e.problem().hint.find("make worker-image"), std::string::npos)
            << e.problem().hint;
    }
}

TEST_F(DockerRuntime, ReadinessSaysWhenTheImageGoesAway) {
    // An image of its own (a second name of the test image), removed under the runtime.
    auto& engine = runtime().engine();
    const auto tagged = engine.call("POST", "/images/" + DockerDaemonEnvironment::image().name +
                                                "/tag?repo=aw-test/doomed&tag=1");
    ASSERT_EQ(tagged.status, 201) << tagged.body;
    auto settings = options();
    settings.image = "aw-test/doomed:1";
    DockerWorkerRuntime doomed(settings);
    EXPECT_FALSE(doomed.unavailableReason().has_value());
    engine.removeImage("aw-test/doomed:1");
    const auto reason = doomed.unavailableReason();
    ASSERT_TRUE(reason.has_value()) << "a runtime without its image says it is ready";
    EXPECT_EQ(reason->code, "runtime_unavailable");
    EXPECT_NE(reason->hint.find("make worker-image"), std::string::npos) << reason->hint;
    EXPECT_TRUE(engine.imageExists(DockerDaemonEnvironment::image().name))
        << "removing the second name removed the test image";
}

TEST_F(DockerRuntime, AMissingSocketSaysHowToStartTheEngine) {
    auto settings = options();
    settings.socketPath = (data_ / "no-engine.sock").string();
    try {
        DockerWorkerRuntime runtime(settings);
        FAIL() << "a runtime without an engine was made";
    } catch (const ProblemError& e) {
        EXPECT_EQ(e.problem().code, "runtime_unavailable");
        EXPECT_NE(e.problem().message.find("no-engine.sock"), std::string::npos)
            << e.problem().message;
        EXPECT_NE(e.problem().hint.find("dockerd"), std::string::npos) << e.problem().hint;
        EXPECT_NE(e.problem().hint.find("docker.socket"), std::string::npos) << e.problem().hint;
    }
}

TEST_F(DockerRuntime, AnExecutorThatCannotStartIsReportedWithWhatItSaid) {
    auto settings = options();
    settings.callbackUrl = "ftp://nowhere";  // agent-executor refuses it and exits
    settings.startTimeout = 20s;
    DockerWorkerRuntime broken(settings);
    const auto worker = workerOf("chat-11");
    broken.create(worker);
    try {
        broken.start(worker);
        FAIL() << "start succeeded with an executor that exits";
    } catch (const ProblemError& e) {
        EXPECT_EQ(e.problem().code, "runtime_unavailable");
        EXPECT_NE(e.problem().message.find("exited with code 2"), std::string::npos)
            << e.problem().message;
        EXPECT_NE(e.problem().message.find("--callback-url"), std::string::npos)
            << "the executor's own words are missing: " << e.problem().message;
    }
    EXPECT_EQ(broken.inspect(worker), SandboxState::Stopped);
    broken.remove(worker);
}

TEST_F(DockerRuntime, TheExecutorsStoreFollowsTheObjectStoreAndItsSecretStaysOffTheSpec) {
    const auto worker = workerOf("chat-12");
    const auto has = [](const nlohmann::json& list, const std::vector<std::string>& run) {
        const auto items = list.get<std::vector<std::string>>();
        return std::search(items.begin(), items.end(), run.begin(), run.end()) != items.end();
    };
    const auto mountsAt = [](const nlohmann::json& spec, const std::string& prefix) {
        int found = 0;
        for (const auto& mount : spec["HostConfig"]["Mounts"])
            found += mount.value("Target", "").rfind(prefix, 0) == 0 ? 1 : 0;
        return found;
    };
    // The file store: the worker's own prefix of it, bind-mounted.
    const nlohmann::json file = runtime().containerSpec(worker);
    EXPECT_TRUE(has(file["Cmd"], {"--objects-dir", "/aw/objects"})) << file["Cmd"];
    EXPECT_EQ(mountsAt(file, "/aw/objects/"), 1) << file["HostConfig"]["Mounts"];

    // The s3 store: its settings on the command line, nothing mounted, the secret nowhere.
    auto settings = options("host-s3");
    settings.s3 = S3Settings{};
    settings.s3->endpoint = "http://127.0.0.1:9";
    settings.s3->region = "eu-west-3";
    settings.s3->pathStyle = false;
    settings.s3->credentials = {"AKIA-spec-test", "secret-off-the-spec", "session-off-the-spec"};
    DockerWorkerRuntime withS3(settings);
    const nlohmann::json s3 = withS3.containerSpec(worker);
    EXPECT_TRUE(has(s3["Cmd"], {"--object-store", "s3", "--s3-endpoint", "http://127.0.0.1:9",
                                "--s3-region", "eu-west-3", "--s3-path-style", "false"}))
        << s3["Cmd"];
    EXPECT_FALSE(has(s3["Cmd"], {"--objects-dir"})) << s3["Cmd"];
    EXPECT_EQ(mountsAt(s3, "/aw/objects"), 0) << s3["HostConfig"]["Mounts"];
    for (const char* secret : {"AKIA-spec-test", "secret-off-the-spec", "session-off-the-spec"})
        EXPECT_EQ(s3.dump().find(secret), std::string::npos) << secret << " in " << s3.dump();
}

}  // namespace
}  // namespace aw::test
