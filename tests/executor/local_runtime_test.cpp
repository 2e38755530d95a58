// The local worker runtime with real agent-executor processes: create, start, a run whose
// output reaches the host's callback, sync into the file store, a dead executor seen as
// stopped and restarted (delivering what the dead one could not), the executor's clean
// environment, stop and remove.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <map>
#include <set>
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
        worker_.workspaceS3Prefix =
            computeWorkspacePrefix("agent-worker", "root", "tenant-1", "chat-7").uri();
    }
    HttpExecutorClient client() {
        HttpExecutorClientOptions options;
        options.retry.maxAttempts = 1;
        return HttpExecutorClient(runtime_.endpoint(worker_), options);
    }

    TempDir data_{"aw-local"};
    CallbackSink sink_;
    LocalWorkerRuntime runtime_{{data_ / "workers", data_ / "objects",
                                 std::string(AW_BUILD_DIR) + "/bin/agent-executor", sink_.url()}};
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
    EXPECT_EQ(
        (std::filesystem::status(runtime_.privateDir(worker_) / "executor-token").permissions() &
         (std::filesystem::perms::group_all | std::filesystem::perms::others_all)),
        std::filesystem::perms::none);
    EXPECT_FALSE(std::filesystem::exists(runtime_.workerDir(worker_) / "state" / "token"))
        << "a token in the worker's own directory is readable by its agent";

    client().startRun(trace_,
                      {{"run_id", "r1"}, {"argv", {"sh", "-c", "echo hello from the worker"}}});
    ASSERT_TRUE(sink_.waitForExit("r1"));
    EXPECT_EQ(sink_.events("r1", "stdout").at(0)["line"], "hello from the worker");
    // The executor calls back with its worker's own token, which names that worker.
    const std::string presented = sink_.lastToken();
    ASSERT_EQ(presented.rfind("Bearer ", 0), 0u) << presented;
    const auto caller = runtime_.callbackTokens().identify(presented.substr(7));
    ASSERT_TRUE(caller.has_value()) << "the executor's callback token is not its worker's";
    EXPECT_EQ(caller->sessionId, "chat-7");
    EXPECT_EQ(caller->executorId, "local-chat-7");

    std::ofstream(runtime_.workerDir(worker_) / "workspace" / "notes.md") << "kept";
    EXPECT_EQ(client().sync(trace_, "incremental", "idle_stop")["uploaded_files"], 1);
    EXPECT_EQ(FileObjectStore(data_ / "objects")
                  .get("agent-worker/root/tenant-1/chat-7/workspace/notes.md"),
              "kept");

    runtime_.stop(worker_);
    runtime_.stop(worker_);  // idempotent
    EXPECT_EQ(runtime_.inspect(worker_), SandboxState::Stopped);
    EXPECT_TRUE(std::filesystem::exists(runtime_.workerDir(worker_) / "workspace" / "notes.md"));
    runtime_.remove(worker_);
    runtime_.remove(worker_);  // idempotent
    EXPECT_EQ(runtime_.inspect(worker_), SandboxState::Missing);
    EXPECT_FALSE(std::filesystem::exists(runtime_.workerDir(worker_)));
}

TEST_F(LocalRuntime, EachWorkerHasACallbackTokenOfItsOwnRevokedWhenItIsRemoved) {
    SessionWorker other = worker_;
    other.sessionId = "chat-8";
    other.workspaceS3Prefix =
        computeWorkspacePrefix("agent-worker", "root", "tenant-1", "chat-8").uri();
    runtime_.create(worker_);
    runtime_.create(other);
    const auto tokenFile = [&](const SessionWorker& worker) {
        std::ifstream in(runtime_.privateDir(worker) / "callback-token");
        std::string token;
        std::getline(in, token);
        return token;
    };
    const std::string mine = tokenFile(worker_), theirs = tokenFile(other);
    ASSERT_FALSE(mine.empty());
    ASSERT_NE(mine, theirs);
    EXPECT_EQ(
        (std::filesystem::status(runtime_.privateDir(worker_) / "callback-token").permissions() &
         (std::filesystem::perms::group_all | std::filesystem::perms::others_all)),
        std::filesystem::perms::none);
    EXPECT_EQ(runtime_.callbackTokens().identify(mine)->sessionId, "chat-7");
    EXPECT_EQ(runtime_.callbackTokens().identify(theirs)->sessionId, "chat-8");
    EXPECT_FALSE(runtime_.callbackTokens().identify("guess").has_value());

    // A new runtime on the same data dir (a restarted host) knows the workers' tokens.
    LocalWorkerRuntime restarted{{data_ / "workers", data_ / "objects",
                                  std::string(AW_BUILD_DIR) + "/bin/agent-executor", sink_.url()}};
    EXPECT_EQ(restarted.callbackTokens().identify(mine)->sessionId, "chat-7");

    runtime_.remove(worker_);
    EXPECT_FALSE(runtime_.callbackTokens().identify(mine).has_value())
        << "a removed worker's token still works";
    EXPECT_EQ(runtime_.callbackTokens().identify(theirs)->sessionId, "chat-8");
    runtime_.remove(other);
}

TEST_F(LocalRuntime, EachWorkerRunsUnderAUidOfItsOwnWhichAloneOwnsItsDirectories) {
    SessionWorker other = worker_;
    other.sessionId = "chat-9";
    other.workspaceS3Prefix =
        computeWorkspacePrefix("agent-worker", "root", "tenant-1", "chat-9").uri();
    const auto uidOf = [](const std::filesystem::path& path) {
        struct stat status {};
        EXPECT_EQ(::lstat(path.c_str(), &status), 0) << path;
        return status.st_uid;
    };
    for (const auto& worker : {worker_, other}) {
        runtime_.create(worker);
        runtime_.start(worker);
    }
    const uid_t mine = uidOf(runtime_.workerDir(worker_)),
                theirs = uidOf(runtime_.workerDir(other));
    EXPECT_GE(mine, 1500000u);
    EXPECT_GE(theirs, 1500000u);
    EXPECT_NE(mine, theirs) << "two workers share a uid";
    for (const char* sub : {"", "workspace", "home", "tmp", "state"}) {
        const auto dir = runtime_.workerDir(worker_) / sub;
        EXPECT_EQ(uidOf(dir), mine) << dir;
        EXPECT_EQ(std::filesystem::status(dir).permissions() &
                      (std::filesystem::perms::group_all | std::filesystem::perms::others_all),
                  std::filesystem::perms::none)
            << dir;
    }

    // The run is that uid, in a PID namespace of its own where agent-host does not exist.
    client().startRun(
        trace_, {{"run_id", "who"},
                 {"argv",
                  {"sh", "-c",
                   "id -u; id -un; test -e /proc/" + std::to_string(::getpid()) +
                       "/environ && echo host-visible; test -e " +
                       runtime_.workerDir(other).string() + " && echo other-visible; test -w " +
                       runtime_.workerDir(worker_).string() + "/workspace && echo own-visible"}}});
    ASSERT_TRUE(sink_.waitForExit("who"));
    std::vector<std::string> lines;
    for (const auto& line : sink_.events("who", "stdout")) lines.push_back(line["line"]);
    ASSERT_GE(lines.size(), 2u);
    EXPECT_EQ(lines[0], std::to_string(mine));
    EXPECT_EQ(lines[1], "aw-worker") << "the worker's uid has no name in its /etc/passwd";
    const std::vector<std::string> others(lines.begin() + 2, lines.end());
    EXPECT_EQ(others, std::vector<std::string>{"own-visible"})
        << "the worker sees the host or another worker";
}

TEST_F(LocalRuntime, ADeadExecutorIsSeenAsStoppedAndItsSuccessorDeliversWhatItCouldNot) {
    runtime_.create(worker_);
    runtime_.start(worker_);
    const auto pid = runtime_.executorPid(worker_);
    ASSERT_TRUE(pid.has_value());
    const auto token = runtime_.endpoint(worker_).token;
    // Output the host never received: the host is down while the run prints and ends.
    sink_.setDown(true);
    client().startRun(
        trace_, {{"run_id", "r2"}, {"argv", {"sh", "-c", "for i in 1 2 3 4 5; do echo $i; done"}}});
    auto deadline = std::chrono::steady_clock::now() + 10s;
    while (client().runStatus(trace_, "r2")["state"] != "exited" &&
           std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(20ms);
    }
    ASSERT_EQ(client().runStatus(trace_, "r2")["state"], "exited");
    ::kill(*pid, SIGKILL);
    deadline = std::chrono::steady_clock::now() + 10s;
    while (runtime_.inspect(worker_) == SandboxState::Running &&
           std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(20ms);
    }
    EXPECT_EQ(runtime_.inspect(worker_), SandboxState::Stopped)
        << "a dead executor must not look running";
    EXPECT_TRUE(std::filesystem::exists(runtime_.workerDir(worker_) / "executor.sock"))
        << "a stale socket is left";

    sink_.setDown(false);
    runtime_.start(worker_);
    EXPECT_EQ(runtime_.inspect(worker_), SandboxState::Running);
    EXPECT_EQ(runtime_.endpoint(worker_).token, token) << "the worker keeps its token";
    EXPECT_EQ(client().health(trace_)["status"], "ok");
    EXPECT_NE(runtime_.executorPid(worker_), pid);
    ASSERT_TRUE(sink_.waitForExit("r2")) << "the new executor delivers the old one's spool";
    const auto lines = sink_.events("r2", "stdout");
    ASSERT_EQ(lines.size(), 5u);
    for (std::size_t i = 0; i < lines.size(); ++i)
        EXPECT_EQ(lines[i]["line"], std::to_string(i + 1));
}

TEST_F(LocalRuntime, TheExecutorGetsACleanEnvironmentWithItsOwnHome) {
    ::setenv("ANTHROPIC_API_KEY", "sk-must-not-leak", 1);
    ::setenv("AW_DB", "postgresql://secret", 1);
    runtime_.create(worker_);
    runtime_.start(worker_);
    ::unsetenv("ANTHROPIC_API_KEY");
    ::unsetenv("AW_DB");
    const auto pid = runtime_.executorPid(worker_);
    ASSERT_TRUE(pid.has_value());
    std::ifstream in("/proc/" + std::to_string(*pid) + "/environ", std::ios::binary);
    const std::string environ((std::istreambuf_iterator<char>(in)),
                              std::istreambuf_iterator<char>());
    std::map<std::string, std::string> values;
    for (std::size_t start = 0; start < environ.size();) {
        auto end = environ.find('\0', start);
        if (end == std::string::npos) end = environ.size();
        const std::string item = environ.substr(start, end - start);
        values[item.substr(0, item.find('='))] = item.substr(item.find('=') + 1);
        start = end + 1;
    }
    EXPECT_FALSE(values.count("ANTHROPIC_API_KEY")) << "agent-host's environment leaked";
    EXPECT_FALSE(values.count("AW_DB"));
    const auto dir = runtime_.workerDir(worker_);
    EXPECT_EQ(values["HOME"], (dir / "home").string());
    EXPECT_EQ(values["TMPDIR"], (dir / "tmp").string());
    EXPECT_TRUE(std::filesystem::is_directory(dir / "tmp"));
    if (const char* path = std::getenv("PATH")) {
        EXPECT_EQ(values["PATH"], path);
    }
    for (const auto& [name, value] : values) {
        static const std::set<std::string> allowed{"PATH",    "LANG",  "LC_ALL", "TZ",    "USER",
                                                   "LOGNAME", "SHELL", "HOME",   "TMPDIR"};
        EXPECT_TRUE(allowed.count(name)) << name << " reached the executor";
    }
    EXPECT_EQ(environ.find(runtime_.endpoint(worker_).token), std::string::npos)
        << "the executor token is in the executor's environment";

    // What a run sees: the same, without the executor's own tokens, plus its run id.
    client().startRun(trace_, {{"run_id", "env"}, {"argv", {"env"}}});
    ASSERT_TRUE(sink_.waitForExit("env"));
    std::set<std::string> runNames;
    for (const auto& line : sink_.events("env", "stdout")) {
        const std::string text = line["line"];
        runNames.insert(text.substr(0, text.find('=')));
        if (text.rfind("HOME=", 0) == 0) {
            EXPECT_EQ(text, "HOME=" + (dir / "home").string());
        }
    }
    EXPECT_TRUE(runNames.count("HOME"));
    EXPECT_FALSE(runNames.count("ANTHROPIC_API_KEY"));
    EXPECT_FALSE(runNames.count("AW_EXECUTOR_TOKEN")) << "the run could call its own executor";
    EXPECT_FALSE(runNames.count("AW_CALLBACK_TOKEN"))
        << "the run could post callbacks as the executor";
}

}  // namespace
}  // namespace aw::test
