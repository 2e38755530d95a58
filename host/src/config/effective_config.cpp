// HostConfig as /admin/config and the start log show it: every effective setting, secrets
// left out or redacted. Apart from host_config.cpp, which reads the configuration.
#include <nlohmann/json.hpp>

#include "config/host_config.h"
#include "config/swarm_config.h"
#include "db/database_url.h"

namespace aw {

std::string HostConfig::redactedJson() const {
    nlohmann::json out{
        {"listen", listen.url()},
        {"data_dir", dataDir},
        {"db", redactUrl(databaseUrl)},
        {"plugins_dir", pluginsDir},
        {"sql_dir", sqlDir},
        {"log_level", logLevel},
        {"auth",
         {{"client_tokens", std::to_string(clientTokens.size()) + " configured"},
          {"admin_tokens", std::to_string(adminTokens.size()) + " configured"}}},
        {"http",
         {{"max_body_bytes", maxBodyBytes},
          {"threads", http.threads},
          {"max_connections", http.maxConnections},
          {"max_connections_per_address", http.maxConnectionsPerAddress},
          {"request_timeout_ms", http.requestTimeout.count()},
          {"idle_timeout_ms", http.idleTimeout.count()},
          {"access_log_sample", accessLogSample}}},
        {"db_pool_size", dbPoolSize},
        {"db_connect_timeout_s", dbConnectTimeoutSeconds},
        {"provider_host_binary", providers.providerHostBinary},
        {"supervisor",
         {{"start_timeout_ms", providers.startTimeout.count()},
          {"request_timeout_ms", providers.requestTimeout.count()},
          {"heartbeat_interval_ms", providers.heartbeatInterval.count()},
          {"heartbeat_timeout_ms", providers.heartbeatTimeout.count()},
          {"backoff_initial_ms", providers.backoffInitial.count()},
          {"backoff_max_ms", providers.backoffMax.count()},
          {"crash_limit", providers.crashLimit},
          {"crash_window_s",
           std::chrono::duration_cast<std::chrono::seconds>(providers.crashWindow).count()},
          {"max_response_bytes", providers.maxResponseBytes},
          {"kill_grace_ms", providers.killGrace.count()},
          {"watch", providers.watchDirectory}}},
        {"executor",
         {{"retry",
           {{"attempts", executor.retry.maxAttempts},
            {"backoff_ms", executor.retry.initialBackoff.count()},
            {"max_backoff_ms", executor.retry.maxBackoff.count()},
            {"statuses", executor.retry.retryStatuses}}},
          {"timeout_ms", executor.defaultTimeout.count()}}},
        {"executor_binary", executorBinary},
        {"host_id", runs.queue.hostId},
        {"public_url", publicUrl},
        {"cluster_id", clusterId},
        {"cluster_secret", clusterSecret.empty() ? "<data_dir>/cluster-secret" : "(configured)"},
        {"tenant_id", runs.submission.placement.tenantId},
        {"runtime", runs.submission.placement.runtime},
        {"runtime_local",
         {{"unsandboxed", localSandbox.unsandboxed},
          {"first_uid", localSandbox.firstUid},
          {"uid_count", localSandbox.uidCount},
          {"read_only_paths", localSandbox.readOnlyPaths}}},
        {"docker",
         {{"socket", docker.socketPath},
          {"image", docker.image},
          {"network", docker.network},
          {"user", docker.user},
          {"memory_bytes", docker.memoryBytes},
          {"cpus", docker.cpus},
          {"pids_limit", docker.pidsLimit},
          {"stop_grace_ms", docker.stopGrace.count()}}},
        {"swarm", swarmConfigJson(swarm)},
        {"object_store",
         {{"kind", objectStoreKind},
          {"dir", objectsDir},
          {"bucket", runs.submission.placement.bucket},
          {"root_prefix", runs.submission.placement.rootPrefix},
          {"endpoint", s3.endpoint},
          {"region", s3.region},
          {"path_style", s3.pathStyle},
          // Whether they are there, never what they are.
          {"credentials", s3.credentials.accessKeyId.empty() ? "none" : "from AWS_ACCESS_KEY_ID"}}},
        {"restore",
         {{"level", toString(runs.restoreLevel)}, {"manifest_file", restoreManifestFile}}},
        {"lifecycle",
         {{"idle_timeout_s", lifecycle.idleTimeoutMs / 1000},
          {"remove_after_s", lifecycle.removeAfterMs / 1000},
          {"transition_timeout_s", lifecycle.transitionTimeoutMs / 1000},
          {"reaper_interval_s", reaperInterval.count()}}},
        {"queue",
         {{"max_attempts", runs.submission.maxAttempts},
          {"lease_s", std::chrono::duration_cast<std::chrono::seconds>(runs.queue.lease).count()},
          {"retry_initial_ms", runs.queue.retry.initial.count()},
          {"retry_max_ms", runs.queue.retry.max.count()},
          {"done_retention_s", queueDoneRetention.count()}}},
        {"dispatcher", {{"concurrency", runs.concurrency}}},
        {"runs",
         {{"stop_grace_ms", runs.stopGrace.count()},
          {"message_sync_interval_ms", runs.messageSyncInterval.count()},
          {"timeout_s",
           std::chrono::duration_cast<std::chrono::seconds>(runs.runTimeout).count()}}},
        {"human",
         {{"timeout_s",
           std::chrono::duration_cast<std::chrono::seconds>(runs.humanTimeout).count()}}},
        {"sse", {{"max_streams", sseMaxStreams}, {"keepalive_ms", sseKeepAlive.count()}}},
    };
    // Provider settings without their environment values: those hold API keys.
    nlohmann::json providers = nlohmann::json::object();
    for (const auto& [name, entry] : runs.providerSettings.items()) {
        nlohmann::json shown = entry;
        if (shown.contains("env")) {
            nlohmann::json names = nlohmann::json::array();
            for (const auto& [variable, value] : entry["env"].items()) names.push_back(variable);
            shown["env"] = names;
        }
        providers[name] = shown;
    }
    out["providers"] = providers;
    out["auth"]["executor_tokens"] = executorTokens.empty()
                                         ? std::string("none (one per worker)")
                                         : std::to_string(executorTokens.size()) + " configured";
    out["auth"]["metrics_tokens"] = std::to_string(metricsTokens.size()) + " configured";
    return out.dump();
}

}  // namespace aw
