// agent-executor with the s3 object store, as a real process against s3rver (through the
// proxy that counts requests and checks their signatures): its credentials come on stdin,
// incremental sync sends only what changed (counted in requests) and deletes what was deleted,
// restore brings the workspace back, and a store that is down makes the sync fail with its reason,
// then succeed once it is back.
#include <gtest/gtest.h>

#include <fstream>

#include "agent_worker/core/restore_plan.h"
#include "executor/http_executor_client.h"
#include "support/executor_process.h"
#include "support/s3_fault_proxy.h"
#include "support/s3_server.h"
#include "support/temp_dir.h"

namespace aw::test {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

constexpr const char* kBucket = "aw-ws";
constexpr const char* kPrefix = "root/t1/chat-1/";

class ExecutorS3 : public ::testing::Test {
protected:
    void SetUp() override {
        try {
            server_ = std::make_unique<S3Server>();
        } catch (const std::exception& e) {
            FAIL() << "cannot start the S3 test server: " << e.what();
        }
        server_->createBucket(kBucket);
        proxy_ = std::make_unique<S3FaultProxy>(server_->port());
        // A request whose signature S3 would refuse fails the test (s3rver would take it).
        proxy_->verifySignatures(S3Server::kAccessKey, S3Server::kSecretKey);
        for (const char* dir : {"workspace", "home", "state"}) fs::create_directories(dir_ / dir);
        SubprocessOptions options;
        options.argv = {std::string(AW_BUILD_DIR) + "/bin/agent-executor",
                        "--socket",
                        (dir_ / "x.sock").string(),
                        "--spool-dir",
                        (dir_ / "state" / "spool").string(),
                        "--callback-url",
                        "http://127.0.0.1:9/unused",
                        "--executor-id",
                        "exec-1",
                        "--session-id",
                        "chat-1",
                        "--workspace",
                        workspace().string(),
                        "--home",
                        (dir_ / "home").string(),
                        "--bucket",
                        kBucket,
                        "--key-prefix",
                        kPrefix,
                        "--state-dir",
                        (dir_ / "state").string(),
                        "--object-store",
                        "s3",
                        "--s3-endpoint",
                        proxy_->endpoint(),
                        "--s3-region",
                        "us-east-1",
                        "--s3-path-style",
                        "true"};
        options.stderrFile = (dir_ / "executor.log").string();
        // The credentials follow the two tokens on stdin (no session token: an empty line).
        executor_ =
            startExecutor(options, "tok", "cb", {S3Server::kAccessKey, S3Server::kSecretKey, ""});
        ASSERT_TRUE(executor_->readLine(10s).has_value()) << readText(dir_ / "executor.log");
    }

    fs::path workspace() const { return dir_ / "workspace"; }
    HttpExecutorClient client() {
        HttpExecutorClientOptions options;
        options.retry.maxAttempts = 1;
        return HttpExecutorClient({"unix://" + (dir_ / "x.sock").string(), "tok"}, options);
    }
    void write(const fs::path& path, const std::string& text) {
        fs::create_directories(path.parent_path());
        std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
    }
    //! The session's workspace in the bucket as rclone sees it: relative path -> size.
    std::map<std::string, std::uint64_t> bucketWorkspace() {
        std::map<std::string, std::uint64_t> files;
        const std::string prefix = std::string(kPrefix) + "workspace/";
        for (const auto& [key, size] : server_->rcloneList(kBucket, prefix))
            files[key.substr(prefix.size())] = size;
        return files;
    }
    RestorePlan plan() {
        RestorePlan plan;
        plan.sessionId = "chat-1";
        plan.bucket = kBucket;
        plan.keyPrefix = kPrefix;
        plan.level = RestoreLevel::Workspace;
        plan.situation = RestoreSituation::Recreated;
        plan.entries.push_back({"workspace", RestoreLevel::Workspace,
                                std::string(kPrefix) + "workspace/", workspace().string(),
                                RestoreMode::Copy, ConflictPolicy::KeepSession, true});
        return plan;
    }

    std::unique_ptr<S3Server> server_;
    std::unique_ptr<S3FaultProxy> proxy_;
    TempDir dir_{"aw-xs3"};
    std::unique_ptr<Subprocess> executor_;
    const TraceContext trace_{"", "chat-1", "exec-1", ""};
};

TEST_F(ExecutorS3, SyncSendsOnlyChangesDeletesDeletionsAndRestoreBringsFilesBack) {
    write(workspace() / "a.txt", "alpha");
    write(workspace() / "src" / "b.txt", "beta");
    write(workspace() / "docs" / "r\xC3\xA9sum\xC3\xA9 1+1.md", "odd name");
    const auto first = client().sync(trace_, "incremental", "test");
    EXPECT_EQ(first["uploaded_files"], 3) << first.dump();
    EXPECT_EQ(bucketWorkspace(),
              (std::map<std::string, std::uint64_t>{
                  {"a.txt", 5}, {"docs/r\xC3\xA9sum\xC3\xA9 1+1.md", 8}, {"src/b.txt", 4}}));

    proxy_->clear();
    const auto unchanged = client().sync(trace_, "incremental", "test");
    EXPECT_EQ(unchanged["uploaded_files"], 0);
    EXPECT_EQ(unchanged["unchanged_files"], 3);
    EXPECT_EQ(proxy_->count("PUT"), 0) << "an unchanged workspace sends nothing";

    write(workspace() / "src" / "b.txt", "beta, edited");
    fs::remove(workspace() / "a.txt");
    proxy_->clear();
    const auto changed = client().sync(trace_, "incremental", "message.stop");
    EXPECT_EQ(changed["uploaded_files"], 1) << changed.dump();
    EXPECT_EQ(changed["deleted_files"], 1);
    EXPECT_EQ(proxy_->count("PUT"), 1) << "only the changed file goes up";
    EXPECT_EQ(proxy_->count("DELETE"), 1) << "the deleted file is deleted";
    EXPECT_EQ(bucketWorkspace(), (std::map<std::string, std::uint64_t>{
                                     {"docs/r\xC3\xA9sum\xC3\xA9 1+1.md", 8}, {"src/b.txt", 12}}));

    fs::remove_all(workspace());
    fs::create_directories(workspace());
    const auto restored = client().restore(trace_, toJson(plan()));
    EXPECT_EQ(restored["files"], 2) << restored.dump();
    EXPECT_EQ(readText(workspace() / "src" / "b.txt"), "beta, edited");
    EXPECT_EQ(readText(workspace() / "docs" / "r\xC3\xA9sum\xC3\xA9 1+1.md"), "odd name");
    EXPECT_FALSE(fs::exists(workspace() / "a.txt"));
}

TEST_F(ExecutorS3, SyncFailsWithTheStoresReasonWhileItIsDownAndSucceedsOnceItIsBack) {
    write(workspace() / "a.txt", "alpha");
    server_->stop();
    try {
        client().sync(trace_, "incremental", "test");
        FAIL() << "a sync into a store that is down succeeded";
    } catch (const ExecutorCallError& e) {
        EXPECT_EQ(e.failure().status, 424) << e.failure().message;
        EXPECT_NE(e.failure().message.find("attempt"), std::string::npos) << e.failure().message;
        EXPECT_NE(e.failure().message.find(proxy_->endpoint()), std::string::npos)
            << e.failure().message;
    }
    server_->start();
    const auto synced = client().sync(trace_, "incremental", "test");
    EXPECT_EQ(synced["uploaded_files"], 1) << synced.dump();
    EXPECT_EQ(bucketWorkspace().count("a.txt"), 1u);
}

TEST_F(ExecutorS3, ADamagedObjectFailsTheRestoreAndIsNotPutInPlace) {
    write(workspace() / "a.txt", "the real content");
    client().sync(trace_, "incremental", "test");
    {
        std::fstream file(server_->objectFile(kBucket, std::string(kPrefix) + "workspace/a.txt"),
                          std::ios::in | std::ios::out | std::ios::binary);
        file.seekp(2);
        file.put('#');
    }
    fs::remove(workspace() / "a.txt");
    try {
        client().restore(trace_, toJson(plan()));
        FAIL() << "a damaged object was restored";
    } catch (const ExecutorCallError& e) {
        EXPECT_EQ(e.failure().status, 424);
        EXPECT_NE(e.failure().message.find("checksum"), std::string::npos) << e.failure().message;
    }
    EXPECT_TRUE(fs::is_empty(workspace()));
}

}  // namespace
}  // namespace aw::test
