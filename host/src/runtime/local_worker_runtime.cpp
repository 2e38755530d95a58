#include "runtime/local_worker_runtime.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "agent_worker/core/identifiers.h"
#include "agent_worker/core/random_id.h"
#include "agent_worker/core/workspace_prefix.h"

namespace aw {
namespace {

namespace fs = std::filesystem;

ProblemError runtimeProblem(const std::string& message, const std::string& hint) {
    return ProblemError({"runtime_unavailable", message, hint});
}

//! A new random token in `file`, written 0600 from the start (it is a credential).
std::string writeNewToken(const fs::path& file) {
    const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (fd < 0) throw runtimeProblem("cannot create " + file.string(), "check the data dir");
    const std::string token = newToken();
    const std::string line = token + "\n";
    const bool written = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size());
    ::close(fd);
    if (!written) throw runtimeProblem("cannot write " + file.string(), "check free space");
    return token;
}

std::string readFirstLine(const fs::path& file) {
    std::ifstream in(file);
    std::string line;
    std::getline(in, line);
    return line;
}

}  // namespace

LocalWorkerRuntime::LocalWorkerRuntime(LocalRuntimeOptions options) : options_(std::move(options)) {
    options_.workersDir = fs::absolute(options_.workersDir).lexically_normal();
    options_.objectsDir = fs::absolute(options_.objectsDir).lexically_normal();
    fs::create_directories(options_.workersDir);
    // Workers created by an earlier life of this host keep their callback tokens: their
    // executors (or the next ones, on the same spool) still deliver with them.
    std::error_code error;
    for (const auto& entry : fs::directory_iterator(options_.workersDir, error)) {
        const std::string session = entry.path().filename().string();
        if (checkIdentifier("session", session)) continue;
        const std::string token = readFirstLine(entry.path() / "state" / "callback-token");
        if (!token.empty()) callbackTokens_.bind(session, "local-" + session, token);
    }
}

LocalWorkerRuntime::~LocalWorkerRuntime() {
    // Executors stop with the host that started them; their spools keep undelivered output.
    std::lock_guard lock(mutex_);
    for (auto& [session, executor] : executors_) executor->terminate(options_.stopGrace);
}

fs::path LocalWorkerRuntime::workerDir(const SessionWorker& worker) const {
    if (auto problem = checkIdentifier("session", worker.sessionId)) throw ProblemError(*problem);
    return options_.workersDir / worker.sessionId;
}

ExecutorEndpoint LocalWorkerRuntime::endpoint(const SessionWorker& worker) const {
    return {"unix://" + (workerDir(worker) / "executor.sock").string(), readToken(worker)};
}

std::optional<pid_t> LocalWorkerRuntime::executorPid(const SessionWorker& worker) const {
    std::lock_guard lock(mutex_);
    const auto it = executors_.find(worker.sessionId);
    if (it == executors_.end() || it->second->poll()) return std::nullopt;
    return it->second->pid();
}

std::string LocalWorkerRuntime::readToken(const SessionWorker& worker) const {
    return readFirstLine(workerDir(worker) / "state" / "token");
}

std::string LocalWorkerRuntime::callbackToken(const SessionWorker& worker) {
    const auto file = workerDir(worker) / "state" / "callback-token";
    std::string token = readFirstLine(file);
    if (token.empty()) token = writeNewToken(file);  // a worker from before per-worker tokens
    callbackTokens_.bind(worker.sessionId, executorId(worker), token);
    return token;
}

SandboxState LocalWorkerRuntime::inspect(const SessionWorker& worker) {
    const auto dir = workerDir(worker);
    if (!fs::is_directory(dir / "workspace")) return SandboxState::Missing;
    std::lock_guard lock(mutex_);
    const auto it = executors_.find(worker.sessionId);
    if (it == executors_.end() || it->second->poll()) return SandboxState::Stopped;
    return SandboxState::Running;
}

void LocalWorkerRuntime::create(const SessionWorker& worker) {
    const auto dir = workerDir(worker);
    for (const char* sub : {"workspace", "home", "tmp", "state"}) fs::create_directories(dir / sub);
    fs::permissions(dir / "state", fs::perms::owner_all);
    // The token callers of the executor present, and the one it presents on its callbacks.
    if (!fs::exists(dir / "state" / "token")) writeNewToken(dir / "state" / "token");
    callbackToken(worker);
}

void LocalWorkerRuntime::start(const SessionWorker& worker) {
    if (inspect(worker) == SandboxState::Running) return;
    if (inspect(worker) == SandboxState::Missing) {
        throw runtimeProblem("worker " + worker.sessionId + " has no sandbox to start", "create it first");
    }
    const auto dir = workerDir(worker);
    const auto prefix = parseWorkspacePrefix(worker.workspaceS3Prefix);
    fs::create_directories(dir / "tmp");  // workers created before it existed
    SubprocessOptions spawn;
    // It stops with this host (the watchdog notices the parent is gone); a restarted host
    // starts a new one on the same spool, which delivers what the old one could not.
    spawn.argv = {options_.executorBinary,
                  "--socket",
                  (dir / "executor.sock").string(),
                  "--spool-dir",
                  (dir / "state" / "spool").string(),
                  "--callback-url",
                  options_.callbackUrl,
                  "--executor-id",
                  executorId(worker),
                  "--session-id",
                  worker.sessionId,
                  "--workspace",
                  (dir / "workspace").string(),
                  "--home",
                  (dir / "home").string(),
                  "--objects-dir",
                  options_.objectsDir.string(),
                  "--bucket",
                  prefix.bucket,
                  "--key-prefix",
                  prefix.keyPrefix,
                  "--state-dir",
                  (dir / "state").string(),
                  "--exit-with-parent"};
    if (options_.callbackMaxBodyBytes > 0) {
        spawn.argv.push_back("--callback-max-body-bytes");
        spawn.argv.push_back(std::to_string(options_.callbackMaxBodyBytes));
    }
    // A clean environment: nothing of agent-host's (API keys, AW_* settings) reaches the
    // executor and thus the agent CLI; provider variables come with each run's spec.
    spawn.inheritEnvironment = false;
    for (const char* name : {"PATH", "LANG", "LC_ALL", "TZ", "USER", "LOGNAME", "SHELL"}) {
        if (const char* value = std::getenv(name)) spawn.env[name] = value;
    }
    spawn.env["HOME"] = (dir / "home").string();
    spawn.env["TMPDIR"] = (dir / "tmp").string();
    spawn.env["AW_EXECUTOR_TOKEN"] = readToken(worker);
    spawn.env["AW_CALLBACK_TOKEN"] = callbackToken(worker);
    spawn.workingDir = (dir / "workspace").string();
    spawn.stderrFile = (dir / "state" / "executor.log").string();
    std::unique_ptr<Subprocess> executor;
    try {
        executor = std::make_unique<Subprocess>(spawn);
    } catch (const std::system_error& e) {
        throw runtimeProblem(std::string("cannot start agent-executor: ") + e.what(),
                             "build it (make) or set the executor binary path");
    }
    const auto line = executor->readLine(options_.startTimeout);
    if (!line || line->find("listening") == std::string::npos) {
        const auto status = executor->terminate(options_.stopGrace);
        throw runtimeProblem("agent-executor for " + worker.sessionId + " did not start (" +
                                 status.describe() + "); see " + (dir / "state" / "executor.log").string(),
                             "check the executor log");
    }
    std::lock_guard lock(mutex_);
    executors_[worker.sessionId] = std::move(executor);
}

void LocalWorkerRuntime::stop(const SessionWorker& worker) {
    std::unique_ptr<Subprocess> executor;
    {
        std::lock_guard lock(mutex_);
        const auto it = executors_.find(worker.sessionId);
        if (it == executors_.end()) return;
        executor = std::move(it->second);
        executors_.erase(it);
    }
    executor->terminate(options_.stopGrace);
}

void LocalWorkerRuntime::remove(const SessionWorker& worker) {
    stop(worker);
    // Revoked before the files go: nothing the removed worker left can post again.
    callbackTokens_.revoke(worker.sessionId);
    std::error_code error;
    fs::remove_all(workerDir(worker), error);
    if (error) throw runtimeProblem("cannot remove " + workerDir(worker).string() + ": " + error.message(), "");
}

}  // namespace aw
