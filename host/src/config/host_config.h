// agent-host's configuration: one table of documented keys, resolved in layers
// (built-in defaults < --config FILE < AW_* environment < command-line flags).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "agent_worker/core/lifecycle_policy.h"
#include "executor/http_executor_client_options.h"
#include "http/http_server.h"
#include "provider/provider_supervisor_options.h"
#include "runs/run_engine_options.h"
#include "runtime/docker_worker_runtime.h"
#include "runtime/swarm_worker_runtime.h"
#include "runtime/worker_sandbox.h"
#include "storage/s3_transport.h"

namespace aw {

//! A documented configuration key. `envName()` derives AW_<KEY> from it.
struct ConfigKey {
    std::string key;  //!< dotted name, as in the JSON file (`auth.client_tokens`)
    //! As text; lists are comma-separated; empty = unset. Where a part's options struct has
    //! the setting, the default is read from that struct: it is written there only.
    std::string defaultValue;
    std::string description;
    bool isList = false;
    bool isSecret = false;  //!< never printed or logged
};

//! Every key agent-host reads. docs/configuration.md documents the same table.
const std::vector<ConfigKey>& hostConfigKeys();

//! `auth.client_tokens` -> `AW_AUTH_CLIENT_TOKENS`.
std::string envName(const std::string& key);

//! A listen address split into host and port.
struct ListenAddress {
    std::string host;
    unsigned short port = 0;
    bool isLoopback() const;
    std::string url() const;  //!< http://host:port ([host] for IPv6)
};

//! Parses `HOST:PORT` or `[V6]:PORT`; throws ProblemError `invalid_listen` when malformed.
ListenAddress parseListenAddress(const std::string& text);

//! The resolved configuration agent-host runs with.
struct HostConfig {
    ListenAddress listen;
    //! agent-host's URL as the workers' executors reach it for callbacks (`public_url`): the
    //! load balancer in front of the replicas. Empty: this host's own loopback URL.
    std::string publicUrl;
    //! The name of the workers' owner (`cluster_id`): docker and swarm workers are named and
    //! labelled with it, so replicas that share it share their workers. Empty: host_id.
    std::string clusterId;
    std::string clusterSecret;  //!< empty: <data dir>/cluster-secret (runtime/cluster_secret.h)
    std::string dataDir;
    std::string databaseUrl;
    std::string pluginsDir;
    std::string sqlDir;
    std::string logLevel;
    std::vector<std::string> clientTokens;
    std::vector<std::string> adminTokens;
    std::size_t maxBodyBytes = 1024 * 1024;
    //! As many as HTTP threads, so no request waits for a connection (SQLite in WAL mode:
    //! readers do not block each other; writers queue on BEGIN IMMEDIATE either way).
    int dbPoolSize = 16;
    int dbConnectTimeoutSeconds = 5;
    //! The HTTP server: threads, connection caps, deadlines (http.*).
    HttpServerOptions http;
    int accessLogSample = 10;  //!< see Router::setAccessLogSample
    //! Provider processes: plugins dir, agent-provider-host path, timeouts, restart policy.
    ProviderSupervisorOptions providers;
    //! Calls to workers' executors: retry policy (AW_EXECUTOR_RETRY_*) and timeouts.
    HttpExecutorClientOptions executor;
    std::string executorBinary;
    std::vector<std::string> executorTokens;  //!< operator tokens; workers have their own
    std::vector<std::string> metricsTokens;   //!< GET /metrics only (admin tokens too)
    //! The local runtime's sandbox (its hidden paths are the host's to fill in).
    LocalSandboxOptions localSandbox;
    //! The docker runtime's settings (docker.*); the host fills in its id, directories and
    //! callback URL. The socket is resolved (docker.socket, DOCKER_HOST, the default) only
    //! when `runtime` is docker.
    DockerRuntimeOptions docker;
    //! The swarm runtime's settings (swarm.*, config/swarm_config.h); the host fills in the
    //! rest as for docker.
    SwarmRuntimeOptions swarm;
    std::string objectsDir;                   //!< the file object store's root
    std::string objectStoreKind = "file";     //!< object_store.kind: file | s3
    //! The s3 store (kind s3): endpoint, region, path style, the bucket, and the credentials
    //! from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN (never printed).
    S3Settings s3;
    std::string restoreManifestFile;          //!< empty: the default manifest
    LifecyclePolicy lifecycle;
    std::chrono::seconds reaperInterval{60};  //!< 0: reapers only on request
    //! The run path: queue, dispatcher, stop, timeouts, restore level, object store naming,
    //! provider settings. `runs.queue.hostId` may be empty (the host fills in hostname:port).
    RunEngineOptions runs;
    //! Finished queue entries (run_queue_done) older than this are deleted; 0 keeps them.
    std::chrono::seconds queueDoneRetention{7 * 86400};
    int sseMaxStreams = 10000;
    std::chrono::milliseconds sseKeepAlive{15000};

    //! Effective values as JSON, secrets replaced by their count (for /admin/config, logs).
    std::string redactedJson() const;
};

//! Where each layer comes from. `binaryDir` anchors the plugins and sql defaults.
struct ConfigSources {
    std::string configFile;                    //!< empty: no file layer
    //! AW_* variables and the three AWS credentials (others ignored).
    std::map<std::string, std::string> env;
    std::map<std::string, std::string> flags;  //!< key -> value from the command line
    std::string binaryDir;
};

//! Resolves the layers. Throws ProblemError (`config_unreadable`, `config_invalid`,
//! `invalid_listen`, ...) naming the file, key or value at fault.
HostConfig loadHostConfig(const ConfigSources& sources);

//! The current process environment: AW_* variables, and AWS_ACCESS_KEY_ID,
//! AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN for the s3 object store.
std::map<std::string, std::string> awEnvironment();

}  // namespace aw
