#include "runtime/swarm_worker_runtime.h"

#include <Poco/Net/IPAddress.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <set>
#include <thread>

#include "agent_worker/core/identifiers.h"
#include "agent_worker/core/random_id.h"
#include "agent_worker/core/workspace_prefix.h"
#include "runtime/docker_worker_runtime.h"
#include "runtime/executor_store_args.h"

namespace aw {
namespace {

using namespace std::chrono_literals;

// Inside every worker task.
constexpr const char* kWorkspace = "/workspace";
constexpr const char* kHome = "/home/agent";
constexpr const char* kStateDir = "/aw/state";
//! The executor reads its bootstrap token here, and drops it from its environment.
constexpr const char* kBootstrapVariable = "AW_BOOTSTRAP_TOKEN";

const std::string kImageHint =
    "load the worker image on every node (make worker-image, or docker save | docker load) "
    "or set swarm.image to an image the nodes have";

ProblemError runtimeProblem(const std::string& message, const std::string& hint) {
    return ProblemError({"runtime_unavailable", message, hint});
}

std::int64_t nanoCpus(double cpus) {
    return static_cast<std::int64_t>(std::llround(cpus * 1e9));
}

//! A task the engine will not run again.
bool ended(const TaskStatus& task) {
    static const std::set<std::string> kEnded{"complete", "failed",   "shutdown",
                                              "rejected", "orphaned", "remove"};
    return kEnded.count(task.state) > 0;
}

//! `ip:port` or `[ipv6]:port`, as an executor reports where it listens (never a name to look up).
bool isIpAndPort(const std::string& address) {
    const auto colon = address.rfind(':');
    if (colon == std::string::npos) return false;
    std::string host = address.substr(0, colon);
    const std::string port = address.substr(colon + 1);
    if (host.size() > 2 && host.front() == '[' && host.back() == ']')
        host = host.substr(1, host.size() - 2);
    Poco::Net::IPAddress ip;
    if (!Poco::Net::IPAddress::tryParse(host, ip) || port.empty() || port.size() > 5 ||
        port.find_first_not_of("0123456789") != std::string::npos)
        return false;
    const int number = std::stoi(port);
    return number > 0 && number < 65536;
}

//! The directory the runtime keeps its workers' executors in; it must have one.
ExecutorDirectory& directoryOf(const SwarmRuntimeOptions& options) {
    if (!options.directory || options.clusterSecret.empty()) {
        throw ProblemError({"config_invalid",
                            "the swarm runtime needs the cluster's database and secret",
                            "set cluster_secret (AW_CLUSTER_SECRET), or leave it to agent-host"});
    }
    return *options.directory;
}

}  // namespace

nlohmann::json BootstrapGrant::toJson() const {
    nlohmann::json out{{"executor_id", executorId},
                       {"executor_token", executorToken},
                       {"callback_token", callbackToken}};
    if (s3) {
        out["s3"] = {{"access_key_id", s3->accessKeyId},
                     {"secret_access_key", s3->secretAccessKey},
                     {"session_token", s3->sessionToken}};
    }
    return out;
}

SwarmWorkerRuntime::SwarmWorkerRuntime(SwarmRuntimeOptions options)
    : options_(std::move(options)),
      engine_(options_.socketPath),
      services_(engine_),
      directory_(directoryOf(options_)) {
    uid_ = parseDockerUser(options_.user).first;
    if (options_.hostId.empty()) {
        throw ProblemError({"config_invalid", "the swarm runtime needs this host's id",
                            "set host_id (AW_HOST_ID)"});
    }
    if (!options_.s3) {
        throw ProblemError(
            {"config_invalid", "the swarm runtime needs the s3 object store",
             "set object_store.kind to s3: a worker may start on any node, so its workspace "
             "lives in the bucket between starts (docs/swarm-runtime.md)"});
    }
    engine_.ping();
    services_.requireSwarmManager();
    engine_.requireImage(options_.image, kImageHint);
    networkId_ = services_.networkId(options_.network);
    // A replica with another secret would present tokens no executor accepts: refused here.
    const std::string fingerprint = derivedToken(options_.clusterSecret, "fingerprint");
    if (directory_.adoptSecretFingerprint(fingerprint) != fingerprint) {
        throw ProblemError(
            {"config_invalid",
             "this host's cluster_secret is not the one the other replicas of its cluster use "
             "(the database records another)",
             "give every replica sharing the database the same cluster_secret "
             "(AW_CLUSTER_SECRET); docs/deployment.md, \"Several agent-host replicas\""});
    }
}

void SwarmWorkerRuntime::issueTokens(const SessionWorker& worker) {
    if (auto problem = checkIdentifier("session", worker.sessionId)) throw ProblemError(*problem);
    const auto entry = directory_.ensure(worker.sessionId, newToken());
    callbackTokens_.bind(worker.sessionId, executorId(worker),
                         tokenOf("callback", worker, entry.nonce));
}

std::string SwarmWorkerRuntime::tokenOf(const char* purpose, const SessionWorker& worker,
                                        const std::string& nonce) const {
    return derivedToken(options_.clusterSecret,
                        std::string(purpose) + "\n" + worker.sessionId + "\n" + nonce);
}

std::string SwarmWorkerRuntime::serviceName(const SessionWorker& worker) const {
    if (auto problem = checkIdentifier("session", worker.sessionId)) throw ProblemError(*problem);
    // Service names are [a-zA-Z0-9][a-zA-Z0-9_.-]*, at most 63 characters.
    std::string name = "aw-" + options_.hostId + "-" + worker.sessionId;
    for (char& c : name) {
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '.' && c != '-')
            c = '-';
    }
    return name;
}

RestoreRoots SwarmWorkerRuntime::roots(const SessionWorker&) const {
    return {kWorkspace, kHome};
}

nlohmann::json SwarmWorkerRuntime::serviceSpec(const SessionWorker& worker, std::int64_t replicas,
                                               const std::string& bootstrapToken) const {
    const auto prefix = parseWorkspacePrefix(worker.workspaceS3Prefix);
    std::vector<std::string> args{"--listen",        options_.executorListen,
                                  "--bootstrap-url", options_.bootstrapUrl,
                                  "--spool-dir",     std::string(kStateDir) + "/spool",
                                  "--callback-url",  options_.callbackUrl,
                                  "--executor-id",   executorId(worker),
                                  "--session-id",    worker.sessionId,
                                  "--workspace",     kWorkspace,
                                  "--home",          kHome,
                                  "--bucket",        prefix.bucket,
                                  "--key-prefix",    prefix.keyPrefix,
                                  "--state-dir",     kStateDir};
    const auto store = executorStoreArguments(options_.s3, "");
    args.insert(args.end(), store.begin(), store.end());
    if (options_.callbackMaxBodyBytes > 0) {
        args.push_back("--callback-max-body-bytes");
        args.push_back(std::to_string(options_.callbackMaxBodyBytes));
    }
    const nlohmann::json labels{{std::string(kLabelSession), worker.sessionId},
                                {std::string(kLabelTenant), worker.tenantId},
                                {std::string(kLabelHost), options_.hostId},
                                {std::string(kLabelVersion), projectVersion()}};
    // A clean environment, as in the docker runtime; provider variables come with each run.
    nlohmann::json env{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                       std::string("HOME=") + kHome,
                       "TMPDIR=/tmp",
                       "LANG=C.UTF-8",
                       "USER=agent",
                       "LOGNAME=agent"};
    if (!bootstrapToken.empty())
        env.push_back(std::string(kBootstrapVariable) + "=" + bootstrapToken);
    auto tmpfs = [](const char* target, std::int64_t bytes) {
        return nlohmann::json{{"Type", "tmpfs"},
                              {"Target", target},
                              {"TmpfsOptions", {{"SizeBytes", bytes}, {"Mode", 01777}}}};
    };
    // The workspace and home are the task's own anonymous volumes (the image's directories,
    // the agent's, are copied in): nothing of the node's, gone with the task.
    const nlohmann::json mounts{{{"Type", "volume"}, {"Target", kWorkspace}},
                                {{"Type", "volume"}, {"Target", kHome}},
                                tmpfs("/tmp", options_.tmpBytes),
                                tmpfs(kStateDir, options_.stateBytes)};
    const nlohmann::json container{
        {"Image", options_.image},
        {"Command", {options_.executorPath}},
        {"Args", args},
        {"User", options_.user},
        {"Dir", kWorkspace},
        {"Env", env},
        {"Hostname", "aw-worker"},
        {"Labels", labels},
        {"Init", true},  // docker-init as PID 1: reaps what agents leave, passes SIGTERM on
        {"ReadOnly", true},
        {"CapabilityDrop", {"ALL"}},
        {"Mounts", mounts},
        {"StopSignal", "SIGTERM"},
        {"StopGracePeriod", options_.stopGrace.count() * 1000000}};
    nlohmann::json resources{{"Limits",
                              {{"NanoCPUs", nanoCpus(options_.cpus)},
                               {"MemoryBytes", options_.memoryBytes},
                               {"Pids", options_.pidsLimit}}},
                             {"Reservations",
                              {{"NanoCPUs", nanoCpus(options_.cpuReservation)},
                               {"MemoryBytes", options_.memoryReservationBytes}}}};
    nlohmann::json networks = nlohmann::json::array();
    networks.push_back({{"Target", networkId_}});
    const nlohmann::json task{
        {"ContainerSpec", container},
        {"Resources", resources},
        // The host decides: a task that ends stays ended, and the worker is seen stopped.
        {"RestartPolicy", {{"Condition", "none"}, {"MaxAttempts", 0}}},
        {"Placement", {{"Constraints", options_.constraints}}},
        {"Networks", networks},
        {"LogDriver",
         {{"Name", "json-file"}, {"Options", {{"max-size", "10m"}, {"max-file", "2"}}}}}};
    return {{"Name", serviceName(worker)},
            {"Labels", labels},
            {"TaskTemplate", task},
            {"Mode", {{"Replicated", {{"Replicas", replicas}}}}}};
}

SandboxState SwarmWorkerRuntime::inspect(const SessionWorker& worker) {
    const auto service = services_.inspectService(serviceName(worker));
    if (!service) return SandboxState::Missing;
    if (service->replicas == 0) return SandboxState::Stopped;
    // One replica wanted: running only while a task runs on a node that is up. A task that
    // failed, or ran on a node that left, is not replaced (no restart policy): stopped.
    for (const auto& task : services_.serviceTasks(serviceName(worker))) {
        if (task.desiredState == "running" && task.state == "running" &&
            services_.nodeIsUp(task.nodeId))
            return SandboxState::Running;
    }
    return SandboxState::Stopped;
}

bool SwarmWorkerRuntime::executorRunning(const SessionWorker& worker) {
    try {
        return inspect(worker) == SandboxState::Running;
    } catch (const ProblemError&) {
        return true;  // an engine that does not answer says nothing about the executor
    }
}

void SwarmWorkerRuntime::create(const SessionWorker& worker) {
    issueTokens(worker);
    if (services_.inspectService(serviceName(worker))) return;
    try {
        services_.createService(serviceSpec(worker, 0, ""));
    } catch (const ProblemError& e) {
        if (e.problem().code != "service_exists") throw;  // made meanwhile: created, as asked
    }
}

void SwarmWorkerRuntime::updateSpec(const SessionWorker& worker, const nlohmann::json& spec) {
    for (int attempt = 1;; ++attempt) {
        const auto service = services_.inspectService(serviceName(worker));
        if (!service) {
            throw runtimeProblem("worker " + worker.sessionId + " has no service",
                                 "create it first");
        }
        try {
            services_.updateService(service->id, service->version, spec);
            return;
        } catch (const ProblemError& e) {
            if (e.problem().code != "service_changed" || attempt == 3) throw;
        }
    }
}

std::vector<std::string> SwarmWorkerRuntime::taskIds(const SessionWorker& worker) {
    std::vector<std::string> ids;
    for (const auto& task : services_.serviceTasks(serviceName(worker))) ids.push_back(task.id);
    return ids;
}

void SwarmWorkerRuntime::start(const SessionWorker& worker) {
    const auto state = inspect(worker);
    if (state == SandboxState::Missing) {
        throw runtimeProblem("worker " + worker.sessionId + " has no service to start",
                             "create it first");
    }
    if (state == SandboxState::Running && !addressOf(worker).empty()) return;
    issueTokens(worker);
    // A new token each start: the spec changes, so the engine makes a new task, whose
    // executor alone can use it. Expected (and the old address forgotten) before the task
    // can present it.
    const std::string bootstrap = newToken();
    directory_.expectBootstrap(worker.sessionId, tokenDigest(bootstrap));
    const auto before = taskIds(worker);
    updateSpec(worker, serviceSpec(worker, 1, bootstrap));
    awaitExecutor(worker, before);
}

void SwarmWorkerRuntime::awaitExecutor(const SessionWorker& worker,
                                       const std::vector<std::string>& before) {
    const std::set<std::string> old(before.begin(), before.end());
    const auto deadline = std::chrono::steady_clock::now() + options_.startTimeout;
    const TraceContext trace{newTraceId(), worker.sessionId, executorId(worker), ""};
    bool answered = false;
    while (true) {
        if (!answered && !addressOf(worker).empty()) {
            HttpExecutorClientOptions options;
            options.retry.maxAttempts = 1;
            options.defaultTimeout = 2000ms;
            try {
                HttpExecutorClient(endpoint(worker), options).health(trace);
                answered = true;
            } catch (const std::exception&) {
                // Not serving yet; asked again below.
            }
        }
        const auto tasks = services_.serviceTasks(serviceName(worker));
        // The node reports its task running a moment after the executor answers: started
        // once both say so, so that inspect agrees from the first call on.
        if (answered && std::any_of(tasks.begin(), tasks.end(), [&](const TaskStatus& task) {
                return !old.count(task.id) && task.state == "running";
            }))
            return;
        for (const auto& task : tasks) {
            if (old.count(task.id) || !ended(task)) continue;
            directory_.forget(worker.sessionId);
            const std::string logs = task.containerId.empty()
                                         ? std::string("no container")
                                         : engine_.containerLogs(task.containerId, 20);
            throw runtimeProblem(
                "the task of service " + serviceName(worker) + " " + task.state +
                    (task.error.empty() ? "" : ": " + task.error) + " (exit code " +
                    std::to_string(task.exitCode) + "): " + logs,
                "check the worker image and docker service ps --no-trunc " + serviceName(worker));
        }
        if (std::chrono::steady_clock::now() > deadline) {
            directory_.forget(worker.sessionId);
            throw runtimeProblem("the executor of service " + serviceName(worker) +
                                     " did not answer within " +
                                     std::to_string(options_.startTimeout.count()) + " ms",
                                 "check docker service ps --no-trunc " + serviceName(worker) +
                                     " (a placement no node satisfies stays pending) and the "
                                     "host's URL the executor calls (swarm.* in "
                                     "docs/configuration.md)");
        }
        std::this_thread::sleep_for(25ms);
    }
}

void SwarmWorkerRuntime::stop(const SessionWorker& worker) {
    directory_.forget(worker.sessionId);
    const auto service = services_.inspectService(serviceName(worker));
    if (!service) return;
    if (service->replicas != 0) updateSpec(worker, serviceSpec(worker, 0, ""));
    // Done once no task runs any more (the engine sends SIGTERM, SIGKILL after the grace).
    const auto deadline = std::chrono::steady_clock::now() + options_.stopGrace + 30s;
    while (std::chrono::steady_clock::now() < deadline) {
        bool running = false;
        for (const auto& task : services_.serviceTasks(serviceName(worker)))
            running = running || !ended(task);
        if (!running) return;
        std::this_thread::sleep_for(50ms);
    }
    throw runtimeProblem("the task of service " + serviceName(worker) + " did not stop",
                         "check docker service ps --no-trunc " + serviceName(worker));
}

void SwarmWorkerRuntime::remove(const SessionWorker& worker) {
    directory_.forget(worker.sessionId);
    services_.removeService(serviceName(worker));
    // Revoked before the entry goes: nothing the removed worker left can post again.
    callbackTokens_.revoke(worker.sessionId);
    directory_.erase(worker.sessionId);
}

std::optional<BootstrapGrant> SwarmWorkerRuntime::redeemBootstrap(const std::string& token,
                                                                  const std::string& address) {
    if (token.empty()) return std::nullopt;
    // A bad address uses the token up all the same, and records nothing.
    const bool reachable = isIpAndPort(address);
    const auto sessionId = directory_.redeem(tokenDigest(token), reachable ? address : "");
    if (!sessionId || !reachable) return std::nullopt;
    SessionWorker worker;
    worker.sessionId = *sessionId;
    const auto entry = directory_.find(worker.sessionId);
    if (!entry) return std::nullopt;  // removed meanwhile
    const std::string callbackToken = tokenOf("callback", worker, entry->nonce);
    callbackTokens_.bind(worker.sessionId, executorId(worker), callbackToken);
    return BootstrapGrant{executorId(worker), tokenOf("executor", worker, entry->nonce),
                          callbackToken, options_.s3->credentials};
}

std::string SwarmWorkerRuntime::addressOf(const SessionWorker& worker) const {
    // Asked every time: another replica, or an earlier life of this one, may have started the
    // worker (and a restart replaced the address).
    const auto entry = directory_.find(worker.sessionId);
    return entry ? entry->address : std::string();
}

ExecutorEndpoint SwarmWorkerRuntime::endpoint(const SessionWorker& worker) const {
    const auto entry = directory_.find(worker.sessionId);
    const std::string address = entry ? entry->address : std::string();
    // No address: the executor has not reported one; a call fails at once (port 0).
    return {"http://" + (address.empty() ? std::string("127.0.0.1:0") : address),
            entry ? tokenOf("executor", worker, entry->nonce) : std::string()};
}

std::optional<Problem> SwarmWorkerRuntime::unavailableReason() {
    DockerEngine probe(options_.socketPath, 5s);
    DockerServices swarm(probe);
    try {
        probe.ping();
        swarm.requireSwarmManager();
        probe.requireImage(options_.image, kImageHint);
    } catch (const ProblemError& e) {
        return e.problem();
    }
    return std::nullopt;
}

}  // namespace aw
