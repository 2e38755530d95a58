// Docker workers and S3 workspaces together, for real: agent-host with `runtime: docker` and
// `object_store.kind: s3` runs the real Claude Code CLI inside the REAL worker image
// (scripts/build-worker-image.sh, built into this binary's own dockerd) against the scripted
// model server, and keeps the session's files in s3rver (behind a proxy that checks every
// request's SigV4 signature and injects faults); and three replicas sharing the container
// take over a run whose replica was killed while the CLI waited for approval. What the tests
// look at, they look at from outside: the bucket through rclone, the containers through the
// Engine API.
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <memory>
#include <sstream>
#include <vector>

#include "agent_worker/core/random_id.h"
#include "runtime/docker_engine.h"
#include "runtime/docker_worker_runtime.h"
#include "support/agent_clis.h"
#include "support/agent_host_harness.h"
#include "support/docker_daemon.h"
#include "support/executor_fault_proxy.h"
#include "support/plugins.h"
#include "support/raw_connection.h"
#include "support/replica_cluster.h"
#include "support/run_events.h"
#include "support/s3_fault_proxy.h"
#include "support/s3_server.h"
#include "support/temp_dir.h"
#include "support/worker_image.h"

namespace aw::test {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

constexpr const char* kBucket = "agent-worker";  // object_store.bucket's default
constexpr const char* kToolsPrompt =
    "TOOLS_AND_TODOS: create hello.txt and notes.txt, track the work";
constexpr const char* kToolsAnswer = "Done: hello.txt and notes.txt were created.";
constexpr std::int64_t kMemoryBytes = 1024LL * 1024 * 1024;

//! The engine of this binary and the real worker image in it, made once before the tests.
class RealWorkerImage : public ::testing::Environment {
public:
    void SetUp() override {
        try {
            daemon_ = std::make_unique<DockerDaemon>();
            image_ = "agent-worker/worker:" + projectVersion();
            const auto started = std::chrono::steady_clock::now();
            buildWorkerImage(daemon_->socketPath(), image_, logDir_ / "build-worker-image.log");
            std::cout << "[ image    ] " << image_ << " built into the test engine in "
                      << std::chrono::duration_cast<std::chrono::seconds>(
                             std::chrono::steady_clock::now() - started)
                             .count()
                      << " s" << std::endl;
        } catch (const std::exception& e) {
            failure_ = e.what();
        }
    }
    void TearDown() override { daemon_.reset(); }

    //! Throws (failing the test, never skipping it) when the engine or the image is missing.
    static DockerDaemon& daemon() {
        if (!daemon_ || !failure_.empty()) {
            throw std::runtime_error("no Docker engine with the real worker image: " +
                                     (failure_.empty() ? std::string("not started") : failure_));
        }
        return *daemon_;
    }
    static const std::string& image() {
        daemon();
        return image_;
    }

private:
    static inline std::unique_ptr<DockerDaemon> daemon_;
    static inline std::string image_;
    static inline std::string failure_;
    TempDir logDir_{"aw-image-log"};
};

std::vector<Json> logLines(const std::string& log) {
    std::vector<Json> lines;
    std::istringstream in(log);
    for (std::string line; std::getline(in, line);) {
        auto json = Json::parse(line, nullptr, false);
        if (json.is_object()) lines.push_back(std::move(json));
    }
    return lines;
}

//! Files under `dir` (recursively) whose content holds `text`.
std::vector<std::string> filesHolding(const fs::path& dir, const std::string& text) {
    std::vector<std::string> found;
    std::error_code error;
    for (auto it = fs::recursive_directory_iterator(dir, error);
         !error && it != fs::recursive_directory_iterator(); it.increment(error)) {
        if (it->is_regular_file() && readText(it->path()).find(text) != std::string::npos)
            found.push_back(it->path().string());
    }
    return found;
}

class DockerS3 : public ::testing::Test {
protected:
    void SetUp() override {
        socket_ = RealWorkerImage::daemon().socketPath();
        try {
            server_ = std::make_unique<S3Server>();
        } catch (const std::exception& e) {
            FAIL() << "cannot start the S3 test server: " << e.what();
        }
        server_->createBucket(kBucket);
        proxy_ = std::make_unique<S3FaultProxy>(server_->port());
        // Every request the executors make must be signed with this secret (s3rver checks
        // only the key id).
        proxy_->verifySignatures(S3Server::kAccessKey, secret_);
        fs::create_directories(root_ / "plugins");
        dropPlugin(shippedPlugin("claude-code"), root_ / "plugins", "claude-code.so");
    }
    void TearDown() override {
        if (socket_.empty()) return;
        DockerEngine engine(socket_);
        for (const auto& container : engine.listContainers({{std::string(kLabelHost), hostId_}}))
            engine.removeContainer(container.id);
    }

    HostSpec spec() const {
        HostSpec spec{root_ / "data", root_ / "plugins", "", quickHostEnv()};
        spec.env["AW_RUNTIME"] = "docker";
        spec.env["AW_DOCKER_SOCKET"] = socket_;
        spec.env["AW_DOCKER_IMAGE"] = RealWorkerImage::image();
        spec.env["AW_DOCKER_MEMORY_BYTES"] = std::to_string(kMemoryBytes);
        spec.env["AW_HOST_ID"] = hostId_;
        spec.env["AW_OBJECT_STORE_KIND"] = "s3";
        spec.env["AW_OBJECT_STORE_ENDPOINT"] = proxy_->endpoint();
        spec.env["AW_OBJECT_STORE_PATH_STYLE"] = "true";
        spec.env["AWS_ACCESS_KEY_ID"] = S3Server::kAccessKey;
        spec.env["AWS_SECRET_ACCESS_KEY"] = secret_;
        spec.env["AW_LIFECYCLE_IDLE_TIMEOUT_S"] = "0";
        spec.env["AW_LIFECYCLE_REMOVE_AFTER_S"] = "0";
        // The CLI as the container sees it (the image links the pinned CLIs there); the
        // model server is on the host's loopback, which the host network shares.
        spec.env["AW_PROVIDERS"] = Json{{"claude-code",
                                         {{"binary", "/usr/local/bin/claude"},
                                          {"env",
                                           {{"ANTHROPIC_BASE_URL", model_.url()},
                                            {"ANTHROPIC_API_KEY", "sk-ant-aw-docker-e2e"},
                                            {"DISABLE_AUTOUPDATER", "1"},
                                            {"DISABLE_TELEMETRY", "1"},
                                            {"DISABLE_ERROR_REPORTING", "1"},
                                            {"CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1"}}}}}}
                                       .dump();
        return spec;
    }

    std::string containerName(const std::string& sid) const { return "aw-" + hostId_ + "-" + sid; }
    //! Whether the engine has the container and it runs.
    bool runningContainer(const std::string& name) const {
        const auto status = DockerEngine(socket_).inspectContainer(name);
        return status && status->running;
    }
    //! The session's workspace in the bucket, listed by rclone: relative path -> size.
    std::map<std::string, std::uint64_t> bucketWorkspace(const std::string& sid) const {
        const std::string prefix = "sessions/default/" + sid + "/workspace/";
        std::map<std::string, std::uint64_t> files;
        for (const auto& [key, size] : server_->rcloneList(kBucket, prefix))
            files[key.substr(prefix.size())] = size;
        return files;
    }
    //! Runs `prompt` in the session to the end; the test fails unless it completed.
    std::vector<Json> runToCompletion(const AgentHost& host, const std::string& sid,
                                      const std::string& prompt) const {
        const std::string rid = host.sendMessage(sid, "claude-code", prompt);
        const Json run = host.waitRunFinished(rid, 180s);
        EXPECT_EQ(run.value("status", ""), "completed") << host.describeRun(rid);
        return host.events(rid);
    }

    std::string socket_;
    const std::string secret_ = "s3-secret-" + newToken().substr(0, 16);
    const std::string hostId_ = "e2e-" + newToken().substr(0, 8);
    std::unique_ptr<S3Server> server_;
    std::unique_ptr<S3FaultProxy> proxy_;
    live::ModelServer model_;
    TempDir root_{"aw-dse"};
};

std::vector<std::string> messageTexts(const std::vector<Json>& events) {
    std::vector<std::string> texts;
    for (const auto& data : dataOf(events, "message.stop")) {
        if (data.value("kind", "text") == "text") texts.push_back(data.value("text", ""));
    }
    return texts;
}

std::string providerSessionOf(const std::vector<Json>& events) {
    const auto sessions = dataOf(events, "provider.session");
    return sessions.empty() ? "" : sessions.front().value("provider_session_id", "");
}

// Three replicas sharing the session's container (data dir, cluster_id) behind nginx: the real
// CLI asks for approval, the replica driving the run is killed while it waits, another takes
// the run over (the plugin's state rebuilt from the stored lines, the pending request
// included), a reply through a surviving replica reaches the CLI that kept waiting in its
// container, and the run finishes: every event once, in order, on a survivor's stream.
TEST_F(DockerS3, AReplicaKilledWhileTheRealCliWaitsForApprovalIsTakenOverAndTheRunFinishes) {
    HostSpec shared = spec();
    shared.db = databaseUrlFor(Db::Postgres, "docker_s3_replicas");
    shared.env["AW_CLUSTER_ID"] = hostId_;
    shared.env["AW_QUEUE_LEASE_S"] = "5";
    ReplicaCluster cluster(shared, 3, hostId_);
    auto& replicas = cluster.replicas();
    const std::string sid = "s3-taken";
    const auto posted = replicas[0]->postMessage(
        sid, {{"provider", "claude-code"}, {"prompt", kToolsPrompt}, {"approval_mode", "ask"}});
    ASSERT_EQ(posted.status, 202) << posted.body;
    const std::string rid = posted.json().value("run_id", "");
    ASSERT_TRUE(eventually(
        [&] { return replicas[0]->run(rid).value("status", "") == "waiting_human"; }, 180s))
        << replicas[0]->describeRun(rid);
    const auto container = DockerEngine(socket_).inspectContainer(containerName(sid));
    ASSERT_TRUE(container && container->running);

    AgentHost* driver = cluster.driverOf(rid);
    ASSERT_NE(driver, nullptr) << "no replica holds " << rid;
    const auto survivors = cluster.allBut(driver);
    RawConnection stream(survivors[0]->port());
    ASSERT_TRUE(
        stream.send("GET /v1/runs/" + rid +
                    "/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n"));
    driver->killHard();
    ASSERT_TRUE(eventually([&] { return ReplicaCluster::tookOver(survivors); }, 30s));

    // Every request is allowed through the survivors in turn, until the run ends.
    int replies = 0;
    Json run;
    for (int round = 0; round < 10; ++round) {
        ASSERT_TRUE(eventually(
            [&] {
                run = survivors[1]->run(rid);
                return run.value("status", "") == "waiting_human" ||
                       isTerminalStatus(run.value("status", ""));
            },
            180s))
            << survivors[1]->describeRun(rid);
        if (isTerminalStatus(run.value("status", ""))) break;
        const Json pending = run.value("pending_human_requests", Json::array());
        for (const auto& request : pending) {
            const auto answered = survivors[replies++ % 2]->humanReply(
                rid, {{"request_id", request.value("request_id", "")}, {"decision", "allow"}});
            ASSERT_EQ(answered.status, 200) << answered.body;
        }
        ASSERT_TRUE(eventually(
            [&] {
                const Json now = survivors[1]->run(rid);
                return now.value("status", "") != "waiting_human" ||
                       now.value("pending_human_requests", Json::array()) != pending;
            },
            120s));
    }
    run = survivors[1]->waitRunFinished(rid, 180s);
    ASSERT_EQ(run.value("status", ""), "completed") << survivors[1]->describeRun(rid);
    EXPECT_GE(replies, 1);

    const auto events = survivors[1]->events(rid);
    EXPECT_EQ(denseAndUnique(events), "") << describeEvents(events);
    EXPECT_EQ(countType(events, "run.started"), 1) << describeEvents(events);
    EXPECT_EQ(DockerEngine(socket_).inspectContainer(containerName(sid))->id, container->id)
        << "the worker was made again";
    std::vector<std::int64_t> seqs;
    for (const auto& event : events) seqs.push_back(event.value("seq", std::int64_t{0}));
    const auto answer = stream.readResponse(60s);
    ASSERT_TRUE(answer.has_value()) << "the surviving replica's stream did not end with the run";
    EXPECT_EQ(sseEventIds(answer->body), seqs);
}

// A run of the real CLI in the session's container completes; its files are in the bucket;
// idle stop syncs and stops the container, remove deletes it, and the next message restores
// the files from S3 and resumes the CLI's session. Along the way: the run's trace id on the
// executor's requests and on the run's callbacks, and the container's effective settings.
TEST_F(DockerS3, ARealClaudeRunInAContainerKeepsItsWorkspaceInS3AcrossStopAndRemove) {
    AgentHost host(spec());
    host.waitProviderHealthy("claude-code");
    const auto ready = host.get("/ready");
    EXPECT_EQ(ready.status, 200) << ready.body;
    EXPECT_EQ(ready.json()["checks"]["docker"].value("ok", false), true) << ready.body;
    EXPECT_EQ(ready.json()["checks"]["object_store"].value("ok", false), true) << ready.body;

    const std::string sid = "e2e-chat";
    const std::string first = host.sendMessage(sid, "claude-code", kToolsPrompt);
    ASSERT_EQ(host.waitRunFinished(first, 180s).value("status", ""), "completed")
        << host.describeRun(first);
    const auto events = host.events(first);
    const auto types = typesOf(events);
    for (const char* type : {"provider.session", "message.stop", "tool.start", "tool.result",
                             "todo.update", "usage", "workspace.sync", "run.completed"}) {
        EXPECT_NE(std::find(types.begin(), types.end(), type), types.end())
            << "no " << type << " in " << describeEvents(events);
    }
    const auto texts = messageTexts(events);
    ASSERT_FALSE(texts.empty()) << describeEvents(events);
    EXPECT_EQ(texts.back(), kToolsAnswer);
    const Json todos = host.todos(sid)["todos"];
    ASSERT_EQ(todos.size(), 2u) << todos.dump();
    EXPECT_EQ(todos[0].value("content", ""), "Create hello.txt");
    const Json run = host.run(first);
    EXPECT_TRUE(run["usage"].is_object()) << run.dump();
    EXPECT_EQ(run["usage"], dataOf(events, "usage").back()) << run.dump();
    for (const auto& sync : dataOf(events, "workspace.sync"))
        EXPECT_EQ(sync.value("status", ""), "succeeded") << sync.dump();
    // The CLI wrote the files in the container; the executor synced them to the bucket.
    EXPECT_EQ(readText(host.workspace(sid) / "hello.txt").empty(), false);
    std::map<std::string, std::uint64_t> stored;
    EXPECT_TRUE(eventually(
        [&] {
            stored = bucketWorkspace(sid);
            return stored.count("hello.txt") == 1 && stored.count("notes.txt") == 1;
        },
        30s))
        << "bucket: " << Json(stored).dump();
    EXPECT_EQ(stored["hello.txt"], fs::file_size(host.workspace(sid) / "hello.txt"));
    EXPECT_GT(proxy_->verified(), 0) << "no request went through the signature check";

    // Trace: the id the host gave the run is on the executor's requests for it (the
    // container's log), the /workspace/sync after its message included, and on that run's
    // callbacks (the host's log).
    DockerEngine engine(socket_);
    const std::string name = containerName(sid);
    // A run's trace id is its id's 32 hex digits (core/src/runs/worker_preparation.cpp).
    ASSERT_EQ(first.rfind("run_", 0), 0u) << first;
    const std::string traceId = first.substr(4);
    ASSERT_EQ(traceId.size(), 32u) << first;
    bool started = false;
    for (const auto& line : logLines(host.log())) {
        if (line.value("msg", "") != "run started" || line.value("run_id", "") != first) continue;
        started = true;
        EXPECT_EQ(line.value("trace_id", ""), traceId) << line.dump();
    }
    EXPECT_TRUE(started) << "no 'run started' line naming the run:\n" << host.logTail();
    int callbacks = 0;
    for (const auto& line : logLines(host.log())) {
        if (line.value("path", "") != "/v1/callbacks/executor" || line.value("run_id", "") != first)
            continue;
        ++callbacks;
        EXPECT_EQ(line.value("trace_id", ""), traceId) << line.dump();
    }
    EXPECT_GT(callbacks, 0) << "no callback of the run in the host's log:\n" << host.logTail();
    std::set<std::string> tracedPaths;
    bool syncAfterMessage = false;
    for (const auto& line : logLines(engine.containerLogs(name, 5000))) {
        if (line.value("trace_id", "") != traceId) continue;
        tracedPaths.insert(line.value("path", ""));
        if (line.value("path", "") == "/workspace/sync") {
            EXPECT_EQ(line.value("run_id", ""), first) << line.dump();
            syncAfterMessage =
                syncAfterMessage || line.value("operation", "") == "workspace.sync.message.stop";
        }
    }
    EXPECT_TRUE(tracedPaths.count("/runs")) << Json(tracedPaths).dump() << "\n"
                                            << engine.containerLogs(name, 40);
    EXPECT_TRUE(syncAfterMessage) << Json(tracedPaths).dump() << "\n"
                                  << engine.containerLogs(name, 40);

    // The container's effective settings, as the engine has them.
    const auto status = engine.inspectContainer(name);
    ASSERT_TRUE(status.has_value());
    const Json& config = status->raw["Config"];
    const Json& hostConfig = status->raw["HostConfig"];
    EXPECT_EQ(config.value("User", ""), "10001:10001");
    EXPECT_EQ(config.value("Image", ""), RealWorkerImage::image());
    EXPECT_EQ(hostConfig["CapDrop"], Json::array({"ALL"})) << hostConfig.dump();
    EXPECT_TRUE(hostConfig["CapAdd"].is_null() || hostConfig["CapAdd"].empty());
    EXPECT_EQ(hostConfig.value("Privileged", true), false);
    EXPECT_EQ(hostConfig.value("ReadonlyRootfs", false), true);
    EXPECT_EQ(hostConfig["SecurityOpt"], Json::array({"no-new-privileges"}));
    EXPECT_EQ(hostConfig.value("Memory", std::int64_t{0}), kMemoryBytes);
    EXPECT_EQ(hostConfig.value("MemorySwap", std::int64_t{0}), kMemoryBytes);
    EXPECT_EQ(hostConfig.value("NanoCpus", std::int64_t{0}), 2'000'000'000);
    EXPECT_EQ(hostConfig.value("PidsLimit", std::int64_t{0}), 512);
    EXPECT_TRUE(hostConfig["Tmpfs"].contains("/tmp")) << hostConfig.dump();
    EXPECT_EQ(hostConfig.value("NetworkMode", ""), "host");
    for (const auto& mount : status->raw["Mounts"]) {
        EXPECT_NE(mount.value("Destination", ""), "/aw/objects")
            << "the s3 store mounts no objects directory";
    }
    // From the inside: not root, and the root file system is read-only.
    const auto id = engine.exec(name, {"id", "-u"});
    EXPECT_EQ(id.out, "10001\n") << id.err;
    const auto write = engine.exec(name, {"touch", "/usr/aw-probe"});
    EXPECT_NE(write.exitCode, 0) << "the root file system is writable";
    // The S3 secret reached the executor on stdin only: not in the container's command,
    // environment or labels, nor in any file of the worker's.
    EXPECT_EQ(status->raw.dump().find(secret_), std::string::npos);
    EXPECT_EQ(filesHolding(host.workerDir(sid), secret_), std::vector<std::string>{});
    EXPECT_EQ(filesHolding(root_ / "data", secret_), std::vector<std::string>{});
    const auto environ = engine.exec(name, {"sh", "-c", "cat /proc/[0-9]*/environ"});
    EXPECT_EQ(environ.out.find(secret_), std::string::npos)
        << "a process has it in its environment";

    // Idle stop syncs first (a file written since the run's last sync reaches the bucket),
    // then stops the container; remove deletes it; the bucket keeps the files.
    std::ofstream(host.workspace(sid) / "after-run.txt") << "written after the run\n";
    EXPECT_EQ(bucketWorkspace(sid).count("after-run.txt"), 0u);
    const auto stopped = host.post("/v1/maintenance/idle-stop");
    EXPECT_EQ(stopped.json().value("stopped", -1), 1) << stopped.body;
    EXPECT_EQ(bucketWorkspace(sid).count("after-run.txt"), 1u) << "idle stop did not sync";
    EXPECT_EQ(host.session(sid).value("status", ""), "stopped");
    EXPECT_EQ(host.session(sid).value("last_sync_status", ""), "succeeded");
    ASSERT_TRUE(engine.inspectContainer(name).has_value());
    EXPECT_FALSE(engine.inspectContainer(name)->running) << "the container still runs";
    const auto removed = host.post("/v1/maintenance/remove-stopped");
    EXPECT_EQ(removed.json().value("removed", -1), 1) << removed.body;
    EXPECT_FALSE(engine.inspectContainer(name).has_value()) << "the container is still there";
    EXPECT_FALSE(fs::exists(host.workerDir(sid)));
    EXPECT_EQ(bucketWorkspace(sid).count("hello.txt"), 1u);

    // The next message: a new container, the files restored from S3 before the CLI starts,
    // and the CLI resumes its session (its state under the home came back too): the model
    // server is sent the earlier conversation.
    const auto again = runToCompletion(host, sid, "RECALL what I asked before");
    EXPECT_EQ(providerSessionOf(again), providerSessionOf(events));
    const auto recalled = messageTexts(again);
    ASSERT_FALSE(recalled.empty()) << describeEvents(again);
    EXPECT_NE(recalled.back().find("I remember 1 earlier prompt(s): TOOLS_AND_TODOS"),
              std::string::npos)
        << recalled.back();
    EXPECT_TRUE(runningContainer(name));
    EXPECT_EQ(fs::file_size(host.workspace(sid) / "hello.txt"), stored["hello.txt"]);
    EXPECT_TRUE(fs::exists(host.workspace(sid) / "notes.txt"));
    EXPECT_EQ(readText(host.workspace(sid) / "after-run.txt"), "written after the run\n");
}

// A container removed behind the host's back: the next message finds it missing while the
// record says running, marks the worker deleted, makes a new container and restores the
// files from S3.
TEST_F(DockerS3, AContainerRemovedBehindTheHostsBackIsRecreatedAndRestoredFromS3) {
    AgentHost host(spec());
    host.waitProviderHealthy("claude-code");
    const std::string sid = "e2e-gone";
    runToCompletion(host, sid, kToolsPrompt);
    ASSERT_TRUE(eventually([&] { return bucketWorkspace(sid).count("hello.txt") == 1; }, 30s));

    DockerEngine engine(socket_);
    const std::string name = containerName(sid);
    const auto made = engine.inspectContainer(name);
    ASSERT_TRUE(made.has_value()) << "no container for the session";
    const std::string before = made->id;
    engine.removeContainer(name);
    fs::remove_all(host.workerDir(sid));  // the machine lost its files too
    EXPECT_EQ(host.session(sid).value("status", ""), "running") << "nothing told the host yet";

    const auto again = runToCompletion(host, sid, "RECALL what I asked before");
    const auto after = engine.inspectContainer(name);
    ASSERT_TRUE(after.has_value()) << "no container was made again";
    EXPECT_NE(after->id, before);
    EXPECT_TRUE(after->running);
    const auto restores = dataOf(again, "workspace.restore");
    ASSERT_FALSE(restores.empty()) << describeEvents(again);
    // `recreated`: a record that synced before whose sandbox vanished (marked deleted first).
    EXPECT_EQ(restores.front().value("situation", ""), "recreated") << restores.front().dump();
    EXPECT_TRUE(fs::exists(host.workspace(sid) / "hello.txt")) << "not restored from S3";
    const auto recalled = messageTexts(again);
    ASSERT_FALSE(recalled.empty());
    EXPECT_NE(recalled.back().find("I remember 1 earlier prompt(s)"), std::string::npos)
        << recalled.back();
    EXPECT_EQ(host.session(sid).value("status", ""), "running");
}

// The store failing (500s, then the service down): idle stop reports failed=1, the container
// keeps running, nothing is removed, last_sync_error says why; once the store is back a later
// pass syncs and stops it.
TEST_F(DockerS3, IdleStopWithTheStoreFailingKeepsTheContainerUntilTheStoreIsBack) {
    AgentHost host(spec());
    host.waitProviderHealthy("claude-code");
    const std::string sid = "e2e-faults";
    runToCompletion(host, sid, "Say hello");
    DockerEngine engine(socket_);
    const std::string name = containerName(sid);
    std::ofstream(host.workspace(sid) / "changed.txt") << "written while the store fails\n";

    const auto expectKeptRunning = [&](const std::string& fault, const std::string& because) {
        const auto failed = host.post("/v1/maintenance/idle-stop");
        ASSERT_EQ(failed.status, 200) << failed.body;
        EXPECT_EQ(failed.json().value("failed", -1), 1) << fault << ": " << failed.body;
        EXPECT_EQ(failed.json().value("stopped", -1), 0) << fault << ": " << failed.body;
        const Json worker = host.session(sid);
        EXPECT_EQ(worker.value("status", ""), "running") << fault << ": " << worker.dump();
        EXPECT_EQ(worker.value("last_sync_status", ""), "failed") << worker.dump();
        const std::string error = worker.value("last_sync_error", Json("")).get<std::string>();
        EXPECT_NE(error.find(because), std::string::npos)
            << fault << ": the error says why: " << error;
        EXPECT_TRUE(runningContainer(name)) << fault << ": the container stopped";
        const auto removed = host.post("/v1/maintenance/remove-stopped");
        EXPECT_EQ(removed.json().value("removed", -1), 0) << removed.body;
        EXPECT_TRUE(engine.inspectContainer(name).has_value());
        EXPECT_EQ(bucketWorkspace(sid).count("changed.txt"), 0u);
    };
    proxy_->failNext(1'000'000, 500);
    expectKeptRunning("S3 answering 500", "500");
    // Down: nothing listens where the host sends its requests (connections are refused).
    const std::string endpoint = proxy_->endpoint();
    const unsigned short port = proxy_->port();
    proxy_.reset();
    expectKeptRunning("S3 down", endpoint);

    proxy_ = std::make_unique<S3FaultProxy>(server_->port(), port);
    proxy_->verifySignatures(S3Server::kAccessKey, secret_);
    const auto stopped = host.post("/v1/maintenance/idle-stop");
    EXPECT_EQ(stopped.json().value("stopped", -1), 1) << stopped.body;
    const Json worker = host.session(sid);
    EXPECT_EQ(worker.value("status", ""), "stopped") << worker.dump();
    EXPECT_EQ(worker.value("last_sync_status", ""), "succeeded") << worker.dump();
    EXPECT_EQ(bucketWorkspace(sid).count("changed.txt"), 1u);
    EXPECT_TRUE(engine.inspectContainer(name).has_value());
    EXPECT_FALSE(runningContainer(name));
}

// The seed's phase 8: the worker's executor answers 500 once, then succeeds; the host's
// executor client retries the call and the run goes on.
TEST_F(DockerS3, AnExecutorAnsweringFiveHundredOnceIsRetriedAndTheRunGoesOn) {
    AgentHost host(spec());
    host.waitProviderHealthy("claude-code");
    const std::string sid = "e2e-500";
    runToCompletion(host, sid, kToolsPrompt);

    ExecutorFaultProxy proxy(host.workerDir(sid) / "run" / "executor.sock");
    proxy.failNext("POST /runs", 1, 500);
    const auto events = runToCompletion(host, sid, "RECALL what I asked before");
    EXPECT_EQ(proxy.injected(), 1) << "the start of the run was not answered 500";
    EXPECT_EQ(proxy.seen("POST /runs"), 2) << "the start, then its retry";
    const auto recalled = messageTexts(events);
    ASSERT_FALSE(recalled.empty()) << describeEvents(events);
    EXPECT_NE(recalled.back().find("I remember 1 earlier prompt(s)"), std::string::npos)
        << recalled.back();
    EXPECT_EQ(dataOf(events, "run.started").size(), 1u) << "one start: the retry is the same run";
}

}  // namespace
}  // namespace aw::test

int main(int argc, char** argv) {
    ::testing::InitGoogleTest(&argc, argv);
    ::testing::AddGlobalTestEnvironment(new aw::test::RealWorkerImage);
    return RUN_ALL_TESTS();
}
