#include "config/host_config.h"

#include <Poco/AutoPtr.h>
#include <Poco/Exception.h>
#include <Poco/Logger.h>
#include <Poco/Net/IPAddress.h>
#include <Poco/Util/JSONConfiguration.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>

#include "agent_worker/core/problem.h"
#include "db/database_url.h"

extern char** environ;

namespace aw {
namespace {

Problem invalidValue(const std::string& key, const std::string& value, const std::string& why) {
    return Problem{"config_invalid", "configuration key '" + key + "' (" + envName(key) +
                                         ") has the value '" + value + "': " + why,
                   "see docs/configuration.md for the accepted values"};
}

std::vector<std::string> splitList(const std::string& text) {
    std::vector<std::string> items;
    std::size_t start = 0;
    while (start <= text.size()) {
        const auto comma = text.find(',', start);
        const auto end = comma == std::string::npos ? text.size() : comma;
        std::string item = text.substr(start, end - start);
        item.erase(0, item.find_first_not_of(" \t"));
        item.erase(item.find_last_not_of(" \t") + 1);
        if (!item.empty()) items.push_back(item);
        if (comma == std::string::npos) break;
        start = comma + 1;
    }
    return items;
}

long long parseNumber(const std::string& key, const std::string& value, long long min,
                      long long max) {
    std::size_t used = 0;
    long long number = 0;
    try {
        number = std::stoll(value, &used);
    } catch (const std::exception&) {
        used = 0;
    }
    if (used == 0 || used != value.size()) {
        throw ProblemError(invalidValue(key, value, "expected a whole number"));
    }
    if (number < min || number > max) {
        throw ProblemError(invalidValue(
            key, value, "expected " + std::to_string(min) + ".." + std::to_string(max)));
    }
    return number;
}

//! One source of values per layer, highest precedence first.
class Layers {
public:
    explicit Layers(const ConfigSources& sources) : sources_(sources) {
        if (sources.configFile.empty()) return;
        std::ifstream probe(sources.configFile);
        if (!probe) {
            throw ProblemError({"config_unreadable",
                                "cannot read configuration file '" + sources.configFile + "'",
                                "check that the file exists and is readable, or drop --config"});
        }
        try {
            file_ = new Poco::Util::JSONConfiguration(sources.configFile);
        } catch (const Poco::Exception& e) {
            throw ProblemError({"config_unreadable",
                                "configuration file '" + sources.configFile +
                                    "' is not valid JSON: " + e.displayText(),
                                "fix the JSON syntax (a JSON object of keys, see "
                                "docs/configuration.md)"});
        }
    }

    std::string scalar(const ConfigKey& key) const {
        if (auto it = sources_.flags.find(key.key); it != sources_.flags.end()) return it->second;
        if (auto it = sources_.env.find(envName(key.key)); it != sources_.env.end()) {
            return it->second;
        }
        if (file_ && file_->has(key.key)) return file_->getString(key.key);
        return key.defaultValue;
    }

    std::vector<std::string> list(const ConfigKey& key) const {
        if (auto it = sources_.flags.find(key.key); it != sources_.flags.end()) {
            return splitList(it->second);
        }
        if (auto it = sources_.env.find(envName(key.key)); it != sources_.env.end()) {
            return splitList(it->second);
        }
        if (file_) {
            const std::string first = std::string(key.key) + "[0]";
            if (file_->has(first)) {
                std::vector<std::string> items;
                for (int i = 0;; ++i) {
                    const std::string element = std::string(key.key) + "[" + std::to_string(i) + "]";
                    if (!file_->has(element)) break;
                    items.push_back(file_->getString(element));
                }
                return items;
            }
            if (file_->has(key.key)) return splitList(file_->getString(key.key));
        }
        return splitList(key.defaultValue);
    }

private:
    const ConfigSources& sources_;
    Poco::AutoPtr<Poco::Util::JSONConfiguration> file_;
};

const ConfigKey& keyNamed(const std::string& name) {
    for (const auto& key : hostConfigKeys()) {
        if (name == key.key) return key;
    }
    throw std::logic_error("undeclared configuration key " + name);
}

//! `<binaryDir>/../<name>`, normalised: the build tree and an install tree look alike.
std::string besideBinaryDir(const std::string& binaryDir, const std::string& name) {
    const std::filesystem::path base = binaryDir.empty() ? "." : binaryDir;
    return (base / ".." / name).lexically_normal().string();
}

//! `providers`: a JSON object from AW_PROVIDERS (JSON text) or the file's `providers`.
nlohmann::json providerSettings(const ConfigSources& sources) {
    nlohmann::json settings = nlohmann::json::object();
    std::string origin;
    if (auto it = sources.env.find(envName("providers")); it != sources.env.end()) {
        settings = nlohmann::json::parse(it->second, nullptr, false);
        origin = "AW_PROVIDERS";
    } else if (!sources.configFile.empty()) {
        std::ifstream in(sources.configFile);
        const auto file = nlohmann::json::parse(in, nullptr, false);
        if (file.is_object() && file.contains("providers")) settings = file["providers"];
        origin = sources.configFile;
    }
    auto bad = [&](const std::string& why) {
        return ProblemError({"config_invalid", "configuration key 'providers' (" + origin + "): " + why,
                             "expected {\"<provider>\": {\"binary\": \"...\", \"args\": [...], "
                             "\"env\": {\"NAME\": \"value\"}}}"});
    };
    if (!settings.is_object()) throw bad("not a JSON object");
    for (const auto& [name, entry] : settings.items()) {
        if (!entry.is_object()) throw bad("'" + name + "' is not an object");
        for (const auto& [field, value] : entry.items()) {
            const bool ok = (field == "binary" && value.is_string()) ||
                            (field == "args" && value.is_array() &&
                             std::all_of(value.begin(), value.end(), [](const auto& a) { return a.is_string(); })) ||
                            (field == "env" && value.is_object() &&
                             std::all_of(value.begin(), value.end(), [](const auto& v) { return v.is_string(); }));
            if (!ok) throw bad("'" + name + "." + field + "' is not a known setting of the right type");
        }
    }
    return settings;
}

}  // namespace

const std::vector<ConfigKey>& hostConfigKeys() {
    static const std::vector<ConfigKey> keys{
        {"listen", "127.0.0.1:8080", "HTTP listen address HOST:PORT (port 0 picks a free port)"},
        {"data_dir", "./data", "directory for the SQLite database and local state"},
        {"db", "", "database URL: sqlite:///path/file.db or postgresql://...; default "
                   "sqlite://<data_dir>/agent.db", false, true},
        {"plugins_dir", "", "directory of provider plugins (*.so); default <binary dir>/../plugins"},
        {"sql_dir", "", "directory of migrations (sqlite/, postgresql/); default <binary "
                        "dir>/../sql"},
        {"log_level", "information", "trace, debug, information, notice, warning, error, "
                                     "critical or fatal"},
        {"auth.client_tokens", "", "bearer tokens accepted on /v1/... (list)", true, true},
        {"auth.admin_tokens", "", "bearer tokens accepted on /admin/... (list)", true, true},
        {"http.max_body_bytes", "1048576", "largest request body accepted; larger gets 413"},
        {"http.threads", "16", "HTTP worker threads"},
        {"db_pool_size", "4", "database connections kept open"},
        {"db_connect_timeout_s", "5", "how long start-up retries an unreachable database"},
        {"provider_host_binary", "", "agent-provider-host program; default <binary "
                                     "dir>/agent-provider-host"},
        {"supervisor.start_timeout_ms", "10000", "how long a provider may take to load and "
                                                 "hand-shake"},
        {"supervisor.request_timeout_ms", "30000", "longest wait for one provider request; "
                                                   "past it the provider counts as hung"},
        {"supervisor.heartbeat_interval_ms", "2000", "how often idle providers are pinged"},
        {"supervisor.heartbeat_timeout_ms", "5000", "a ping unanswered this long marks a "
                                                    "provider hung"},
        {"supervisor.backoff_initial_ms", "200", "first wait before restarting a crashed "
                                                 "provider (doubles each time)"},
        {"supervisor.backoff_max_ms", "30000", "longest wait between restarts"},
        {"supervisor.crash_limit", "5", "crashes within supervisor.crash_window_s that mark a "
                                        "provider degraded"},
        {"supervisor.crash_window_s", "60", "window for counting crashes"},
        {"supervisor.max_response_bytes", "33554432", "largest response line a provider may "
                                                      "send"},
        {"supervisor.kill_grace_ms", "2000", "wait between SIGTERM and SIGKILL for a failing "
                                             "provider"},
        {"supervisor.watch", "true", "watch the plugins directory for dropped files"},
        {"executor.retry.attempts", "3", "attempts per executor call, the first included"},
        {"executor.retry.backoff_ms", "200", "wait before the second attempt (doubles, +20% "
                                            "jitter)"},
        {"executor.retry.max_backoff_ms", "5000", "longest wait between attempts"},
        {"executor.retry.statuses", "500,502,503,504", "HTTP statuses retried (5xx only; 4xx "
                                                       "answers are final)", true},
        {"executor.timeout_ms", "30000", "executor calls without a longer default of their own "
                                         "(restore and sync: 10 min)"},
        {"executor_binary", "", "agent-executor program for local workers; default <binary "
                                "dir>/agent-executor"},
        {"auth.executor_tokens", "", "bearer tokens executors present on /v1/callbacks/executor; "
                                     "default: one random token per start", true, true},
        {"host_id", "", "this host's name in queue leases; default <hostname>:<port>. Keep it "
                        "stable: a restarted host takes back its own leases at once"},
        {"tenant_id", "default", "tenant of the sessions this host serves (workspace prefix)"},
        {"runtime", "local", "worker runtime: local (docker is not available yet)"},
        {"object_store.kind", "file", "object store: file (s3 is not available yet)"},
        {"object_store.dir", "", "root of the file object store; default <data_dir>/objects"},
        {"object_store.bucket", "agent-worker", "bucket of the session workspaces"},
        {"object_store.root_prefix", "sessions", "key prefix above <tenant>/<session>/"},
        {"restore.level", "agent_state", "what a worker gets back: none, workspace, agent_state, "
                                         "caches or full"},
        {"restore.manifest_file", "", "runtime manifest (JSON, docs/restore-plan.md); default: "
                                      "the workspace plus the providers' state paths"},
        {"lifecycle.idle_timeout_s", "1800", "a worker with no active run this long is synced and "
                                             "stopped"},
        {"lifecycle.remove_after_s", "604800", "a stopped worker this long (whose last sync "
                                               "succeeded) is removed"},
        {"lifecycle.transition_timeout_s", "600", "a creating/stopping/removing worker this long "
                                                  "is stuck and taken over"},
        {"lifecycle.reaper_interval_s", "60", "how often the idle-stop, remove and recovery "
                                              "passes run (0: only on request)"},
        {"queue.max_attempts", "3", "attempts per run before final_failed"},
        {"queue.lease_s", "120", "queue lease; extended while a run is worked on"},
        {"queue.retry_initial_ms", "1000", "wait before a retried run (doubles, +-20% jitter)"},
        {"queue.retry_max_ms", "60000", "longest wait before a retried run"},
        {"dispatcher.concurrency", "4", "runs this host works on at once (0: only POST "
                                        "/v1/run-queue/drain)"},
        {"runs.stop_grace_ms", "5000", "after a stop: graceful interrupt, TERM after this, KILL "
                                       "after twice this"},
        {"runs.timeout_s", "3600", "a run still going after this is stopped"},
        {"human.timeout_s", "3600", "an unanswered human.request is denied as timed_out after "
                                    "this"},
        {"sse.max_streams", "8", "live event streams at once (each holds an HTTP thread)"},
        {"sse.keepalive_ms", "15000", "keep-alive comment interval of a quiet event stream"},
        {"providers", "", "per provider settings as a JSON object: {\"<name>\": {\"binary\", "
                          "\"args\": [...], \"env\": {...}}}"},
    };
    return keys;
}

std::string envName(const std::string& key) {
    std::string name = "AW_";
    for (char c : key) {
        name += (c == '.') ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    }
    return name;
}

bool ListenAddress::isLoopback() const {
    if (host == "localhost") return true;
    Poco::Net::IPAddress address;
    if (!Poco::Net::IPAddress::tryParse(host, address)) return false;
    return address.isLoopback();
}

std::string ListenAddress::url() const {
    const bool v6 = host.find(':') != std::string::npos;
    return "http://" + (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

ListenAddress parseListenAddress(const std::string& text) {
    const Problem bad{"invalid_listen",
                      "listen address '" + text + "' is not HOST:PORT",
                      "use e.g. 127.0.0.1:8080, [::1]:8080 or 0.0.0.0:8080 (with API tokens)"};
    const auto colon = text.rfind(':');
    if (colon == std::string::npos || colon == 0) throw ProblemError(bad);
    std::string host = text.substr(0, colon);
    if (host.front() == '[') {
        if (host.back() != ']') throw ProblemError(bad);
        host = host.substr(1, host.size() - 2);
    }
    const std::string portText = text.substr(colon + 1);
    if (host.empty() || portText.empty() ||
        !std::all_of(portText.begin(), portText.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); }) ||
        portText.size() > 5 || std::stoi(portText) > 65535) {
        throw ProblemError(bad);
    }
    return ListenAddress{host, static_cast<unsigned short>(std::stoi(portText))};
}

HostConfig loadHostConfig(const ConfigSources& sources) {
    const Layers layers(sources);
    auto text = [&](const char* name) { return layers.scalar(keyNamed(name)); };
    auto number = [&](const char* name, long long min, long long max) {
        return parseNumber(name, text(name), min, max);
    };

    HostConfig config;
    config.listen = parseListenAddress(text("listen"));
    config.dataDir = text("data_dir");
    if (config.dataDir.empty()) throw ProblemError(invalidValue("data_dir", "", "must not be empty"));
    config.databaseUrl = text("db");
    if (config.databaseUrl.empty()) config.databaseUrl = "sqlite://" + config.dataDir + "/agent.db";
    config.pluginsDir = text("plugins_dir");
    if (config.pluginsDir.empty()) config.pluginsDir = besideBinaryDir(sources.binaryDir, "plugins");
    config.sqlDir = text("sql_dir");
    if (config.sqlDir.empty()) config.sqlDir = besideBinaryDir(sources.binaryDir, "sql");
    config.logLevel = text("log_level");
    try {
        Poco::Logger::parseLevel(config.logLevel);
    } catch (const Poco::Exception&) {
        throw ProblemError(invalidValue("log_level", config.logLevel, "unknown log level"));
    }
    config.clientTokens = layers.list(keyNamed("auth.client_tokens"));
    config.adminTokens = layers.list(keyNamed("auth.admin_tokens"));
    config.maxBodyBytes = static_cast<std::size_t>(number("http.max_body_bytes", 1, 1LL << 32));
    config.httpThreads = static_cast<int>(number("http.threads", 1, 1024));
    config.dbPoolSize = static_cast<int>(number("db_pool_size", 1, 256));
    config.dbConnectTimeoutSeconds = static_cast<int>(number("db_connect_timeout_s", 0, 3600));

    auto& providers = config.providers;
    auto millis = [&](const char* name) { return std::chrono::milliseconds(number(name, 1, 86400000)); };
    providers.pluginsDir = config.pluginsDir;
    providers.providerHostBinary = text("provider_host_binary");
    if (providers.providerHostBinary.empty()) {
        const std::filesystem::path base = sources.binaryDir.empty() ? "." : sources.binaryDir;
        providers.providerHostBinary = (base / "agent-provider-host").lexically_normal().string();
    }
    providers.startTimeout = millis("supervisor.start_timeout_ms");
    providers.requestTimeout = millis("supervisor.request_timeout_ms");
    providers.heartbeatInterval = millis("supervisor.heartbeat_interval_ms");
    providers.heartbeatTimeout = millis("supervisor.heartbeat_timeout_ms");
    providers.backoffInitial = millis("supervisor.backoff_initial_ms");
    providers.backoffMax = millis("supervisor.backoff_max_ms");
    providers.killGrace = millis("supervisor.kill_grace_ms");
    providers.crashLimit = static_cast<int>(number("supervisor.crash_limit", 1, 1000));
    providers.crashWindow = std::chrono::seconds(number("supervisor.crash_window_s", 1, 86400));
    providers.maxResponseBytes =
        static_cast<std::size_t>(number("supervisor.max_response_bytes", 1024, 1LL << 32));
    const std::string watch = text("supervisor.watch");
    if (watch != "true" && watch != "false") {
        throw ProblemError(invalidValue("supervisor.watch", watch, "expected true or false"));
    }
    providers.watchDirectory = watch == "true";

    auto& retry = config.executor.retry;
    retry.maxAttempts = static_cast<int>(number("executor.retry.attempts", 1, 100));
    retry.initialBackoff = std::chrono::milliseconds(number("executor.retry.backoff_ms", 0, 3600000));
    retry.maxBackoff = std::chrono::milliseconds(number("executor.retry.max_backoff_ms", 0, 3600000));
    retry.retryStatuses.clear();
    for (const auto& status : layers.list(keyNamed("executor.retry.statuses"))) {
        retry.retryStatuses.push_back(static_cast<int>(parseNumber("executor.retry.statuses", status, 100, 599)));
    }
    if (auto problem = retry.check()) throw ProblemError(*problem);
    config.executor.defaultTimeout = millis("executor.timeout_ms");

    config.executorBinary = text("executor_binary");
    if (config.executorBinary.empty()) {
        const std::filesystem::path base = sources.binaryDir.empty() ? "." : sources.binaryDir;
        config.executorBinary = (base / "agent-executor").lexically_normal().string();
    }
    config.executorTokens = layers.list(keyNamed("auth.executor_tokens"));
    auto& runs = config.runs;
    auto& placement = runs.submission.placement;
    runs.queue.hostId = text("host_id");
    placement.tenantId = text("tenant_id");
    placement.runtime = text("runtime");
    if (placement.runtime != "local") {
        throw ProblemError(invalidValue("runtime", placement.runtime,
                                        "only the local runtime is available in this version"));
    }
    if (text("object_store.kind") != "file") {
        throw ProblemError(invalidValue("object_store.kind", text("object_store.kind"),
                                        "only the file object store is available in this version"));
    }
    config.objectsDir = text("object_store.dir");
    if (config.objectsDir.empty()) config.objectsDir = config.dataDir + "/objects";
    placement.bucket = text("object_store.bucket");
    placement.rootPrefix = text("object_store.root_prefix");
    const auto level = parseRestoreLevel(text("restore.level"));
    if (!level) {
        throw ProblemError(invalidValue("restore.level", text("restore.level"),
                                        "expected none, workspace, agent_state, caches or full"));
    }
    runs.restoreLevel = *level;
    config.restoreManifestFile = text("restore.manifest_file");
    auto seconds = [&](const char* name) { return number(name, 0, 10LL * 365 * 86400); };
    config.lifecycle.idleTimeoutMs = seconds("lifecycle.idle_timeout_s") * 1000;
    config.lifecycle.removeAfterMs = seconds("lifecycle.remove_after_s") * 1000;
    config.lifecycle.transitionTimeoutMs = number("lifecycle.transition_timeout_s", 1, 86400) * 1000;
    config.reaperInterval = std::chrono::seconds(seconds("lifecycle.reaper_interval_s"));
    runs.submission.maxAttempts = static_cast<int>(number("queue.max_attempts", 1, 100));
    runs.queue.lease = std::chrono::seconds(number("queue.lease_s", 5, 86400));
    runs.queue.retry.initial = millis("queue.retry_initial_ms");
    runs.queue.retry.max = millis("queue.retry_max_ms");
    runs.concurrency = static_cast<int>(number("dispatcher.concurrency", 0, 256));
    runs.stopGrace = millis("runs.stop_grace_ms");
    runs.runTimeout = std::chrono::seconds(number("runs.timeout_s", 1, 7 * 86400));
    runs.humanTimeout = std::chrono::seconds(number("human.timeout_s", 1, 30 * 86400));
    runs.providerCallTimeout = providers.requestTimeout;
    // Each stream holds an HTTP thread: streams never get more than half of them, so they
    // cannot starve the API.
    config.sseMaxStreams = std::min(static_cast<int>(number("sse.max_streams", 1, 1024)),
                                    std::max(1, config.httpThreads / 2));
    config.sseKeepAlive = millis("sse.keepalive_ms");
    runs.providerSettings = providerSettings(sources);
    return config;
}

std::string HostConfig::redactedJson() const {
    nlohmann::json out{
        {"listen", listen.url()},
        {"data_dir", dataDir},
        {"db", redactUrl(databaseUrl)},
        {"plugins_dir", pluginsDir},
        {"sql_dir", sqlDir},
        {"log_level", logLevel},
        {"auth", {{"client_tokens", std::to_string(clientTokens.size()) + " configured"},
                  {"admin_tokens", std::to_string(adminTokens.size()) + " configured"}}},
        {"http", {{"max_body_bytes", maxBodyBytes}, {"threads", httpThreads}}},
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
          {"crash_window_s", std::chrono::duration_cast<std::chrono::seconds>(providers.crashWindow).count()},
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
        {"tenant_id", runs.submission.placement.tenantId},
        {"runtime", runs.submission.placement.runtime},
        {"object_store",
         {{"kind", "file"},
          {"dir", objectsDir},
          {"bucket", runs.submission.placement.bucket},
          {"root_prefix", runs.submission.placement.rootPrefix}}},
        {"restore", {{"level", toString(runs.restoreLevel)}, {"manifest_file", restoreManifestFile}}},
        {"lifecycle",
         {{"idle_timeout_s", lifecycle.idleTimeoutMs / 1000},
          {"remove_after_s", lifecycle.removeAfterMs / 1000},
          {"transition_timeout_s", lifecycle.transitionTimeoutMs / 1000},
          {"reaper_interval_s", reaperInterval.count()}}},
        {"queue",
         {{"max_attempts", runs.submission.maxAttempts},
          {"lease_s", std::chrono::duration_cast<std::chrono::seconds>(runs.queue.lease).count()},
          {"retry_initial_ms", runs.queue.retry.initial.count()},
          {"retry_max_ms", runs.queue.retry.max.count()}}},
        {"dispatcher", {{"concurrency", runs.concurrency}}},
        {"runs", {{"stop_grace_ms", runs.stopGrace.count()},
                  {"timeout_s", std::chrono::duration_cast<std::chrono::seconds>(runs.runTimeout).count()}}},
        {"human", {{"timeout_s", std::chrono::duration_cast<std::chrono::seconds>(runs.humanTimeout).count()}}},
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
    out["auth"]["executor_tokens"] = executorTokens.empty() ? std::string("random per start")
                                                             : std::to_string(executorTokens.size()) + " configured";
    return out.dump();
}

std::map<std::string, std::string> awEnvironment() {
    std::map<std::string, std::string> env;
    for (char** entry = environ; entry && *entry; ++entry) {
        const std::string item(*entry);
        const auto eq = item.find('=');
        if (eq == std::string::npos || item.rfind("AW_", 0) != 0) continue;
        env[item.substr(0, eq)] = item.substr(eq + 1);
    }
    return env;
}

}  // namespace aw
