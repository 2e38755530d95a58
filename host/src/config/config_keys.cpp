// The key table: every key agent-host reads, its default (read from the parts' options
// structs, where it is written once) and what it means. `--help` and docs/configuration.md
// show the same table.
#include "config/host_config.h"
#include "config/swarm_config.h"

#include <cctype>
#include <chrono>

namespace aw {
namespace {

// Defaults as the key table writes them, read from the parts' options structs.
template <typename Number>
std::string numberText(Number value) {
    return std::to_string(value);
}
std::string ms(std::chrono::milliseconds value) {
    return std::to_string(value.count());
}
std::string secs(std::chrono::milliseconds value) {
    return std::to_string(std::chrono::duration_cast<std::chrono::seconds>(value).count());
}
std::string cpusText(double cpus) {
    std::string text = std::to_string(cpus);
    text.erase(text.find_last_not_of('0') + 1);
    if (text.back() == '.') text.pop_back();
    return text;
}
std::string joined(const std::vector<int>& values) {
    std::string out;
    for (int value : values) out += (out.empty() ? "" : ",") + std::to_string(value);
    return out;
}

//! `keys`, then `more` (the parts that keep their key tables apart, such as swarm.*).
std::vector<ConfigKey> followedBy(std::vector<ConfigKey> more, std::vector<ConfigKey> keys) {
    keys.insert(keys.end(), more.begin(), more.end());
    return keys;
}

}  // namespace

const std::vector<ConfigKey>& hostConfigKeys() {
    const HostConfig host;
    const ProviderSupervisorOptions supervisor;
    const HttpExecutorClientOptions executor;
    const RunEngineOptions runs;
    const LifecyclePolicy lifecycle;
    const LocalSandboxOptions sandbox;
    const DockerRuntimeOptions docker;
    const S3Settings s3;
    const auto& placement = runs.submission.placement;
    static const std::vector<ConfigKey> keys{
        {"listen", "127.0.0.1:8080", "HTTP listen address HOST:PORT (port 0 picks a free port)"},
        {"data_dir", "./data", "directory for the SQLite database and local state"},
        {"db", "",
         "database URL: sqlite:///path/file.db or postgresql://...; default "
         "sqlite://<data_dir>/agent.db",
         false, true},
        {"plugins_dir", "",
         "directory of provider plugins (*.so); default <binary dir>/../plugins"},
        {"sql_dir", "",
         "directory of migrations (sqlite/, postgresql/); default <binary "
         "dir>/../sql"},
        {"log_level", "information",
         "trace, debug, information, notice, warning, error, "
         "critical or fatal"},
        {"auth.client_tokens", "", "bearer tokens accepted on /v1/... (list)", true, true},
        {"auth.admin_tokens", "", "bearer tokens accepted on /admin/... (list)", true, true},
        {"http.max_body_bytes", numberText(host.maxBodyBytes),
         "largest request body accepted; larger gets 413"},
        {"http.threads", numberText(host.http.threads),
         "threads running request handlers (idle, slow and streaming connections hold none)"},
        {"http.max_connections", numberText(host.http.maxConnections),
         "connections open at once; more get 503 too_many_connections"},
        {"http.max_connections_per_address", numberText(host.http.maxConnectionsPerAddress),
         "connections open at once from one client address (behind a load balancer: its "
         "address, so raise it)"},
        {"http.request_timeout_ms", ms(host.http.requestTimeout),
         "a request must arrive whole (headers and body) this long after its first byte; "
         "else 408"},
        {"http.access_log_sample", numberText(host.accessLogSample),
         "at information, one in N successful GET/HEAD requests is logged (every other "
         "request, every error and every slow one is); 1 logs all"},
        {"http.idle_timeout_ms", ms(host.http.idleTimeout),
         "a connection waiting for a request (new or kept alive) closes after this"},
        {"db_pool_size", numberText(host.dbPoolSize), "database connections kept open"},
        {"db_connect_timeout_s", numberText(host.dbConnectTimeoutSeconds),
         "how long start-up retries an unreachable database"},
        {"provider_host_binary", "",
         "agent-provider-host program; default <binary "
         "dir>/agent-provider-host"},
        {"supervisor.start_timeout_ms", ms(supervisor.startTimeout),
         "how long a provider may take to load and "
         "hand-shake"},
        {"supervisor.request_timeout_ms", ms(supervisor.requestTimeout),
         "longest wait for one provider request; "
         "past it the provider counts as hung"},
        {"supervisor.heartbeat_interval_ms", ms(supervisor.heartbeatInterval),
         "how often idle providers are pinged"},
        {"supervisor.heartbeat_timeout_ms", ms(supervisor.heartbeatTimeout),
         "a ping unanswered this long marks a "
         "provider hung"},
        {"supervisor.backoff_initial_ms", ms(supervisor.backoffInitial),
         "wait before restarting a provider after its second "
         "crash within supervisor.crash_window_s (the first restarts at once); doubles per "
         "further crash"},
        {"supervisor.backoff_max_ms", ms(supervisor.backoffMax), "longest wait between restarts"},
        {"supervisor.crash_limit", numberText(supervisor.crashLimit),
         "crashes within supervisor.crash_window_s that mark a "
         "provider degraded"},
        {"supervisor.crash_window_s", secs(supervisor.crashWindow), "window for counting crashes"},
        {"supervisor.max_response_bytes", numberText(supervisor.maxResponseBytes),
         "largest response line a provider may "
         "send"},
        {"supervisor.kill_grace_ms", ms(supervisor.killGrace),
         "wait between SIGTERM and SIGKILL for a failing "
         "provider"},
        {"supervisor.watch", supervisor.watchDirectory ? "true" : "false",
         "watch the plugins directory for dropped files"},
        {"executor.retry.attempts", numberText(executor.retry.maxAttempts),
         "attempts per executor call, the first included"},
        {"executor.retry.backoff_ms", ms(executor.retry.initialBackoff),
         "wait before the second attempt (doubles, +20% "
         "jitter)"},
        {"executor.retry.max_backoff_ms", ms(executor.retry.maxBackoff),
         "longest wait between attempts"},
        {"executor.retry.statuses", joined(executor.retry.retryStatuses),
         "HTTP statuses retried (5xx only; 4xx "
         "answers are final)",
         true},
        {"executor.timeout_ms", ms(executor.defaultTimeout),
         "executor calls without a longer default of their own "
         "(restore and sync: 10 min)"},
        {"executor_binary", "",
         "agent-executor program for local workers; default <binary "
         "dir>/agent-executor"},
        {"auth.executor_tokens", "",
         "operator tokens accepted on /v1/callbacks/executor for any "
         "session (tools, tests); workers always call back with a token "
         "of their own",
         true, true},
        {"auth.metrics_tokens", "",
         "bearer tokens accepted on GET /metrics and nothing else (list); admin tokens "
         "are accepted there too",
         true, true},
        {"public_url", "",
         "agent-host's URL as the workers' executors reach it for callbacks: the load "
         "balancer in front of several replicas (http://aw.internal:8080); default: this "
         "host's own, http://127.0.0.1:<listen port>"},
        {"cluster_id", "",
         "the name docker and swarm workers are named and labelled with, so that replicas "
         "sharing it (and the data dir) share their workers; default: host_id"},
        {"cluster_secret", "",
         "the secret the workers' tokens derive from, the same on every replica sharing the "
         "database (at least 32 characters: openssl rand -hex 32); default: made once in "
         "<data_dir>/cluster-secret, enough for replicas that share the data dir",
         false, true},
        {"host_id", "",
         "this host's name in queue leases; default <hostname>:<port>. Keep it "
         "stable: a restarted host takes back its own leases at once"},
        {"tenant_id", placement.tenantId,
         "tenant of the sessions this host serves (workspace prefix)"},
        {"runtime", placement.runtime,
         "worker runtime: local (a sandboxed process per worker), docker (a container per "
         "worker, docker.*) or swarm (a Docker Swarm service per worker, swarm.*)"},
        {"docker.socket", "",
         "the Docker engine's unix socket; default: DOCKER_HOST when it is unix://..., else "
         "/var/run/docker.sock"},
        {"docker.image", docker.image, "worker image (make worker-image builds it)"},
        {"docker.network", docker.network,
         "network mode of worker containers; host lets executors call back on the host's "
         "loopback URL (docs/docker-runtime.md)"},
        {"docker.user", docker.user,
         "uid:gid worker containers run as (numeric, not root; owns the worker's directory)"},
        {"docker.memory_bytes", numberText(docker.memoryBytes),
         "memory limit per worker container"},
        {"docker.cpus", cpusText(docker.cpus), "CPUs per worker container (fractions allowed)"},
        {"docker.pids_limit", numberText(docker.pidsLimit), "processes per worker container"},
        {"docker.stop_grace_ms", ms(docker.stopGrace),
         "a stopped worker container gets SIGTERM, then SIGKILL after this (whole seconds)"},
        {"runtime.local.unsandboxed", sandbox.unsandboxed ? "true" : "false",
         "development only: run local workers as agent-host's user without a sandbox (an agent "
         "can then read other sessions' files and the host's data)"},
        {"runtime.local.first_uid", numberText(sandbox.firstUid),
         "first uid given to local workers (one "
         "each)"},
        {"runtime.local.uid_count", numberText(sandbox.uidCount),
         "how many uids local workers may have "
         "(the most workers at once)"},
        {"runtime.local.read_only_paths", "",
         "more paths a local worker's sandbox shows read-only "
         "(its PATH is shown already)",
         true},
        {"object_store.kind", "file",
         "object store: file (a directory) or s3 (any S3-compatible service; credentials from "
         "AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN)"},
        {"object_store.dir", "", "root of the file object store; default <data_dir>/objects"},
        {"object_store.endpoint", "",
         "s3: the service's URL, e.g. http://127.0.0.1:9000 or https://s3.eu-west-1.amazonaws.com"},
        {"object_store.region", s3.region, "s3: the region requests are signed for"},
        {"object_store.path_style", s3.pathStyle ? "true" : "false",
         "s3: true puts the bucket in the path (endpoint/bucket/key: MinIO, RustFS); false in "
         "the host name (bucket.endpoint-host/key: AWS)"},
        {"object_store.bucket", placement.bucket, "bucket of the session workspaces"},
        {"object_store.root_prefix", placement.rootPrefix, "key prefix above <tenant>/<session>/"},
        {"restore.level", std::string(toString(runs.restoreLevel)),
         "what a worker gets back: none, workspace, agent_state, "
         "caches or full"},
        {"restore.manifest_file", "",
         "runtime manifest (JSON, docs/restore-plan.md); default: "
         "the workspace plus the providers' state paths"},
        {"lifecycle.idle_timeout_s", numberText(lifecycle.idleTimeoutMs / 1000),
         "a worker with no active run this long is synced and "
         "stopped"},
        {"lifecycle.remove_after_s", numberText(lifecycle.removeAfterMs / 1000),
         "a stopped worker this long (whose last sync "
         "succeeded) is removed"},
        {"lifecycle.transition_timeout_s", numberText(lifecycle.transitionTimeoutMs / 1000),
         "a creating/stopping/removing worker this long "
         "is stuck and taken over"},
        {"lifecycle.reaper_interval_s", secs(host.reaperInterval),
         "how often the idle-stop, remove and recovery "
         "passes run (0: only on request)"},
        {"queue.max_attempts", numberText(runs.submission.maxAttempts),
         "attempts per run before final_failed"},
        {"queue.lease_s", secs(runs.queue.lease), "queue lease; extended while a run is worked on"},
        {"queue.retry_initial_ms", ms(runs.queue.retry.initial),
         "wait before a retried run (doubles, +-20% jitter)"},
        {"queue.retry_max_ms", ms(runs.queue.retry.max), "longest wait before a retried run"},
        {"queue.done_retention_s", numberText(host.queueDoneRetention.count()),
         "finished queue entries are deleted this long after they ended (0: kept)"},
        {"dispatcher.concurrency", numberText(runs.concurrency),
         "runs this host works on at once (0: only POST "
         "/v1/run-queue/drain)"},
        {"runs.stop_grace_ms", ms(runs.stopGrace),
         "after a stop: graceful interrupt, TERM after this, KILL "
         "after twice this"},
        {"runs.timeout_s", secs(runs.runTimeout), "a run still going after this is stopped"},
        {"runs.message_sync_interval_ms", ms(runs.messageSyncInterval),
         "a run's workspace syncs after message.stop at most this often; messages that end "
         "sooner are synced together (0: after every chunk that ends a message)"},
        {"human.timeout_s", secs(runs.humanTimeout),
         "an unanswered human.request is denied as timed_out after "
         "this"},
        {"sse.max_streams", numberText(host.sseMaxStreams),
         "live event streams at once; more get 503 too_many_streams"},
        {"sse.keepalive_ms", ms(host.sseKeepAlive),
         "keep-alive comment interval of a quiet event stream"},
        {"providers", "",
         "per provider settings as a JSON object: {\"<name>\": {\"binary\", "
         "\"args\": [...], \"env\": {...}}}"},
    };
    static const std::vector<ConfigKey> withSwarm = followedBy(swarmConfigKeys(), keys);
    return withSwarm;
}

std::string envName(const std::string& key) {
    std::string name = "AW_";
    for (char c : key) {
        name += (c == '.') ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    }
    return name;
}

}  // namespace aw
