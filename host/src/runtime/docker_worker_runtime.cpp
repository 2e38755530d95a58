#include "runtime/docker_worker_runtime.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cmath>
#include <thread>

#include "agent_worker/core/identifiers.h"
#include "agent_worker/core/random_id.h"
#include "agent_worker/core/workspace_prefix.h"
#include "runtime/executor_store_args.h"

#ifndef AW_PROJECT_VERSION
#error "AW_PROJECT_VERSION must be defined (host/CMakeLists.txt)"
#endif

namespace aw {
namespace {

namespace fs = std::filesystem;

// Inside every worker container.
constexpr const char* kStateDir = "/aw/state";
constexpr const char* kRunDir = "/aw/run";  //!< the executor's socket, shared with the host
constexpr const char* kObjectsDir = "/aw/objects";
constexpr const char* kSocketName = "executor.sock";

const std::string kImageHint =
    "build the worker image with `make worker-image` (it respects DOCKER_HOST), or set "
    "docker.image to an image the engine has";

ProblemError runtimeProblem(const std::string& message, const std::string& hint) {
    return ProblemError({"runtime_unavailable", message, hint});
}

nlohmann::json bindMount(const fs::path& source, std::string_view target, bool readOnly = false) {
    return {{"Type", "bind"},
            {"Source", source.string()},
            {"Target", std::string(target)},
            {"ReadOnly", readOnly}};
}

}  // namespace

std::string projectVersion() {
    return AW_PROJECT_VERSION;
}

std::pair<uid_t, gid_t> parseDockerUser(const std::string& user) {
    const auto colon = user.find(':');
    auto number = [](const std::string& text) -> long long {
        if (text.empty() || text.size() > 10 ||
            text.find_first_not_of("0123456789") != std::string::npos)
            return -1;
        return std::stoll(text);
    };
    const long long uid = colon == std::string::npos ? -1 : number(user.substr(0, colon));
    const long long gid = colon == std::string::npos ? -1 : number(user.substr(colon + 1));
    if (uid <= 0 || gid <= 0 || uid > 4294967294LL || gid > 4294967294LL) {
        throw ProblemError({"config_invalid",
                            "docker.user is '" + user + "': expected a non-root uid:gid in numbers",
                            "set docker.user (AW_DOCKER_USER) to e.g. 10001:10001; the worker's "
                            "directory on the host is given to that uid"});
    }
    return {static_cast<uid_t>(uid), static_cast<gid_t>(gid)};
}

DockerWorkerRuntime::DockerWorkerRuntime(DockerRuntimeOptions options)
    : options_(std::move(options)), engine_(options_.socketPath) {
    std::tie(uid_, gid_) = parseDockerUser(options_.user);
    if (options_.hostId.empty()) {
        throw ProblemError({"config_invalid", "the docker runtime needs this host's id",
                            "set host_id (AW_HOST_ID)"});
    }
    options_.workersDir = fs::absolute(options_.workersDir).lexically_normal();
    options_.objectsDir = fs::absolute(options_.objectsDir).lexically_normal();
    engine_.ping();
    engine_.requireImage(options_.image, kImageHint);
    fs::create_directories(options_.workersDir);
    // Workers of an earlier life of this host keep their callback tokens: their executors
    // still run (containers outlive the host) and deliver with them.
    tokens_.emplace(options_.workersDir,
                    [this](const SessionWorker& worker) { return executorId(worker); });
}

fs::path DockerWorkerRuntime::workerDir(const SessionWorker& worker) const {
    if (auto problem = checkIdentifier("session", worker.sessionId)) throw ProblemError(*problem);
    return options_.workersDir / worker.sessionId;
}

fs::path DockerWorkerRuntime::privateDir(const SessionWorker& worker) const {
    return tokens_->privateDir(worker);
}

fs::path DockerWorkerRuntime::objectsPrefixDir(const SessionWorker& worker) const {
    const auto prefix = parseWorkspacePrefix(worker.workspaceS3Prefix);
    return (options_.objectsDir / prefix.bucket / prefix.keyPrefix).lexically_normal();
}

std::string DockerWorkerRuntime::containerName(const SessionWorker& worker) const {
    if (auto problem = checkIdentifier("session", worker.sessionId)) throw ProblemError(*problem);
    // Container names are [a-zA-Z0-9][a-zA-Z0-9_.-]*; a host id such as `box:8080` is not.
    std::string name = "aw-" + options_.hostId + "-" + worker.sessionId;
    for (char& c : name) {
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '.' && c != '-')
            c = '-';
    }
    return name;
}

bool DockerWorkerRuntime::executorRunning(const SessionWorker& worker) {
    try {
        return inspect(worker) == SandboxState::Running;
    } catch (const ProblemError&) {
        return true;
    }
}

ExecutorEndpoint DockerWorkerRuntime::endpoint(const SessionWorker& worker) const {
    return {"unix://" + (workerDir(worker) / "run" / kSocketName).string(),
            tokens_->executorToken(worker)};
}

void DockerWorkerRuntime::giveToContainerUser(const fs::path& dir) const {
    struct stat status {};
    if (::lstat(dir.c_str(), &status) == 0 && status.st_uid == uid_ && status.st_gid == gid_)
        return;
    if (::lchown(dir.c_str(), uid_, gid_) != 0) {
        throw runtimeProblem(
            "cannot give " + dir.string() + " to the worker's user " + options_.user,
            "run agent-host as root, or set docker.user to agent-host's own "
            "uid:gid");
    }
    fs::permissions(dir, fs::perms::owner_all);
}

nlohmann::json DockerWorkerRuntime::containerSpec(const SessionWorker& worker) const {
    const auto dir = workerDir(worker);
    const auto prefix = parseWorkspacePrefix(worker.workspaceS3Prefix);
    std::string keyPrefix = prefix.keyPrefix;
    while (!keyPrefix.empty() && keyPrefix.back() == '/') keyPrefix.pop_back();
    const std::string home(kHome), workspace(kWorkspace);
    std::vector<std::string> command{"--socket",       std::string(kRunDir) + "/" + kSocketName,
                                     "--spool-dir",    std::string(kStateDir) + "/spool",
                                     "--callback-url", options_.callbackUrl,
                                     "--executor-id",  executorId(worker),
                                     "--session-id",   worker.sessionId,
                                     "--workspace",    workspace,
                                     "--home",         home,
                                     "--bucket",       prefix.bucket,
                                     "--key-prefix",   prefix.keyPrefix,
                                     "--state-dir",    kStateDir};
    const auto store = executorStoreArguments(options_.s3, kObjectsDir);
    command.insert(command.end(), store.begin(), store.end());
    if (options_.callbackMaxBodyBytes > 0) {
        command.push_back("--callback-max-body-bytes");
        command.push_back(std::to_string(options_.callbackMaxBodyBytes));
    }
    const nlohmann::json labels{{std::string(kLabelSession), worker.sessionId},
                                {std::string(kLabelTenant), worker.tenantId},
                                {std::string(kLabelHost), options_.hostId},
                                {std::string(kLabelVersion), projectVersion()}};
    // Only the worker's own directories and (with the file store) its own object prefix are
    // shown; the host's tokens, database, other workers and the Docker socket are not. With
    // the s3 store the executor reaches the bucket over the network, its credentials on stdin.
    nlohmann::json mounts{bindMount(dir / "workspace", workspace), bindMount(dir / "home", home),
                          bindMount(dir / "state", kStateDir), bindMount(dir / "run", kRunDir)};
    if (!options_.s3) {
        mounts.push_back(bindMount(objectsPrefixDir(worker), std::string(kObjectsDir) + "/" +
                                                                 prefix.bucket + "/" + keyPrefix));
    }
    const nlohmann::json hostConfig{
        {"Mounts", mounts},
        {"NetworkMode", options_.network},
        {"ReadonlyRootfs", true},
        {"Tmpfs",
         {{"/tmp", "rw,nosuid,nodev,mode=1777,size=" + std::to_string(options_.tmpBytes)}}},
        {"CapDrop", {"ALL"}},
        {"SecurityOpt", {"no-new-privileges"}},
        {"Memory", options_.memoryBytes},
        {"MemorySwap", options_.memoryBytes},  // no swap beyond the memory limit
        {"NanoCpus", static_cast<std::int64_t>(std::llround(options_.cpus * 1e9))},
        {"PidsLimit", options_.pidsLimit},
        // docker-init as PID 1: it reaps what the agent leaves and passes SIGTERM on.
        {"Init", true},
        {"RestartPolicy", {{"Name", "no"}}},
        {"LogConfig",
         {{"Type", "json-file"}, {"Config", {{"max-size", "10m"}, {"max-file", "2"}}}}}};
    return {{"Image", options_.image},
            {"Entrypoint", {options_.executorPath}},
            {"Cmd", command},
            {"User", options_.user},
            {"WorkingDir", workspace},
            // A clean environment: nothing of agent-host's; provider variables come with each
            // run's spec.
            {"Env",
             {"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=" + home,
              "TMPDIR=/tmp", "LANG=C.UTF-8", "USER=agent", "LOGNAME=agent"}},
            {"Hostname", "aw-worker"},
            {"Labels", labels},
            // The tokens come on stdin (see start()): open, and closed after the first attach.
            {"OpenStdin", true},
            {"StdinOnce", true},
            {"AttachStdin", false},
            {"Tty", false},
            {"HostConfig", hostConfig}};
}

SandboxState DockerWorkerRuntime::inspect(const SessionWorker& worker) {
    const auto status = engine_.inspectContainer(containerName(worker));
    if (!status || status->status == "removing") return SandboxState::Missing;
    if (status->running) return SandboxState::Running;
    return SandboxState::Stopped;
}

void DockerWorkerRuntime::create(const SessionWorker& worker) {
    const auto dir = workerDir(worker);
    tokens_->issue(worker);
    fs::create_directories(dir);
    for (const char* sub : {"workspace", "home", "state", "run"}) {
        fs::create_directories(dir / sub);
        giveToContainerUser(dir / sub);
    }
    if (!options_.s3) {
        fs::create_directories(objectsPrefixDir(worker));
        giveToContainerUser(objectsPrefixDir(worker));
    }
    // The worker's directory is the host's (0700): other users of the machine see nothing
    // of it; its parts are the container user's.
    fs::permissions(dir, fs::perms::owner_all);
    if (engine_.inspectContainer(containerName(worker))) return;
    try {
        engine_.createContainer(containerName(worker), containerSpec(worker), kImageHint);
    } catch (const ProblemError& e) {
        // Another call made it meanwhile: created, as asked.
        if (e.problem().code != "container_exists") throw;
    }
}

void DockerWorkerRuntime::start(const SessionWorker& worker) {
    const auto state = inspect(worker);
    if (state == SandboxState::Running) return;
    if (state == SandboxState::Missing) {
        throw runtimeProblem("worker " + worker.sessionId + " has no container to start",
                             "create it first");
    }
    tokens_->issue(worker);
    recreateWhenOutdated(worker);
    std::error_code ignored;
    fs::remove(workerDir(worker) / "run" / kSocketName, ignored);  // the last executor's
    engine_.startWithStdin(
        containerName(worker),
        executorStdin(tokens_->executorToken(worker), tokens_->callbackToken(worker), options_.s3));
    awaitExecutor(worker);
}

void DockerWorkerRuntime::recreateWhenOutdated(const SessionWorker& worker) {
    const auto status = engine_.inspectContainer(containerName(worker));
    if (!status) return;
    const auto& config = status->raw["Config"];
    const auto wanted = containerSpec(worker);
    // What a stopped container was made with is fixed; its files are in the worker's
    // directory, so a container of the current image, command (callback URL) and user
    // replaces it at no cost.
    const bool outdated = config.value("Image", "") != wanted["Image"] ||
                          config.value("Entrypoint", nlohmann::json()) != wanted["Entrypoint"] ||
                          config.value("Cmd", nlohmann::json()) != wanted["Cmd"] ||
                          config.value("User", "") != wanted["User"];
    if (!outdated) return;
    engine_.removeContainer(containerName(worker));
    engine_.createContainer(containerName(worker), wanted, kImageHint);
}

void DockerWorkerRuntime::awaitExecutor(const SessionWorker& worker) {
    HttpExecutorClientOptions options;
    options.retry.maxAttempts = 1;
    options.defaultTimeout = std::chrono::milliseconds(2000);
    HttpExecutorClient client(endpoint(worker), options);
    const TraceContext trace{newTraceId(), worker.sessionId, executorId(worker), ""};
    const auto deadline = std::chrono::steady_clock::now() + options_.startTimeout;
    const auto socket = workerDir(worker) / "run" / kSocketName;
    while (true) {
        if (fs::exists(socket)) {
            try {
                client.health(trace);
                return;
            } catch (const std::exception&) {
                // Not listening yet; asked again below.
            }
        }
        const auto status = engine_.inspectContainer(containerName(worker));
        const bool gone = !status || !status->running;
        if (gone || std::chrono::steady_clock::now() > deadline) {
            const std::string why =
                gone ? "exited" + (status ? " with code " + std::to_string(status->exitCode)
                                          : std::string(" and is gone"))
                     : "did not answer within " + std::to_string(options_.startTimeout.count()) +
                           " ms";
            throw runtimeProblem("agent-executor in container " + containerName(worker) + " " +
                                     why + ": " +
                                     (status ? engine_.containerLogs(containerName(worker), 20)
                                             : std::string("no logs")),
                                 "check the worker image (make worker-image) and docker logs " +
                                     containerName(worker));
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
}

void DockerWorkerRuntime::stop(const SessionWorker& worker) {
    engine_.stopContainer(containerName(worker), options_.stopGrace);
}

void DockerWorkerRuntime::remove(const SessionWorker& worker) {
    engine_.removeContainer(containerName(worker));
    tokens_->revoke(worker);
    std::error_code error;
    fs::remove_all(workerDir(worker), error);
    if (error) {
        throw runtimeProblem("cannot remove " + workerDir(worker).string() + ": " + error.message(),
                             "check the data dir's permissions");
    }
}

std::optional<Problem> DockerWorkerRuntime::unavailableReason() {
    // Probes repeat: a hung engine is reported after a few seconds, not the calls' minute.
    DockerEngine probe(options_.socketPath, std::chrono::seconds(5));
    try {
        probe.ping();
        probe.requireImage(options_.image, kImageHint);
    } catch (const ProblemError& e) {
        return e.problem();
    }
    return std::nullopt;
}

std::vector<ContainerSummary> DockerWorkerRuntime::list() {
    return engine_.listContainers({{std::string(kLabelHost), options_.hostId}});
}

}  // namespace aw
