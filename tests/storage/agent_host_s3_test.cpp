// agent-host with local workers and the s3 object store (object_store.kind s3) against
// s3rver: a message's workspace lands in the bucket (listed by rclone), idle stop and
// removal keep it there and a new message restores it; the credentials appear nowhere but in
// the host; with the store down idle stop fails and keeps the worker, and succeeds once it
// is back; /ready reports the bucket, and says so when it is missing.
#include <gtest/gtest.h>

#include <dirent.h>

#include <fstream>

#include "agent_worker/core/random_id.h"
#include "support/agent_host_harness.h"
#include "support/fake_cli.h"
#include "support/plugins.h"
#include "support/run_events.h"
#include "support/s3_server.h"

namespace aw::test {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

// s3rver checks the access key, not the signature: any secret passes, so each test uses one
// of its own that is easy to look for. Of its own: ctest runs these tests in parallel, and
// another test's agent-host holds its secret in its environment.
std::string newSecret() {
    return "s3-secret-" + newToken().substr(0, 16);
}
constexpr const char* kBucket = "agent-worker";  // object_store.bucket's default

//! Pids of processes (other than `except`) whose command line or environment holds `text`.
std::vector<std::string> processesHolding(const std::string& text, pid_t except) {
    std::vector<std::string> found;
    DIR* proc = ::opendir("/proc");
    if (!proc) return found;
    while (const dirent* entry = ::readdir(proc)) {
        const std::string pid = entry->d_name;
        if (pid.find_first_not_of("0123456789") != std::string::npos ||
            pid == std::to_string(except))
            continue;
        for (const char* file : {"cmdline", "environ"}) {
            if (readText(fs::path("/proc") / pid / file).find(text) != std::string::npos) {
                found.push_back(pid + " (" + file + ")");
            }
        }
    }
    ::closedir(proc);
    return found;
}

class HostS3 : public ::testing::Test {
protected:
    void SetUp() override {
        try {
            server_ = std::make_unique<S3Server>();
        } catch (const std::exception& e) {
            FAIL() << "cannot start the S3 test server: " << e.what();
        }
        for (const auto& dir : {dataDir(), pluginsDir(), root_ / "bin"})
            fs::create_directories(dir);
        dropPlugin(shippedPlugin("claude-code"), pluginsDir(), "claude-code.so");
        // A fake `claude`: notes whether the workspace had hello.txt when it started (restored
        // or not), writes it when missing, then prints a recorded turn.
        claude_ = writeScript(
            root_ / "bin" / "claude",
            "if [ -e hello.txt ]; then echo restored > seen.txt; else echo fresh > seen.txt; fi\n"
            "[ -e hello.txt ] || echo 'hello from the agent' > hello.txt\n"
            "cat " +
                shellQuote(fixturePath("claude-basic.jsonl").string()) + "\n");
    }

    fs::path dataDir() const { return root_ / "data"; }
    fs::path pluginsDir() const { return root_ / "plugins"; }

    HostSpec spec() const {
        HostSpec spec{dataDir(), pluginsDir(), "", quickHostEnv()};
        spec.env["AW_OBJECT_STORE_KIND"] = "s3";
        spec.env["AW_OBJECT_STORE_ENDPOINT"] = server_->endpoint();
        spec.env["AW_OBJECT_STORE_PATH_STYLE"] = "true";
        spec.env["AWS_ACCESS_KEY_ID"] = S3Server::kAccessKey;
        spec.env["AWS_SECRET_ACCESS_KEY"] = secret_;
        spec.env["AW_LIFECYCLE_IDLE_TIMEOUT_S"] = "0";
        spec.env["AW_LIFECYCLE_REMOVE_AFTER_S"] = "0";
        spec.env["AW_PROVIDERS"] = Json{{"claude-code", {{"binary", claude_.string()}}}}.dump();
        return spec;
    }

    //! The session's workspace in the bucket, by rclone: relative path -> size.
    std::map<std::string, std::uint64_t> bucketWorkspace(const std::string& sid) const {
        const std::string prefix = "sessions/default/" + sid + "/workspace/";
        std::map<std::string, std::uint64_t> files;
        for (const auto& [key, size] : server_->rcloneList(kBucket, prefix))
            files[key.substr(prefix.size())] = size;
        return files;
    }

    std::unique_ptr<S3Server> server_;
    const std::string secret_ = newSecret();
    TempDir root_{"aw-hs3"};
    fs::path claude_;
};

TEST_F(HostS3, WorkspaceSyncsToTheBucketSurvivesRemovalAndComesBack) {
    server_->createBucket(kBucket);
    AgentHost host(spec());
    host.waitProviderHealthy("claude-code");
    const auto ready = host.get("/ready");
    EXPECT_EQ(ready.status, 200) << ready.body;
    EXPECT_EQ(ready.json()["checks"]["object_store"].value("ok", false), true) << ready.body;

    const std::string sid = "s3-chat";
    const auto first = host.sendMessage(sid, "claude-code", "hello");
    ASSERT_EQ(host.waitRunFinished(first, 60s).value("status", ""), "completed")
        << host.describeRun(first);
    // The sync after message.stop lands in the bucket.
    std::map<std::string, std::uint64_t> stored;
    EXPECT_TRUE(eventually(
        [&] {
            stored = bucketWorkspace(sid);
            return stored.count("hello.txt") == 1;
        },
        30s))
        << "bucket: " << Json(stored).dump() << "\n"
        << host.logTail();
    EXPECT_EQ(stored["hello.txt"], std::string("hello from the agent\n").size());
    EXPECT_EQ(readText(host.workspace(sid) / "seen.txt"), "fresh\n");

    // Idle stop syncs first; removal deletes the worker, not its files in the bucket.
    const auto stopped = host.post("/v1/maintenance/idle-stop");
    EXPECT_EQ(stopped.json().value("stopped", -1), 1) << stopped.body;
    const auto removed = host.post("/v1/maintenance/remove-stopped");
    EXPECT_EQ(removed.json().value("removed", -1), 1) << removed.body;
    EXPECT_FALSE(fs::exists(host.workspace(sid)));
    EXPECT_EQ(bucketWorkspace(sid).count("hello.txt"), 1u);

    // A new message restores the workspace from the bucket before the agent runs.
    const auto second = host.sendMessage(sid, "claude-code", "again");
    ASSERT_EQ(host.waitRunFinished(second, 60s).value("status", ""), "completed")
        << host.describeRun(second);
    EXPECT_EQ(readText(host.workspace(sid) / "hello.txt"), "hello from the agent\n");
    EXPECT_EQ(readText(host.workspace(sid) / "seen.txt"), "restored\n")
        << "the agent found the file restored";

    // The secret is the host's alone: not in its configuration, log or events, nor in any
    // other process's command line or environment (the executors got it on stdin).
    const auto config = host.get("/admin/config");
    EXPECT_EQ(config.status, 200);
    EXPECT_EQ(config.body.find(secret_), std::string::npos) << config.body;
    EXPECT_EQ(host.log().find(secret_), std::string::npos) << "the secret is in the host's log";
    for (const auto& rid : {first, second}) {
        EXPECT_EQ(Json(host.events(rid)).dump().find(secret_), std::string::npos);
    }
    EXPECT_EQ(processesHolding(secret_, host.pid()), std::vector<std::string>{});
}

TEST_F(HostS3, IdleStopWithTheStoreDownFailsKeepsTheWorkerAndSucceedsOnceItIsBack) {
    server_->createBucket(kBucket);
    AgentHost host(spec());
    host.waitProviderHealthy("claude-code");
    const std::string sid = "s3-down";
    const auto rid = host.sendMessage(sid, "claude-code", "hello");
    ASSERT_EQ(host.waitRunFinished(rid, 60s).value("status", ""), "completed")
        << host.describeRun(rid);
    ASSERT_TRUE(eventually([&] { return bucketWorkspace(sid).count("hello.txt") == 1; }, 30s));

    server_->stop();
    std::ofstream(host.workspace(sid) / "changed.txt") << "written while the store was down\n";
    const auto failed = host.post("/v1/maintenance/idle-stop");
    ASSERT_EQ(failed.status, 200) << failed.body;
    EXPECT_EQ(failed.json().value("failed", -1), 1) << failed.body;
    EXPECT_EQ(failed.json().value("stopped", -1), 0) << failed.body;
    Json worker = host.session(sid);
    EXPECT_EQ(worker.value("status", ""), "running") << worker.dump();
    EXPECT_EQ(worker.value("last_sync_status", ""), "failed") << worker.dump();
    const std::string error = worker.value("last_sync_error", Json("")).get<std::string>();
    EXPECT_NE(error.find(server_->endpoint()), std::string::npos)
        << "the error names the store: " << error;
    EXPECT_EQ(host.post("/v1/maintenance/remove-stopped").json().value("removed", -1), 0);
    EXPECT_EQ(host.get("/ready").status, 503) << "ready says the store is gone";

    server_->start();
    const auto stopped = host.post("/v1/maintenance/idle-stop");
    EXPECT_EQ(stopped.json().value("stopped", -1), 1) << stopped.body;
    worker = host.session(sid);
    EXPECT_EQ(worker.value("status", ""), "stopped") << worker.dump();
    EXPECT_EQ(worker.value("last_sync_status", ""), "succeeded") << worker.dump();
    EXPECT_EQ(bucketWorkspace(sid).count("changed.txt"), 1u);
}

TEST_F(HostS3, ReadySaysWhenTheBucketIsMissing) {
    AgentHost host(spec());  // the host starts all the same: the store may come later
    const auto missing = host.get("/ready");
    EXPECT_EQ(missing.status, 503) << missing.body;
    const Json body = missing.json();
    EXPECT_EQ(body["checks"]["object_store"].value("ok", true), false) << missing.body;
    EXPECT_EQ(body["error"].value("code", ""), "object_store_bucket_missing") << missing.body;
    EXPECT_NE(body["error"]
                  .value("message", "")
                  .find("bucket agent-worker does not exist at " + server_->endpoint()),
              std::string::npos)
        << missing.body;
    EXPECT_EQ(body["error"].value("hint", ""), "create it or set object_store.bucket");

    server_->createBucket(kBucket);
    const auto ready = host.get("/ready");
    EXPECT_EQ(ready.status, 200) << ready.body;
}

}  // namespace
}  // namespace aw::test
