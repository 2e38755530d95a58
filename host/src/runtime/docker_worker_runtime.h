// The `docker` worker runtime: one hardened container per session worker, made and driven
// through the Docker Engine API (runtime/docker_engine.h).
//
// - The container `aw-<host id>-<session>` runs agent-executor (from the image) as a
//   non-root user with every capability dropped, no-new-privileges, a read-only root file
//   system with a tmpfs /tmp, and memory, CPU and pids limits. Labels name the session, the
//   tenant, the host and the project version, so a restarted host (or an operator) finds its
//   own containers.
// - The worker's files live in a directory of its own under the host's data dir
//   (<data>/workers/<session>/: workspace, home, state, run), owned by the container's user,
//   bind-mounted into that container alone and removed with it. The executor serves a unix
//   socket in run/, which the host calls: never a container IP address. Callbacks go to the
//   host's URL (loopback with `--network host`).
// - Tokens as in the local runtime: issued at create, revoked at remove, kept 0600 in
//   <data>/workers-private/<session>/, which no container sees. The executor reads them on
//   its stdin: the host attaches to the container's stdin, starts it, writes the two lines
//   and closes it (StdinOnce), so the tokens are never in a file, the environment or the
//   command line the agent could read. With the s3 store the S3 credentials follow them
//   there (runtime/executor_store_args.h), the same lines the local runtime writes.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "agent_worker/core/lifecycle_ports.h"
#include "agent_worker/core/problem.h"
#include "agent_worker/core/restore_paths.h"
#include "executor/http_executor_client.h"
#include "runtime/docker_engine.h"
#include "runtime/executor_runtime.h"
#include "runtime/worker_tokens.h"
#include "storage/s3_transport.h"

namespace aw {

//! The project version the host was built as (image tag and container label).
std::string projectVersion();

//! `uid:gid` in numbers, not root; throws ProblemError `config_invalid` otherwise.
std::pair<uid_t, gid_t> parseDockerUser(const std::string& user);

struct DockerRuntimeOptions {
    std::string socketPath = std::string(kDefaultDockerSocket);  //!< the engine's unix socket
    std::string image = "agent-worker/worker:" + projectVersion();
    //! `host` lets executors call back on the host's loopback URL; see docs/deployment.md.
    std::string network = "host";
    std::string user = "10001:10001";  //!< uid:gid (numeric: it owns the worker's directory)
    std::int64_t memoryBytes = 2LL * 1024 * 1024 * 1024;
    double cpus = 2.0;
    std::int64_t pidsLimit = 512;
    std::chrono::milliseconds stopGrace{10000};     //!< SIGTERM, then SIGKILL
    std::chrono::milliseconds startTimeout{30000};  //!< start until the executor answers
    std::int64_t tmpBytes = 512LL * 1024 * 1024;    //!< the tmpfs /tmp

    std::string hostId;                    //!< this host's id (container names and labels)
    std::filesystem::path workersDir;      //!< <data dir>/workers
    std::filesystem::path objectsDir;      //!< the file object store root
    //! Set: the executors use this s3 store instead of the file store at objectsDir (no
    //! objects directory is mounted; the credentials reach them on the container's stdin
    //! after their tokens).
    std::optional<S3Settings> s3{};
    std::string callbackUrl;               //!< the host's POST /v1/callbacks/executor
    std::size_t callbackMaxBodyBytes = 0;  //!< the host's http.max_body_bytes (0: default)
    std::string executorPath = "/usr/local/bin/agent-executor";  //!< inside the image
};

//! Container labels (`docker ps --filter label=agent-worker.host=<id>`).
inline constexpr std::string_view kLabelSession = "agent-worker.session";
inline constexpr std::string_view kLabelTenant = "agent-worker.tenant";
inline constexpr std::string_view kLabelHost = "agent-worker.host";
inline constexpr std::string_view kLabelVersion = "agent-worker.version";

class DockerWorkerRuntime : public ExecutorRuntime {
public:
    //! Paths inside every worker container.
    static constexpr std::string_view kWorkspace = "/workspace";
    static constexpr std::string_view kHome = "/home/agent";

    //! Throws ProblemError `runtime_unavailable` when the engine cannot be reached or lacks
    //! the image, and `config_invalid` for a user that is not uid:gid.
    explicit DockerWorkerRuntime(DockerRuntimeOptions options);

    SandboxState inspect(const SessionWorker& worker) override;
    void create(const SessionWorker& worker) override;
    void start(const SessionWorker& worker) override;
    void stop(const SessionWorker& worker) override;
    void remove(const SessionWorker& worker) override;

    CallbackTokens& callbackTokens() override { return tokens_->callbackTokens(); }
    //! `docker-<session>`.
    std::string executorId(const SessionWorker& worker) const override {
        return "docker-" + worker.sessionId;
    }
    //! The worker's executor on its unix socket, on the host's side of the bind directory.
    ExecutorEndpoint endpoint(const SessionWorker& worker) const override;
    //! The workspace and home as the worker's container shows them.
    RestoreRoots roots(const SessionWorker&) const override {
        return {std::string(kWorkspace), std::string(kHome)};
    }
    //! The container runs: its executor is PID 1's only child, so it ends with it. An engine
    //! that does not answer says nothing about the executor: not taken for its death.
    bool executorRunning(const SessionWorker& worker) override;
    //! `aw-<host id>-<session>`, made of the characters container names allow.
    std::string containerName(const SessionWorker& worker) const;
    //! The Engine API create body for the worker's container.
    nlohmann::json containerSpec(const SessionWorker& worker) const;
    //! Why workers cannot be made right now (the engine does not answer, or lacks the
    //! image), in words with what to do; nullopt when they can. For readiness probes.
    std::optional<Problem> unavailableReason();
    //! This host's containers (by label), running or not.
    std::vector<ContainerSummary> list();
    //! The worker's directories on the host (absolute).
    std::filesystem::path workerDir(const SessionWorker& worker) const;
    std::filesystem::path privateDir(const SessionWorker& worker) const;
    DockerEngine& engine() { return engine_; }
    //! True for the uid worker containers run as: with the host network their agents share
    //! the host's loopback, and are told apart by it.
    bool isWorkerUid(uid_t uid) const override { return uid == uid_; }

private:
    std::filesystem::path objectsPrefixDir(const SessionWorker& worker) const;
    //! Gives the worker's directories to the container's user, 0700.
    void giveToContainerUser(const std::filesystem::path& dir) const;
    //! A stopped container made with another image, command or user is made again (after
    //! an upgrade, or a host that now listens elsewhere).
    void recreateWhenOutdated(const SessionWorker& worker);
    //! Waits until the executor answers /health with the worker's token.
    void awaitExecutor(const SessionWorker& worker);

    DockerRuntimeOptions options_;
    DockerEngine engine_;
    uid_t uid_ = 0;
    gid_t gid_ = 0;
    std::optional<WorkerTokens> tokens_;  //!< made once the workers' directory is known
};

}  // namespace aw
