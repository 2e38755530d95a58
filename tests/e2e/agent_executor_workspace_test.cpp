// agent-executor's workspace operations as a real process on real files: sync (full and
// incremental, deletions propagated), restore by plan with its conflict policies, link,
// validate, and the path checks.
#include <gtest/gtest.h>

#include <fstream>

#include "agent_worker/core/restore_plan.h"
#include "executor/http_executor_client.h"
#include "process/subprocess.h"
#include "storage/file_object_store.h"
#include "support/temp_dir.h"

namespace aw::test {
namespace {

using namespace std::chrono_literals;
using Json = nlohmann::json;
namespace fs = std::filesystem;

class ExecutorWorkspace : public ::testing::Test {
protected:
    void SetUp() override {
        for (const char* dir : {"workspace", "home", "objects", "state"}) fs::create_directories(dir_ / dir);
        SubprocessOptions options;
        options.argv = {std::string(AW_BUILD_DIR) + "/bin/agent-executor", "--socket", (dir_ / "x.sock").string(),
                        "--spool-dir", (dir_ / "state" / "spool").string(), "--callback-url",
                        "http://127.0.0.1:9/unused", "--executor-id", "exec-1", "--session-id", "chat-1",
                        "--workspace", workspace().string(), "--home", (dir_ / "home").string(),
                        "--objects-dir", (dir_ / "objects").string(), "--bucket", "aw", "--key-prefix",
                        "root/t1/chat-1/", "--state-dir", (dir_ / "state").string()};
        options.env = {{"AW_EXECUTOR_TOKEN", "tok"}, {"AW_CALLBACK_TOKEN", "cb"}};
        options.stderrFile = (dir_ / "executor.log").string();
        executor_ = std::make_unique<Subprocess>(options);
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
    RestorePlan plan(ConflictPolicy policy = ConflictPolicy::KeepSession) {
        RestorePlan plan;
        plan.sessionId = "chat-1";
        plan.bucket = "aw";
        plan.keyPrefix = "root/t1/chat-1/";
        plan.level = RestoreLevel::Workspace;
        plan.situation = RestoreSituation::Recreated;
        plan.entries.push_back({"workspace", RestoreLevel::Workspace, "root/t1/chat-1/workspace/",
                                workspace().string(), RestoreMode::Copy, policy, true});
        plan.requiredPaths = {(workspace() / "src" / "b.txt").string()};
        return plan;
    }
    std::optional<std::string> stored(const std::string& path) {
        return FileObjectStore(dir_ / "objects").get("aw/root/t1/chat-1/workspace/" + path);
    }

    TempDir dir_{"aw-ws"};
    std::unique_ptr<Subprocess> executor_;
    const TraceContext trace_{"", "chat-1", "exec-1", ""};
};

TEST_F(ExecutorWorkspace, IncrementalSyncSendsOnlyWhatChangedAndPropagatesDeletions) {
    write(workspace() / "a.txt", "alpha");
    write(workspace() / "src" / "b.txt", "beta");
    const auto first = client().sync(trace_, "incremental", "test");
    EXPECT_EQ(first["uploaded_files"], 2);
    EXPECT_EQ(first["uploaded_bytes"], 9);
    EXPECT_EQ(stored("src/b.txt"), "beta");

    const auto unchanged = client().sync(trace_, "incremental", "test");
    EXPECT_EQ(unchanged["uploaded_files"], 0) << "an unchanged workspace transfers nothing";
    EXPECT_EQ(unchanged["unchanged_files"], 2);

    write(workspace() / "src" / "b.txt", "beta, edited");
    fs::remove(workspace() / "a.txt");
    const auto changed = client().sync(trace_, "incremental", "message.stop");
    EXPECT_EQ(changed["uploaded_files"], 1) << "only the changed file";
    EXPECT_EQ(changed["deleted_files"], 1);
    EXPECT_EQ(changed["reason"], "message.stop");
    EXPECT_EQ(stored("src/b.txt"), "beta, edited");
    EXPECT_FALSE(stored("a.txt").has_value()) << "a deleted file is deleted in the store";

    const auto full = client().sync(trace_, "full", "test");
    EXPECT_EQ(full["uploaded_files"], 1) << "full compares with the store and sends everything";
}

TEST_F(ExecutorWorkspace, RestoreBringsTheWorkspaceBackAndKeepsTheSessionsFiles) {
    write(workspace() / "a.txt", "alpha");
    write(workspace() / "src" / "b.txt", "beta");
    client().sync(trace_, "incremental", "test");
    fs::remove_all(workspace());
    fs::create_directories(workspace());
    write(workspace() / "a.txt", "newer work in the worker");

    EXPECT_EQ(client().validate(trace_, toJson(plan()))["missing_paths"].size(), 1u);
    const auto restored = client().restore(trace_, toJson(plan()));
    EXPECT_EQ(restored["files"], 1);
    EXPECT_EQ(restored["kept"], 1) << "keep_session: the worker's file wins";
    EXPECT_EQ(readText(workspace() / "a.txt"), "newer work in the worker");
    EXPECT_EQ(readText(workspace() / "src" / "b.txt"), "beta");
    EXPECT_TRUE(client().validate(trace_, toJson(plan()))["missing_paths"].empty());

    client().restore(trace_, toJson(plan(ConflictPolicy::PreferSnapshot)));
    EXPECT_EQ(readText(workspace() / "a.txt"), "alpha");
    try {
        client().restore(trace_, toJson(plan(ConflictPolicy::Fail)));
        FAIL() << "fail policy ignored an existing file";
    } catch (const ExecutorCallError& e) {
        EXPECT_EQ(e.failure().status, 409);
    }
}

TEST_F(ExecutorWorkspace, TraversalAndSymlinkEscapesAreRejected) {
    auto outside = plan();
    outside.entries[0].targetPath = "/etc";
    try {
        client().restore(trace_, toJson(outside));
        FAIL() << "a target outside the roots was accepted";
    } catch (const ExecutorCallError& e) {
        EXPECT_EQ(e.failure().status, 422);
        EXPECT_NE(e.failure().message.find("workspace"), std::string::npos) << e.failure().message;
    }
    // A symlink inside the workspace that points outside must not be written through.
    fs::create_directories(dir_ / "elsewhere");
    fs::create_directory_symlink(dir_ / "elsewhere", workspace() / "escape");
    FileObjectStore(dir_ / "objects").put("aw/root/t1/chat-1/workspace/escape/pwned.txt", "x");
    try {
        client().restore(trace_, toJson(plan(ConflictPolicy::PreferSnapshot)));
        FAIL() << "restore wrote through a symlink";
    } catch (const ExecutorCallError& e) {
        EXPECT_EQ(e.failure().status, 422);
    }
    EXPECT_FALSE(fs::exists(dir_ / "elsewhere" / "pwned.txt"));
    // Sync never follows it either.
    write(dir_ / "elsewhere" / "secret.txt", "not the workspace's");
    client().sync(trace_, "incremental", "test");
    EXPECT_FALSE(stored("escape/secret.txt").has_value());
    // Required paths are checked against the roots too.
    try {
        client().validate(trace_, {{"required_paths", {"/etc/passwd"}}});
        FAIL();
    } catch (const ExecutorCallError& e) {
        EXPECT_EQ(e.failure().status, 422);
    }
}

}  // namespace
}  // namespace aw::test
