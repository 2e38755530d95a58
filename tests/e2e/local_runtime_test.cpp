// The local worker runtime with real agent-executor processes: create, start, a run whose
// output reaches the host's callback, sync into the file store, a dead executor seen as
// stopped, stop and remove.
#include <gtest/gtest.h>

#include <signal.h>

#include <fstream>
#include <thread>

#include "agent_worker/core/workspace_prefix.h"
#include "runtime/local_worker_runtime.h"
#include "storage/file_object_store.h"
#include "support/callback_sink.h"
#include "support/temp_dir.h"

namespace aw::test {
namespace {

using namespace std::chrono_literals;

class LocalRuntime : public ::testing::Test {
protected:
    LocalRuntime() {
        worker_.sessionId = "chat-7";
        worker_.workspaceS3Prefix = computeWorkspacePrefix("agent-worker", "root", "tenant-1", "chat-7").uri();
    }
    HttpExecutorClient client() {
        HttpExecutorClientOptions options;
        options.retry.maxAttempts = 1;
        return HttpExecutorClient(runtime_.endpoint(worker_), options);
    }

    TempDir data_{"aw-local"};
    CallbackSink sink_;
    LocalWorkerRuntime runtime_{{data_ / "workers", data_ / "objects",
                                 std::string(AW_BUILD_DIR) + "/bin/agent-executor", sink_.url(), "cb-token"}};
    SessionWorker worker_;
    const TraceContext trace_{"", "chat-7", "local-chat-7", ""};
};

TEST_F(LocalRuntime, AWorkerLivesThroughCreateStartRunSyncStopAndRemove) {
    EXPECT_EQ(runtime_.inspect(worker_), SandboxState::Missing);
    runtime_.create(worker_);
    runtime_.create(worker_);  // idempotent
    EXPECT_EQ(runtime_.inspect(worker_), SandboxState::Stopped);
    runtime_.start(worker_);
    runtime_.start(worker_);  // idempotent
    ASSERT_EQ(runtime_.inspect(worker_), SandboxState::Running);
    EXPECT_EQ((std::filesystem::status(runtime_.workerDir(worker_) / "state" / "token").permissions() &
               std::filesystem::perms::group_read),
              std::filesystem::perms::none);

    client().startRun(trace_, {{"run_id", "r1"}, {"argv", {"sh", "-c", "echo hello from the worker"}}});
    ASSERT_TRUE(sink_.waitForExit("r1"));
    EXPECT_EQ(sink_.events("r1", "stdout").at(0)["line"], "hello from the worker");
    EXPECT_EQ(sink_.lastToken(), "Bearer cb-token");

    std::ofstream(runtime_.workerDir(worker_) / "workspace" / "notes.md") << "kept";
    EXPECT_EQ(client().sync(trace_, "incremental", "idle_stop")["uploaded_files"], 1);
    EXPECT_EQ(FileObjectStore(data_ / "objects").get("agent-worker/root/tenant-1/chat-7/workspace/notes.md"), "kept");

    runtime_.stop(worker_);
    runtime_.stop(worker_);  // idempotent
    EXPECT_EQ(runtime_.inspect(worker_), SandboxState::Stopped);
    EXPECT_TRUE(std::filesystem::exists(runtime_.workerDir(worker_) / "workspace" / "notes.md"));
    runtime_.remove(worker_);
    runtime_.remove(worker_);  // idempotent
    EXPECT_EQ(runtime_.inspect(worker_), SandboxState::Missing);
    EXPECT_FALSE(std::filesystem::exists(runtime_.workerDir(worker_)));
}

TEST_F(LocalRuntime, ADeadExecutorIsSeenAsStoppedAndCanBeStartedAgain) {
    runtime_.create(worker_);
    runtime_.start(worker_);
    const auto pid = runtime_.executorPid(worker_);
    ASSERT_TRUE(pid.has_value());
    ::kill(*pid, SIGKILL);
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (runtime_.inspect(worker_) == SandboxState::Running && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(20ms);
    }
    EXPECT_EQ(runtime_.inspect(worker_), SandboxState::Stopped) << "a dead executor must not look running";
    runtime_.start(worker_);
    EXPECT_EQ(runtime_.inspect(worker_), SandboxState::Running);
    EXPECT_EQ(client().health(trace_)["status"], "ok");
    EXPECT_NE(runtime_.executorPid(worker_), pid);
}

}  // namespace
}  // namespace aw::test
