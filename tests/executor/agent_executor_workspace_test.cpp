// agent-executor's workspace operations as a real process on real files: sync (full and
// incremental, deletions propagated), restore by plan with its conflict policies, link,
// validate, and the path checks.
#include <gtest/gtest.h>

#include <fstream>

#include "agent_worker/core/restore_plan.h"
#include "executor/http_executor_client.h"
#include "process/subprocess.h"
#include "storage/file_object_store.h"
#include "support/executor_process.h"
#include "support/temp_dir.h"

namespace aw::test {
namespace {

using namespace std::chrono_literals;
using Json = nlohmann::json;
namespace fs = std::filesystem;

class ExecutorWorkspace : public ::testing::Test {
protected:
    void SetUp() override {
        fs::create_directories(dir_ / "objects");
        executor_ = launch(dir_.path());
        ASSERT_TRUE(executor_);
    }

    //! An executor for a worker whose workspace, home and state live under `root`; the
    //! object store and the session's keys are shared by every worker of the test.
    std::unique_ptr<Subprocess> launch(const fs::path& root) {
        for (const char* dir : {"workspace", "home", "state"}) fs::create_directories(root / dir);
        SubprocessOptions options;
        options.argv = {std::string(AW_BUILD_DIR) + "/bin/agent-executor",
                        "--socket",
                        (root / "x.sock").string(),
                        "--spool-dir",
                        (root / "state" / "spool").string(),
                        "--callback-url",
                        "http://127.0.0.1:9/unused",
                        "--executor-id",
                        "exec-1",
                        "--session-id",
                        "chat-1",
                        "--workspace",
                        (root / "workspace").string(),
                        "--home",
                        (root / "home").string(),
                        "--objects-dir",
                        (dir_ / "objects").string(),
                        "--bucket",
                        "aw",
                        "--key-prefix",
                        "root/t1/chat-1/",
                        "--state-dir",
                        (root / "state").string()};
        options.stderrFile = (root / "executor.log").string();
        auto executor = startExecutor(options, "tok", "cb");
        if (!executor->readLine(10s).has_value()) {
            ADD_FAILURE() << readText(root / "executor.log");
            return nullptr;
        }
        return executor;
    }

    fs::path workspace() const { return dir_ / "workspace"; }
    HttpExecutorClient client(const fs::path& root = {}) {
        HttpExecutorClientOptions options;
        options.retry.maxAttempts = 1;
        return HttpExecutorClient(
            {"unix://" + ((root.empty() ? dir_.path() : root) / "x.sock").string(), "tok"},
            options);
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
    //! A plan linking Claude Code's state dir into the home of the worker under `root`
    //! (plus, unless `situation` is new_worker, copying the workspace back).
    RestorePlan statePlan(const fs::path& root, RestoreSituation situation) {
        RestorePlan plan;
        plan.sessionId = "chat-1";
        plan.bucket = "aw";
        plan.keyPrefix = "root/t1/chat-1/";
        plan.level = RestoreLevel::AgentState;
        plan.situation = situation;
        const bool fresh = situation == RestoreSituation::NewWorker;
        if (!fresh) {
            plan.entries.push_back({"workspace", RestoreLevel::Workspace,
                                    "root/t1/chat-1/workspace/", (root / "workspace").string(),
                                    RestoreMode::Copy, ConflictPolicy::KeepSession, true});
            plan.requiredPaths = {(root / "workspace").string(),
                                  (root / "home" / ".claude").string()};
        }
        plan.entries.push_back({"claude-code/claude", RestoreLevel::AgentState,
                                "root/t1/chat-1/agent-state/claude-code/claude/",
                                (root / "home" / ".claude").string(), RestoreMode::Link,
                                ConflictPolicy::KeepSession, !fresh});
        return plan;
    }
    std::optional<std::string> storedState(const std::string& path) {
        return FileObjectStore(dir_ / "objects")
            .get("aw/root/t1/chat-1/agent-state/claude-code/claude/" + path);
    }
    std::optional<std::string> stored(const std::string& path) {
        return FileObjectStore(dir_ / "objects").get("aw/root/t1/chat-1/workspace/" + path);
    }

    TempDir dir_{"aw-ws"};
    // (the fixture's own worker lives directly under dir_)
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

TEST_F(ExecutorWorkspace, LinkedAgentStateIsSyncedWithItsDeletionsAndComesBackInANewWorker) {
    // A new worker: nothing to restore, but the CLI's state dir becomes a link into the
    // executor's state area, recorded so that every sync sends it to its key.
    const fs::path home = dir_ / "home";
    const auto linked =
        client().link(trace_, toJson(statePlan(dir_.path(), RestoreSituation::NewWorker)));
    EXPECT_EQ(linked["links"], 1);
    EXPECT_EQ(linked["files"], 0);
    ASSERT_TRUE(fs::is_symlink(home / ".claude"));
    EXPECT_EQ(fs::read_symlink(home / ".claude"), dir_ / "state" / "links" / "claude-code_claude");
    EXPECT_NE(readText(dir_ / "state" / "links.json")
                  .find("root/t1/chat-1/agent-state/claude-code/claude/"),
              std::string::npos);

    // The CLI writes its session store through the link.
    write(home / ".claude" / "projects" / "p1" / "session.jsonl", "{\"turn\":1}\n");
    write(home / ".claude" / "settings.json", "{}");
    write(workspace() / "a.txt", "alpha");
    fs::create_directories(dir_ / "elsewhere");
    write(dir_ / "elsewhere" / "secret.txt", "not the CLI's");
    fs::create_directory_symlink(dir_ / "elsewhere", home / ".claude" / "escape");
    const auto first = client().sync(trace_, "incremental", "message.stop");
    EXPECT_EQ(first["agent_state"]["uploaded_files"], 2) << first.dump();
    EXPECT_EQ(first["agent_state"]["slots"], 1);
    EXPECT_EQ(first["workspace"]["uploaded_files"], 1);
    EXPECT_EQ(first["uploaded_files"], 3) << "the totals count both";
    EXPECT_EQ(storedState("projects/p1/session.jsonl"), "{\"turn\":1}\n");
    EXPECT_EQ(storedState("settings.json"), "{}");
    EXPECT_FALSE(storedState("escape/secret.txt").has_value())
        << "symlinks in the state dir are not followed";

    const auto again = client().sync(trace_, "incremental", "test");
    EXPECT_EQ(again["uploaded_files"], 0) << again.dump();
    EXPECT_EQ(again["agent_state"]["unchanged_files"], 2);

    // A file deleted in the state dir is deleted in the store on the next sync.
    fs::remove(home / ".claude" / "settings.json");
    const auto deleted = client().sync(trace_, "incremental", "test");
    EXPECT_EQ(deleted["agent_state"]["deleted_files"], 1) << deleted.dump();
    EXPECT_FALSE(storedState("settings.json").has_value());
    EXPECT_EQ(client().sync(trace_, "full", "test")["agent_state"]["uploaded_files"], 1);

    // The record is durable: a restarted executor on the same state dir still syncs the slot.
    executor_->terminate();
    executor_ = launch(dir_.path());
    ASSERT_TRUE(executor_);
    write(home / ".claude" / "projects" / "p1" / "session.jsonl", "{\"turn\":1}\n{\"turn\":2}\n");
    EXPECT_EQ(client().sync(trace_, "incremental", "test")["agent_state"]["uploaded_files"], 1);
    EXPECT_EQ(storedState("projects/p1/session.jsonl"), "{\"turn\":1}\n{\"turn\":2}\n");

    // The worker is gone; a brand-new one restores the plan and finds the state through the link.
    executor_->terminate();
    const fs::path second = dir_ / "second";
    auto replacement = launch(second);
    ASSERT_TRUE(replacement);
    const auto plan = toJson(statePlan(second, RestoreSituation::Recreated));
    EXPECT_EQ(client(second).validate(trace_, plan)["missing_paths"].size(), 1u)
        << "the link is not there yet";
    EXPECT_EQ(client(second).restore(trace_, plan)["files"], 1);
    const auto relinked = client(second).link(trace_, plan);
    EXPECT_EQ(relinked["files"], 1) << relinked.dump();
    EXPECT_EQ(relinked["links"], 1);
    EXPECT_TRUE(fs::is_symlink(second / "home" / ".claude"));
    EXPECT_EQ(readText(second / "home" / ".claude" / "projects" / "p1" / "session.jsonl"),
              "{\"turn\":1}\n{\"turn\":2}\n");
    EXPECT_FALSE(fs::exists(second / "home" / ".claude" / "settings.json"))
        << "deleted, so not restored";
    EXPECT_EQ(readText(second / "workspace" / "a.txt"), "alpha");
    EXPECT_TRUE(client(second).validate(trace_, plan)["missing_paths"].empty());
    // Its syncs send the state to the same key.
    write(second / "home" / ".claude" / "projects" / "p1" / "session.jsonl", "resumed");
    const auto resumed = client(second).sync(trace_, "incremental", "test");
    EXPECT_EQ(resumed["agent_state"]["files"], 1);
    EXPECT_EQ(storedState("projects/p1/session.jsonl"), "resumed");
}

}  // namespace
}  // namespace aw::test
