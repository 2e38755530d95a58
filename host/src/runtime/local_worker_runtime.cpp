#include "runtime/local_worker_runtime.h"

#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>

#include "agent_worker/core/identifiers.h"
#include "agent_worker/core/workspace_prefix.h"
#include "logging/json_formatter.h"
#include "runtime/executor_store_args.h"

namespace aw {
namespace {

namespace fs = std::filesystem;

ProblemError runtimeProblem(const std::string& message, const std::string& hint) {
    return ProblemError({"runtime_unavailable", message, hint});
}

//! Gives `dir` and everything below it to `uid` (not following links), unless it is already
//! its owner's: a worker's files are its own, whoever (the host, an earlier uid) made them.
void giveTo(const fs::path& dir, uid_t uid) {
    struct stat top {};
    if (::lstat(dir.c_str(), &top) != 0) return;
    if (top.st_uid == uid && top.st_gid == uid) return;
    ::lchown(dir.c_str(), uid, uid);
    std::error_code error;
    for (auto it = fs::recursive_directory_iterator(dir, error);
         !error && it != fs::recursive_directory_iterator(); it.increment(error)) {
        ::lchown(it->path().c_str(), uid, uid);
    }
}

//! The end of a log file, its lines joined, for an error message.
std::string lastLines(const fs::path& file, std::size_t bytes) {
    std::ifstream in(file, std::ios::binary);
    std::stringstream content;
    content << in.rdbuf();
    std::string text = content.str();
    if (text.size() > bytes) text = text.substr(text.size() - bytes);
    for (char& c : text) {
        if (c == '\n') c = ' ';
    }
    return text.empty() ? "nothing logged" : text;
}

uid_t ownerOf(const fs::path& path) {
    struct stat status {};
    return ::lstat(path.c_str(), &status) == 0 ? status.st_uid : static_cast<uid_t>(-1);
}

}  // namespace

LocalWorkerRuntime::LocalWorkerRuntime(LocalRuntimeOptions options)
    : options_(std::move(options)), sandbox_(options_.sandbox) {
    options_.workersDir = fs::absolute(options_.workersDir).lexically_normal();
    options_.objectsDir = fs::absolute(options_.objectsDir).lexically_normal();
    options_.executorBinary = fs::absolute(options_.executorBinary).lexically_normal().string();
    if (sandbox_.enabled()) {
        if (auto reason = sandbox_.unavailableReason()) {
            throw runtimeProblem(
                "workers cannot be sandboxed on this machine: " + *reason,
                "install bubblewrap (apt-get install bubblewrap) and run agent-host as root, "
                "or set runtime.local.unsandboxed: true (development only: agents can then "
                "read each other's files and the host's)");
        }
    } else {
        logFields(
            Poco::Logger::get("agent-host"), Poco::Message::PRIO_WARNING,
            "runtime.local.unsandboxed is set: workers run as agent-host's user without a sandbox; "
            "an agent can read other sessions' files and the host's data",
            {});
    }
    fs::create_directories(options_.workersDir);
    // Workers created by an earlier life of this host keep their callback tokens: their
    // executors (or the next ones, on the same spool) still deliver with them.
    tokens_.emplace(options_.workersDir,
                    [this](const SessionWorker& worker) { return executorId(worker); });
}

LocalWorkerRuntime::~LocalWorkerRuntime() {
    // Executors stop with the host that started them; their spools keep undelivered output.
    // All are asked at once and share one grace, so shutdown does not grow with the workers.
    std::lock_guard lock(mutex_);
    for (auto& [session, executor] : executors_) executor->signal(SIGTERM);
    const auto deadline = std::chrono::steady_clock::now() + options_.stopGrace;
    for (auto& [session, executor] : executors_) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        executor->terminate(std::max(left, std::chrono::milliseconds(0)));
    }
}

fs::path LocalWorkerRuntime::workerDir(const SessionWorker& worker) const {
    if (auto problem = checkIdentifier("session", worker.sessionId)) throw ProblemError(*problem);
    return options_.workersDir / worker.sessionId;
}

RestoreRoots LocalWorkerRuntime::roots(const SessionWorker& worker) const {
    const auto dir = workerDir(worker);
    return {(dir / "workspace").string(), (dir / "home").string()};
}

ExecutorEndpoint LocalWorkerRuntime::endpoint(const SessionWorker& worker) const {
    return {"unix://" + (workerDir(worker) / "executor.sock").string(),
            tokens_->executorToken(worker)};
}

std::optional<pid_t> LocalWorkerRuntime::executorPid(const SessionWorker& worker) const {
    std::lock_guard lock(mutex_);
    const auto it = executors_.find(worker.sessionId);
    if (it == executors_.end() || it->second->poll()) return std::nullopt;
    return it->second->pid();
}

fs::path LocalWorkerRuntime::privateDir(const SessionWorker& worker) const {
    return tokens_->privateDir(worker);
}

fs::path LocalWorkerRuntime::objectsPrefixDir(const SessionWorker& worker) const {
    const auto prefix = parseWorkspacePrefix(worker.workspaceS3Prefix);
    return (options_.objectsDir / prefix.bucket / prefix.keyPrefix).lexically_normal();
}

uid_t LocalWorkerRuntime::workerUid(const SessionWorker& worker) {
    const auto dir = workerDir(worker);
    std::lock_guard lock(mutex_);
    if (const uid_t owner = ownerOf(dir); sandbox_.isWorkerUid(owner)) return owner;
    std::set<uid_t> taken;
    std::error_code error;
    for (const auto& entry : fs::directory_iterator(options_.workersDir, error)) {
        taken.insert(ownerOf(entry.path()));
    }
    const auto uid = sandbox_.freeUid(taken);
    if (!uid) {
        throw runtimeProblem("every uid of runtime.local.first_uid/uid_count is given to a worker",
                             "remove idle workers or widen runtime.local.uid_count");
    }
    giveTo(dir, *uid);
    return *uid;
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
    // Only the worker's uid (and the host) may enter its directories.
    for (const auto& path : {dir, dir / "workspace", dir / "home", dir / "tmp", dir / "state"}) {
        fs::permissions(path, fs::perms::owner_all);
    }
    tokens_->issue(worker);
    if (sandbox_.enabled()) workerUid(worker);
}

void LocalWorkerRuntime::start(const SessionWorker& worker) {
    if (inspect(worker) == SandboxState::Running) return;
    if (inspect(worker) == SandboxState::Missing) {
        throw runtimeProblem("worker " + worker.sessionId + " has no sandbox to start",
                             "create it first");
    }
    const auto dir = workerDir(worker);
    const auto prefix = parseWorkspacePrefix(worker.workspaceS3Prefix);
    fs::create_directories(dir / "tmp");  // workers created before it existed
    tokens_->issue(worker);  // workers from before the private directory have none there
    // Tokens of workers from before the private directory, where their agents could read them.
    std::error_code ignored;
    for (const char* old : {"token", "callback-token"}) fs::remove(dir / "state" / old, ignored);
    // With the s3 store there is no objects directory: the sandbox shows the worker's own
    // directory in its place, which it shows anyway.
    const auto objects = options_.s3 ? dir : objectsPrefixDir(worker);
    fs::create_directories(objects);

    SubprocessOptions spawn;
    // It stops with this host (the watchdog notices the parent is gone); a restarted host
    // starts a new one on the same spool, which delivers what the old one could not.
    std::vector<std::string> command{options_.executorBinary,
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
                                     "--bucket",
                                     prefix.bucket,
                                     "--key-prefix",
                                     prefix.keyPrefix,
                                     "--state-dir",
                                     (dir / "state").string(),
                                     "--exit-with-parent"};
    const auto store = executorStoreArguments(options_.s3, options_.objectsDir.string());
    command.insert(command.end(), store.begin(), store.end());
    if (options_.callbackMaxBodyBytes > 0) {
        command.push_back("--callback-max-body-bytes");
        command.push_back(std::to_string(options_.callbackMaxBodyBytes));
    }
    // A clean environment: nothing of agent-host's (API keys, AW_* settings) reaches the
    // executor and thus the agent CLI; provider variables come with each run's spec.
    spawn.inheritEnvironment = false;
    for (const char* name : {"PATH", "LANG", "LC_ALL", "TZ", "USER", "LOGNAME", "SHELL"}) {
        if (const char* value = std::getenv(name)) spawn.env[name] = value;
    }
    spawn.env["HOME"] = (dir / "home").string();
    spawn.env["TMPDIR"] = (dir / "tmp").string();
    if (sandbox_.enabled()) {
        SandboxView view;
        view.uid = workerUid(worker);
        view.workerDir = dir;
        view.objectsPrefixDir = objects;
        view.executorBinary = options_.executorBinary;
        view.path = spawn.env.count("PATH") ? spawn.env["PATH"] : "";
        view.passwdFile = privateDir(worker) / "passwd";
        view.groupFile = privateDir(worker) / "group";
        WorkerSandbox::writeIdentityFiles(view);
        giveTo(dir, view.uid);
        giveTo(objects, view.uid);
        spawn.argv = sandbox_.wrap(view, command);
        spawn.env["USER"] = spawn.env["LOGNAME"] = "aw-worker";
        // bubblewrap (outside) ignores SIGTERM and leaves it to the executor, which takes it
        // back: a stop is graceful, not the namespace killed at once.
        spawn.ignoredSignals = {SIGTERM};
    } else {
        spawn.argv = command;
    }
    spawn.workingDir = (dir / "workspace").string();
    spawn.stderrFile = (dir / "state" / "executor.log").string();
    spawn.pipeStdin = true;  // the tokens, never in the environment or on the command line
    std::unique_ptr<Subprocess> executor;
    try {
        executor = std::make_unique<Subprocess>(spawn);
    } catch (const std::system_error& e) {
        throw runtimeProblem(std::string("cannot start agent-executor: ") + e.what(),
                             "build it (make) or set the executor binary path");
    }
    executor->writeStdin(
        executorStdin(tokens_->executorToken(worker), tokens_->callbackToken(worker), options_.s3));
    executor->closeStdin();
    const auto line = executor->readLine(options_.startTimeout);
    if (!line || line->find("listening") == std::string::npos) {
        const auto status = executor->terminate(options_.stopGrace);
        const auto log = dir / "state" / "executor.log";
        throw runtimeProblem("agent-executor for " + worker.sessionId + " did not start (" +
                                 status.describe() + "): " + lastLines(log, 600) + " (" +
                                 log.string() + ")",
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
    tokens_->revoke(worker);
    std::error_code error;
    fs::remove_all(workerDir(worker), error);
    if (error)
        throw runtimeProblem("cannot remove " + workerDir(worker).string() + ": " + error.message(),
                             "");
}

}  // namespace aw
