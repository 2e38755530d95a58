// The `swarm` worker runtime: one Docker Swarm service per session worker, made and driven
// through the Engine API on a manager's socket (runtime/docker_services.h), so that a worker
// may run on any node of the swarm.
//
// - The service `aw-<host id>-<session>` (labelled like the docker runtime's containers) has
//   one replica while the worker runs and none while it is stopped; remove deletes it. Its
//   task runs agent-executor hardened as in the docker runtime (non-root user, every
//   capability dropped, read-only root with a tmpfs /tmp, docker-init as PID 1), with the
//   resource reservations, limits and placement constraints of `swarm.*`, and no restart
//   policy: the host decides.
// - No bind mounts: the workspace and home are the task's own volumes, filled from the
//   object store (s3) at every start and synced back before every stop and remove. A stopped
//   worker keeps no files (keepsFilesWhileStopped), so each start restores in full.
// - No stdin either: the task gets a single-use bootstrap token in its spec, which its
//   executor exchanges with any replica, before it runs anything, for its two tokens and the
//   S3 credentials, telling where it listens (loopback TCP with the host network). The host
//   calls it there with its token; never a container address. Tokens, addresses and
//   bootstraps live in the database (runtime/executor_directory.h), the tokens derived from
//   the cluster's secret: every replica, on any machine, drives every worker.
// - A task that failed, or whose node is down, makes the worker Stopped; a service gone
//   makes it Missing. Either way the next message starts it again and restores it.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "runtime/docker_engine.h"
#include "runtime/docker_services.h"
#include "runtime/callback_tokens.h"
#include "runtime/executor_directory.h"
#include "runtime/executor_runtime.h"
#include "storage/s3_transport.h"

namespace aw {

struct SwarmRuntimeOptions {
    std::string socketPath = std::string(kDefaultDockerSocket);  //!< a manager's socket
    std::string image;  //!< every node must have it (no registry: load it on each)
    //! `host`: executors listen on the node's loopback and call back the host's loopback URL
    //! (one node, or agent-host on every node); an overlay network otherwise.
    std::string network = "host";
    std::string user = "10001:10001";
    std::int64_t memoryBytes = 2LL * 1024 * 1024 * 1024;  //!< limit
    std::int64_t memoryReservationBytes = 0;              //!< placement needs this free
    double cpus = 2.0;                                    //!< limit
    double cpuReservation = 0;
    std::int64_t pidsLimit = 512;
    std::vector<std::string> constraints;  //!< placement (`node.labels.aw==workers`)
    std::chrono::milliseconds stopGrace{10000};
    std::chrono::milliseconds startTimeout{60000};  //!< update until the executor answers
    std::int64_t tmpBytes = 512LL * 1024 * 1024;    //!< the tmpfs /tmp
    std::int64_t stateBytes = 256LL * 1024 * 1024;  //!< the tmpfs /aw/state (spool)
    //! Where the executor listens, as it sees it (port 0: it picks one and reports it).
    std::string executorListen = "127.0.0.1:0";

    //! The host's URL as worker tasks reach it (callbacks, bootstrap); empty: the host's
    //! loopback URL (one node, host network).
    std::string hostUrl;

    std::string hostId;
    //! Every replica's: the workers' executor addresses, token nonces and bootstraps.
    ExecutorDirectory* directory = nullptr;
    //! The cluster's secret, the same on every replica: the workers' tokens derive from it.
    std::string clusterSecret;
    std::optional<S3Settings> s3;      //!< required: the workspace follows the worker there
    std::string callbackUrl;           //!< the host's POST /v1/callbacks/executor
    std::string bootstrapUrl;          //!< the host's POST /v1/executors/bootstrap
    std::size_t callbackMaxBodyBytes = 0;
    std::string executorPath = "/usr/local/bin/agent-executor";
};

//! What an executor gets for its bootstrap token.
struct BootstrapGrant {
    std::string executorId;
    std::string executorToken;
    std::string callbackToken;
    std::optional<S3Credentials> s3;

    nlohmann::json toJson() const;
};

class SwarmWorkerRuntime : public ExecutorRuntime {
public:
    //! Throws ProblemError `runtime_unavailable` when the engine is no swarm manager or lacks
    //! the image, `config_invalid` without the s3 store, with a bad user, or with a cluster
    //! secret that is not the one the cluster's other replicas use.
    explicit SwarmWorkerRuntime(SwarmRuntimeOptions options);

    SandboxState inspect(const SessionWorker& worker) override;
    void create(const SessionWorker& worker) override;
    void start(const SessionWorker& worker) override;
    void stop(const SessionWorker& worker) override;
    void remove(const SessionWorker& worker) override;
    //! A stopped worker's task is gone, and the next may run on another node.
    bool keepsFilesWhileStopped() const override { return false; }

    CallbackTokens& callbackTokens() override { return callbackTokens_; }
    //! `swarm-<session>`.
    std::string executorId(const SessionWorker& worker) const override {
        return "swarm-" + worker.sessionId;
    }
    //! `http://<the address the executor reported>` with the worker's token.
    ExecutorEndpoint endpoint(const SessionWorker& worker) const override;
    RestoreRoots roots(const SessionWorker&) const override;
    bool executorRunning(const SessionWorker& worker) override;
    bool isWorkerUid(uid_t uid) const override { return uid == uid_; }

    //! The exchange behind POST /v1/executors/bootstrap: the worker whose pending bootstrap
    //! token this is gets its grant, and `address` (host:port, where its executor listens)
    //! is recorded as its endpoint. nullopt for a wrong, used or revoked token, and for an
    //! address that is no IP address and port (the token is used up all the same).
    std::optional<BootstrapGrant> redeemBootstrap(const std::string& token,
                                                  const std::string& address);

    //! `aw-<host id>-<session>`, in the characters service names allow.
    std::string serviceName(const SessionWorker& worker) const;
    //! The Engine API service spec: `replicas` of it, the task given `bootstrapToken` (none
    //! when empty).
    nlohmann::json serviceSpec(const SessionWorker& worker, std::int64_t replicas,
                               const std::string& bootstrapToken) const;
    //! Why workers cannot be made right now; nullopt when they can. For readiness probes.
    std::optional<Problem> unavailableReason();
    DockerEngine& engine() { return engine_; }

private:
    //! The worker's entry made where missing, and its callback token bound.
    void issueTokens(const SessionWorker& worker);
    //! `purpose`'s token of the worker whose nonce is `nonce`.
    std::string tokenOf(const char* purpose, const SessionWorker& worker,
                        const std::string& nonce) const;
    std::string addressOf(const SessionWorker& worker) const;
    //! Replaces the service's spec with `spec` at its current version (retried when someone
    //! changed it meanwhile).
    void updateSpec(const SessionWorker& worker, const nlohmann::json& spec);
    //! Waits until the executor of a task not among `before` reported its address and
    //! answers /health; throws when such a task fails or the start times out.
    void awaitExecutor(const SessionWorker& worker, const std::vector<std::string>& before);
    std::vector<std::string> taskIds(const SessionWorker& worker);

    SwarmRuntimeOptions options_;
    DockerEngine engine_;
    DockerServices services_;
    uid_t uid_ = 0;
    std::string networkId_;
    ExecutorDirectory& directory_;
    CallbackTokens callbackTokens_;
};

}  // namespace aw
