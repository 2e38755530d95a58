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
    };
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
