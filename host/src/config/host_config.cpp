#include "config/host_config.h"
#include "config/swarm_config.h"

#include <Poco/Exception.h>
#include <Poco/Logger.h>
#include <Poco/Net/IPAddress.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "agent_worker/core/problem.h"
#include "db/database_url.h"

extern char** environ;

namespace aw {
namespace {

Problem invalidValue(const std::string& key, const std::string& value, const std::string& why) {
    return Problem{"config_invalid",
                   "configuration key '" + key + "' (" + envName(key) + ") has the value '" +
                       value + "': " + why,
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

double parseCpus(const std::string& value) {
    std::size_t used = 0;
    double cpus = 0;
    try {
        cpus = std::stod(value, &used);
    } catch (const std::exception&) {
        used = 0;
    }
    if (used == 0 || used != value.size() || !(cpus >= 0.01 && cpus <= 1024)) {
        throw ProblemError(
            invalidValue("docker.cpus", value, "expected a number of CPUs, 0.01..1024"));
    }
    return cpus;
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

//! A value of the config file as the other layers give it: text.
std::string asText(const nlohmann::json& value) {
    if (value.is_string()) return value.get<std::string>();
    if (value.is_boolean()) return value.get<bool>() ? "true" : "false";
    return value.dump();
}

//! One source of values per layer, highest precedence first. The config file is read and
//! parsed here, once; every key (the `providers` object included) is looked up in it.
class Layers {
public:
    explicit Layers(const ConfigSources& sources) : sources_(sources) {
        if (sources.configFile.empty()) return;
        std::ifstream in(sources.configFile);
        if (!in) {
            throw ProblemError({"config_unreadable",
                                "cannot read configuration file '" + sources.configFile + "'",
                                "check that the file exists and is readable, or drop --config"});
        }
        try {
            file_ = nlohmann::json::parse(in);
        } catch (const nlohmann::json::exception& e) {
            throw ProblemError(
                {"config_unreadable",
                 "configuration file '" + sources.configFile + "' is not valid JSON: " + e.what(),
                 "fix the JSON syntax (a JSON object of keys, see docs/configuration.md)"});
        }
        if (!file_.is_object()) {
            throw ProblemError(
                {"config_unreadable",
                 "configuration file '" + sources.configFile + "' is not a JSON object",
                 "write a JSON object of keys, see docs/configuration.md"});
        }
    }

    std::string scalar(const ConfigKey& key) const {
        if (auto it = sources_.flags.find(key.key); it != sources_.flags.end()) return it->second;
        if (auto it = sources_.env.find(envName(key.key)); it != sources_.env.end()) {
            return it->second;
        }
        if (const auto* value = inFile(key.key); value && !value->is_null()) return asText(*value);
        return key.defaultValue;
    }

    std::vector<std::string> list(const ConfigKey& key) const {
        if (auto it = sources_.flags.find(key.key); it != sources_.flags.end()) {
            return splitList(it->second);
        }
        if (auto it = sources_.env.find(envName(key.key)); it != sources_.env.end()) {
            return splitList(it->second);
        }
        if (const auto* value = inFile(key.key); value && !value->is_null()) {
            if (!value->is_array()) return splitList(asText(*value));
            std::vector<std::string> items;
            for (const auto& item : *value) items.push_back(asText(item));
            return items;
        }
        return splitList(key.defaultValue);
    }

    //! The file's value at a dotted key (`supervisor.start_timeout_ms` is
    //! {"supervisor": {"start_timeout_ms": ...}}; a literal dotted name works too).
    const nlohmann::json* inFile(const std::string& key) const {
        if (!file_.is_object()) return nullptr;
        if (auto it = file_.find(key); it != file_.end()) return &*it;
        const nlohmann::json* node = &file_;
        std::size_t start = 0;
        while (start <= key.size()) {
            const auto dot = key.find('.', start);
            const std::string part =
                key.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
            if (!node->is_object()) return nullptr;
            const auto it = node->find(part);
            if (it == node->end()) return nullptr;
            node = &*it;
            if (dot == std::string::npos) return node;
            start = dot + 1;
        }
        return nullptr;
    }

private:
    const ConfigSources& sources_;
    nlohmann::json file_;
};

const ConfigKey& keyNamed(const std::string& name) {
    for (const auto& key : hostConfigKeys()) {
        if (name == key.key) return key;
    }
    throw std::logic_error("undeclared configuration key " + name);
}

//! object_store.endpoint, .region, .path_style and the AWS_* credentials; checked only when
//! the s3 store is the one in use.
S3Settings s3Settings(const ConfigSources& sources, const Layers& layers, bool inUse) {
    S3Settings s3;
    s3.endpoint = layers.scalar(keyNamed("object_store.endpoint"));
    s3.region = layers.scalar(keyNamed("object_store.region"));
    const std::string pathStyle = layers.scalar(keyNamed("object_store.path_style"));
    auto env = [&](const char* name) {
        const auto it = sources.env.find(name);
        return it == sources.env.end() ? std::string() : it->second;
    };
    s3.credentials = {env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY"),
                      env("AWS_SESSION_TOKEN")};
    if (!inUse) return s3;
    if (pathStyle != "true" && pathStyle != "false") {
        throw ProblemError(
            invalidValue("object_store.path_style", pathStyle, "expected true or false"));
    }
    s3.pathStyle = pathStyle == "true";
    if (s3.endpoint.rfind("http://", 0) != 0 && s3.endpoint.rfind("https://", 0) != 0) {
        throw ProblemError(invalidValue("object_store.endpoint", s3.endpoint,
                                        "object_store.kind s3 needs the service's http(s):// URL"));
    }
    if (s3.region.empty()) {
        throw ProblemError(invalidValue("object_store.region", s3.region, "must not be empty"));
    }
    if (s3.credentials.accessKeyId.empty() || s3.credentials.secretAccessKey.empty()) {
        throw ProblemError(
            {"config_invalid",
             "object_store.kind is s3 but AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY "
             "are not both set in agent-host's environment",
             "export the S3 credentials (and AWS_SESSION_TOKEN for temporary ones)"});
    }
    // They travel to the executors as lines on stdin.
    for (const auto* value : {&s3.credentials.accessKeyId, &s3.credentials.secretAccessKey,
                              &s3.credentials.sessionToken}) {
        if (value->find_first_of("\r\n") != std::string::npos) {
            throw ProblemError({"config_invalid", "an AWS_* credential contains a line break",
                                "set AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and "
                                "AWS_SESSION_TOKEN to their values alone"});
        }
    }
    return s3;
}

//! `<binaryDir>/../<name>`, normalised: the build tree and an install tree look alike.
std::string besideBinaryDir(const std::string& binaryDir, const std::string& name) {
    const std::filesystem::path base = binaryDir.empty() ? "." : binaryDir;
    return (base / ".." / name).lexically_normal().string();
}

//! `providers`: a JSON object from AW_PROVIDERS (JSON text) or the file's `providers`.
nlohmann::json providerSettings(const ConfigSources& sources, const Layers& layers) {
    nlohmann::json settings = nlohmann::json::object();
    std::string origin;
    if (auto it = sources.env.find(envName("providers")); it != sources.env.end()) {
        settings = nlohmann::json::parse(it->second, nullptr, false);
        origin = "AW_PROVIDERS";
    } else if (const auto* inFile = layers.inFile("providers")) {
        settings = *inFile;
        origin = sources.configFile;
    }
    auto bad = [&](const std::string& why) {
        return ProblemError({"config_invalid",
                             "configuration key 'providers' (" + origin + "): " + why,
                             "expected {\"<provider>\": {\"binary\": \"...\", \"args\": [...], "
                             "\"env\": {\"NAME\": \"value\"}}}"});
    };
    if (!settings.is_object()) throw bad("not a JSON object");
    for (const auto& [name, entry] : settings.items()) {
        if (!entry.is_object()) throw bad("'" + name + "' is not an object");
        for (const auto& [field, value] : entry.items()) {
            const bool ok = (field == "binary" && value.is_string()) ||
                            (field == "args" && value.is_array() &&
                             std::all_of(value.begin(), value.end(),
                                         [](const auto& a) { return a.is_string(); })) ||
                            (field == "env" && value.is_object() &&
                             std::all_of(value.begin(), value.end(),
                                         [](const auto& v) { return v.is_string(); }));
            if (!ok)
                throw bad("'" + name + "." + field + "' is not a known setting of the right type");
        }
    }
    return settings;
}

}  // namespace

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
    const Problem bad{"invalid_listen", "listen address '" + text + "' is not HOST:PORT",
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
        !std::all_of(portText.begin(), portText.end(),
                     [](char c) { return std::isdigit(static_cast<unsigned char>(c)); }) ||
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
    if (config.dataDir.empty())
        throw ProblemError(invalidValue("data_dir", "", "must not be empty"));
    config.databaseUrl = text("db");
    if (config.databaseUrl.empty()) config.databaseUrl = "sqlite://" + config.dataDir + "/agent.db";
    config.pluginsDir = text("plugins_dir");
    if (config.pluginsDir.empty())
        config.pluginsDir = besideBinaryDir(sources.binaryDir, "plugins");
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
    config.http.threads = static_cast<int>(number("http.threads", 1, 1024));
    config.http.maxConnections = static_cast<std::size_t>(number("http.max_connections", 1, 1000000));
    config.http.maxConnectionsPerAddress =
        static_cast<std::size_t>(number("http.max_connections_per_address", 1, 1000000));
    config.dbPoolSize = static_cast<int>(number("db_pool_size", 1, 256));
    config.dbConnectTimeoutSeconds = static_cast<int>(number("db_connect_timeout_s", 0, 3600));

    auto& providers = config.providers;
    auto millis = [&](const char* name) {
        return std::chrono::milliseconds(number(name, 1, 86400000));
    };
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
    retry.initialBackoff =
        std::chrono::milliseconds(number("executor.retry.backoff_ms", 0, 3600000));
    retry.maxBackoff =
        std::chrono::milliseconds(number("executor.retry.max_backoff_ms", 0, 3600000));
    retry.retryStatuses.clear();
    for (const auto& status : layers.list(keyNamed("executor.retry.statuses"))) {
        retry.retryStatuses.push_back(
            static_cast<int>(parseNumber("executor.retry.statuses", status, 100, 599)));
    }
    if (auto problem = retry.check()) throw ProblemError(*problem);
    config.executor.defaultTimeout = millis("executor.timeout_ms");

    config.executorBinary = text("executor_binary");
    if (config.executorBinary.empty()) {
        const std::filesystem::path base = sources.binaryDir.empty() ? "." : sources.binaryDir;
        config.executorBinary = (base / "agent-executor").lexically_normal().string();
    }
    config.executorTokens = layers.list(keyNamed("auth.executor_tokens"));
    config.metricsTokens = layers.list(keyNamed("auth.metrics_tokens"));
    auto& runs = config.runs;
    auto& placement = runs.submission.placement;
    runs.queue.hostId = text("host_id");
    config.clusterId = text("cluster_id");
    config.clusterSecret = text("cluster_secret");
    if (!config.clusterSecret.empty() && config.clusterSecret.size() < 32) {
        throw ProblemError(invalidValue("cluster_secret", "(secret, " +
                                            std::to_string(config.clusterSecret.size()) +
                                            " characters)",
                                        "expected at least 32 characters: openssl rand -hex 32"));
    }
    config.publicUrl = text("public_url");
    while (!config.publicUrl.empty() && config.publicUrl.back() == '/') config.publicUrl.pop_back();
    if (!config.publicUrl.empty() && config.publicUrl.rfind("http://", 0) != 0) {
        throw ProblemError(invalidValue("public_url", config.publicUrl, "expected an http:// URL"));
    }
    placement.tenantId = text("tenant_id");
    placement.runtime = text("runtime");
    if (placement.runtime != "local" && placement.runtime != "docker" &&
        placement.runtime != "swarm") {
        throw ProblemError(
            invalidValue("runtime", placement.runtime, "expected local, docker or swarm"));
    }
    config.swarm =
        readSwarmConfig({text, [&](const char* name) { return layers.list(keyNamed(name)); }},
                        placement.runtime == "swarm");
    auto& docker = config.docker;
    docker.socketPath = text("docker.socket");
    if (placement.runtime == "docker")
        docker.socketPath = resolveDockerSocket(docker.socketPath, std::getenv("DOCKER_HOST"));
    docker.image = text("docker.image");
    if (docker.image.empty())
        throw ProblemError(invalidValue("docker.image", "", "must not be empty"));
    docker.network = text("docker.network");
    if (docker.network.empty())
        throw ProblemError(invalidValue("docker.network", "", "must not be empty"));
    docker.user = text("docker.user");
    try {
        parseDockerUser(docker.user);
    } catch (const ProblemError&) {
        throw ProblemError(invalidValue("docker.user", docker.user,
                                        "expected a non-root uid:gid in numbers (10001:10001)"));
    }
    docker.memoryBytes = number("docker.memory_bytes", 6 * 1024 * 1024, 1LL << 50);
    docker.cpus = parseCpus(text("docker.cpus"));
    docker.pidsLimit = number("docker.pids_limit", 16, 4194304);
    docker.stopGrace = millis("docker.stop_grace_ms");
    auto& sandbox = config.localSandbox;
    const std::string unsandboxed = text("runtime.local.unsandboxed");
    if (unsandboxed != "true" && unsandboxed != "false") {
        throw ProblemError(
            invalidValue("runtime.local.unsandboxed", unsandboxed, "expected true or false"));
    }
    sandbox.unsandboxed = unsandboxed == "true";
    sandbox.firstUid = static_cast<uid_t>(number("runtime.local.first_uid", 1, 4000000000LL));
    sandbox.uidCount =
        static_cast<std::uint32_t>(number("runtime.local.uid_count", 1, 100000000LL));
    sandbox.readOnlyPaths = layers.list(keyNamed("runtime.local.read_only_paths"));
    for (const auto& path : sandbox.readOnlyPaths) {
        if (path.empty() || path[0] != '/') {
            throw ProblemError(
                invalidValue("runtime.local.read_only_paths", path, "expected absolute paths"));
        }
    }
    config.objectStoreKind = text("object_store.kind");
    if (config.objectStoreKind != "file" && config.objectStoreKind != "s3") {
        throw ProblemError(
            invalidValue("object_store.kind", config.objectStoreKind, "expected file or s3"));
    }
    config.objectsDir = text("object_store.dir");
    if (config.objectsDir.empty()) config.objectsDir = config.dataDir + "/objects";
    placement.bucket = text("object_store.bucket");
    config.s3 = s3Settings(sources, layers, config.objectStoreKind == "s3");
    config.s3.bucket = placement.bucket;
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
    config.lifecycle.transitionTimeoutMs =
        number("lifecycle.transition_timeout_s", 1, 86400) * 1000;
    config.reaperInterval = std::chrono::seconds(seconds("lifecycle.reaper_interval_s"));
    runs.submission.maxAttempts = static_cast<int>(number("queue.max_attempts", 1, 100));
    runs.queue.lease = std::chrono::seconds(number("queue.lease_s", 5, 86400));
    runs.queue.retry.initial = millis("queue.retry_initial_ms");
    runs.queue.retry.max = millis("queue.retry_max_ms");
    config.queueDoneRetention = std::chrono::seconds(seconds("queue.done_retention_s"));
    runs.concurrency = static_cast<int>(number("dispatcher.concurrency", 0, 256));
    runs.stopGrace = millis("runs.stop_grace_ms");
    runs.runTimeout = std::chrono::seconds(number("runs.timeout_s", 1, 7 * 86400));
    runs.messageSyncInterval =
        std::chrono::milliseconds(number("runs.message_sync_interval_ms", 0, 3600000));
    runs.humanTimeout = std::chrono::seconds(number("human.timeout_s", 1, 30 * 86400));
    runs.providerCallTimeout = providers.requestTimeout;
    config.http.requestTimeout = millis("http.request_timeout_ms");
    config.accessLogSample = static_cast<int>(number("http.access_log_sample", 1, 1000000));
    config.http.idleTimeout = millis("http.idle_timeout_ms");
    config.sseMaxStreams = static_cast<int>(number("sse.max_streams", 1, 1000000));
    config.sseKeepAlive = millis("sse.keepalive_ms");
    runs.providerSettings = providerSettings(sources, layers);
    return config;
}

std::map<std::string, std::string> awEnvironment() {
    std::map<std::string, std::string> env;
    for (char** entry = environ; entry && *entry; ++entry) {
        const std::string item(*entry);
        const auto eq = item.find('=');
        const std::string name = item.substr(0, eq == std::string::npos ? 0 : eq);
        const bool awsCredential = name == "AWS_ACCESS_KEY_ID" || name == "AWS_SECRET_ACCESS_KEY" ||
                                   name == "AWS_SESSION_TOKEN";
        if (eq == std::string::npos || (item.rfind("AW_", 0) != 0 && !awsCredential)) continue;
        env[item.substr(0, eq)] = item.substr(eq + 1);
    }
    return env;
}

}  // namespace aw
