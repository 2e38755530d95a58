#include "support/agent_host_harness.h"

#include <signal.h>
#include <unistd.h>

#include <sstream>
#include <stdexcept>
#include <thread>

#include "support/api_recorder.h"
#include "support/run_events.h"

extern char** environ;

namespace aw::test {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr auto kStartTimeout = 30s;
const std::string kListeningPrefix = "agent-host listening on http://";

std::string tail(const std::string& text, std::size_t size) {
    return text.size() <= size ? text : "..." + text.substr(text.size() - size);
}

SubprocessOptions optionsFor(const HostLaunch& launch, const std::string& stderrFile) {
    SubprocessOptions options;
    options.argv = {agentHostBinary()};
    options.argv.insert(options.argv.end(), launch.args.begin(), launch.args.end());
    options.env = launch.env;
    // Fake CLIs print the recorded streams in the source tree, which a worker's sandbox does
    // not show when the tree lies in a hidden place (a clone under /root, /home or /tmp).
    auto& shown = options.env["AW_RUNTIME_LOCAL_READ_ONLY_PATHS"];
    shown += (shown.empty() ? "" : ",") + std::string(AW_SOURCE_DIR) + "/tests/fixtures";
    // The test's own AW_* settings must not leak into the host under test.
    for (char** entry = environ; entry && *entry; ++entry) {
        const std::string item(*entry);
        if (item.rfind("AW_", 0) != 0) continue;
        const std::string name = item.substr(0, item.find('='));
        if (!launch.env.count(name)) options.unsetEnv.push_back(name);
    }
    options.stderrFile = stderrFile;
    return options;
}

std::string flagValue(const HostLaunch& launch, const std::string& flag) {
    for (std::size_t i = 0; i + 1 < launch.args.size(); ++i) {
        if (launch.args[i] == flag) return launch.args[i + 1];
    }
    return "";
}

//! The first token of the launch's AW_AUTH_CLIENT_TOKENS (for /v1/...) or
//! AW_AUTH_ADMIN_TOKENS (for /admin/...) as an Authorization header, unless `headers` has
//! one: so the API calls below work on hosts started with tokens too.
std::map<std::string, std::string> withToken(const HostLaunch& launch, const std::string& path,
                                             std::map<std::string, std::string> headers) {
    const char* variable = path.rfind("/admin/", 0) == 0 ? "AW_AUTH_ADMIN_TOKENS"
                           : path.rfind("/v1/", 0) == 0  ? "AW_AUTH_CLIENT_TOKENS"
                                                         : nullptr;
    const auto configured = variable ? launch.env.find(variable) : launch.env.end();
    if (configured == launch.env.end() || headers.count("Authorization")) return headers;
    headers["Authorization"] =
        "Bearer " + configured->second.substr(0, configured->second.find(','));
    return headers;
}

std::string answered(const std::string& what, const HttpResult& answer) {
    return what + " answered " + std::to_string(answer.status) + ": " + answer.body;
}

// Registered before main() so gtest owns it and tears it down after the last test.
[[maybe_unused]] SharedPostgres& registeredPostgres = SharedPostgres::instance();

}  // namespace

std::string agentHostBinary() {
    return std::string(AW_BUILD_DIR) + "/bin/agent-host";
}

void setFlag(HostLaunch& launch, const std::string& flag, const std::string& value) {
    for (std::size_t i = 0; i + 1 < launch.args.size(); ++i) {
        if (launch.args[i] == flag) {
            launch.args[i + 1] = value;
            return;
        }
    }
    launch.args.insert(launch.args.end(), {flag, value});
}

HostLaunch defaultLaunch(const std::string& dataDir) {
    return HostLaunch{
        {"--listen", "127.0.0.1:0", "--data-dir", dataDir, "--plugins-dir", dataDir + "/plugins"},
        {}};
}

HostLaunch HostSpec::launch() const {
    HostLaunch launch{{"--listen", "127.0.0.1:0", "--data-dir", dataDir.string(), "--plugins-dir",
                       pluginsDir.string()},
                      env};
    if (!db.empty()) setFlag(launch, "--db", db);
    return launch;
}

std::map<std::string, std::string> quickHostEnv() {
    return {{"AW_AUTH_EXECUTOR_TOKENS", kExecutorToken},
            {"AW_LIFECYCLE_REAPER_INTERVAL_S", "0"},
            {"AW_SUPERVISOR_BACKOFF_INITIAL_MS", "100"},
            {"AW_SUPERVISOR_BACKOFF_MAX_MS", "1000"},
            {"AW_QUEUE_RETRY_INITIAL_MS", "200"},
            {"AW_RUNS_STOP_GRACE_MS", "1000"},
            {"AW_LOG_LEVEL", "information"}};
}

// ---- AgentHost: the process ------------------------------------------------------------

AgentHost::AgentHost(HostLaunch launch) : launch_(std::move(launch)) {
    start();
}

AgentHost::~AgentHost() {
    api_record::hostStopped(port_);
    if (process_) process_->terminate(15s);
}

void AgentHost::start() {
    ++starts_;
    process_ = std::make_unique<Subprocess>(optionsFor(launch_, (logDir_ / "stderr.log").string()));
    const auto deadline = Clock::now() + kStartTimeout;
    while (Clock::now() < deadline) {
        auto line = process_->readLine(200ms);
        if (line && line->rfind(kListeningPrefix, 0) == 0) {
            port_ = static_cast<unsigned short>(std::stoi(line->substr(line->rfind(':') + 1)));
            api_record::hostListening(port_);
            return;
        }
        if (!line && process_->stdoutClosed()) break;
    }
    const auto status = process_->terminate();
    throw std::runtime_error("agent-host did not start (" + status.describe() + "): " + log());
}

ExitStatus AgentHost::stop() {
    return process_->terminate(15s);
}

void AgentHost::killHard() {
    ::kill(process_->pid(), SIGKILL);
    process_->waitFor(10s);
}

void AgentHost::restart() {
    api_record::hostStopped(port_);
    process_->terminate(15s);
    process_.reset();
    start();
}

std::string AgentHost::log() const {
    return readText(logDir_ / "stderr.log");
}

std::string AgentHost::logTail(std::size_t bytes) const {
    return tail(log(), bytes);
}

// ---- AgentHost: files ------------------------------------------------------------------

std::filesystem::path AgentHost::dataDir() const {
    return flagValue(launch_, "--data-dir");
}

std::filesystem::path AgentHost::workerDir(const std::string& sessionId) const {
    return dataDir() / "workers" / sessionId;
}

std::filesystem::path AgentHost::workspace(const std::string& sessionId) const {
    return workerDir(sessionId) / "workspace";
}

// ---- AgentHost: the API ----------------------------------------------------------------

HttpResult AgentHost::get(const std::string& path) const {
    return httpGet(port_, path, withToken(launch_, path, {}));
}

HttpResult AgentHost::post(const std::string& path, const Json& body,
                           std::map<std::string, std::string> headers) const {
    return httpRequest(
        port_, HttpCall{"POST", path, body.dump(), withToken(launch_, path, std::move(headers))});
}

HttpResult AgentHost::postMessage(const std::string& sessionId, const Json& body,
                                  std::map<std::string, std::string> headers) const {
    return post("/v1/sessions/" + sessionId + "/messages", body, std::move(headers));
}

std::string AgentHost::sendMessage(const std::string& sessionId, const std::string& provider,
                                   const std::string& prompt) const {
    const auto answer = postMessage(sessionId, {{"provider", provider}, {"prompt", prompt}});
    if (answer.status != 202) throw std::runtime_error(answered("POST messages", answer));
    return answer.json().at("run_id").get<std::string>();
}

Json AgentHost::run(const std::string& runId) const {
    const auto answer = get("/v1/runs/" + runId);
    if (answer.status != 200) throw std::runtime_error(answered("GET /v1/runs/" + runId, answer));
    return answer.json();
}

std::vector<Json> AgentHost::events(const std::string& runId, std::int64_t pageSize) const {
    std::vector<Json> all;
    std::int64_t after = 0;
    for (int page = 0; page < 10000; ++page) {
        const auto answer = get("/v1/runs/" + runId + "/events?after=" + std::to_string(after) +
                                "&limit=" + std::to_string(pageSize));
        if (answer.status != 200) throw std::runtime_error(answered("GET events", answer));
        const Json body = answer.json();
        const Json& events = body.at("events");
        if (events.empty()) break;
        for (const auto& event : events) all.push_back(event);
        const std::int64_t next = body.value("next_after", std::int64_t{-1});
        if (next != all.back().value("seq", std::int64_t{-2})) {
            throw std::runtime_error("GET events: next_after is not the last event's seq: " +
                                     answer.body);
        }
        if (static_cast<std::int64_t>(events.size()) < pageSize || next <= after) break;
        after = next;
    }
    return all;
}

Json AgentHost::session(const std::string& sessionId) const {
    const auto answer = get("/v1/sessions/" + sessionId);
    if (answer.status == 404) return Json();
    if (answer.status != 200) {
        throw std::runtime_error(answered("GET /v1/sessions/" + sessionId, answer));
    }
    return answer.json();
}

Json AgentHost::todos(const std::string& sessionId) const {
    return get("/v1/sessions/" + sessionId + "/todos").json();
}

HttpResult AgentHost::stopRun(const std::string& runId) const {
    return post("/v1/runs/" + runId + "/stop");
}

HttpResult AgentHost::humanReply(const std::string& runId, const Json& body) const {
    return post("/v1/runs/" + runId + "/human-reply", body);
}

Json AgentHost::providers() const {
    const auto answer = get("/admin/providers");
    if (answer.status != 200) throw std::runtime_error(answered("GET /admin/providers", answer));
    return answer.json().value("providers", Json::array());
}

Json AgentHost::provider(const std::string& name) const {
    for (const auto& row : providers()) {
        if (row.value("name", Json()).is_string() && row["name"] == name) return row;
    }
    return Json();
}

HttpResult AgentHost::callback(const std::string& sessionId, const std::string& runId,
                               const Json& records) const {
    return post("/v1/callbacks/executor",
                {{"executor_id", "local-" + sessionId},
                 {"session_id", sessionId},
                 {"run_id", runId},
                 {"events", records}},
                {{"Authorization", std::string("Bearer ") + kExecutorToken}});
}

// ---- AgentHost: waits ------------------------------------------------------------------

Json AgentHost::waitProviderHealthy(const std::string& name,
                                    std::chrono::milliseconds timeout) const {
    Json row;
    const bool healthy = eventually(
        [&] {
            row = provider(name);
            return row.is_object() && row.value("status", "") == "healthy";
        },
        timeout);
    if (!healthy) {
        throw std::runtime_error("provider '" + name + "' is not healthy: " + row.dump() + "\n" +
                                 logTail());
    }
    return row;
}

Json AgentHost::waitProvidersHealthy(int count, std::chrono::milliseconds timeout) const {
    Json last;
    const bool healthy = eventually(
        [&] {
            last = get("/admin/providers").json();
            int ready = 0;
            for (const auto& row : last.value("providers", Json::array())) {
                ready += row.value("status", "") == "healthy" ? 1 : 0;
            }
            return ready == count;
        },
        timeout);
    if (!healthy) {
        throw std::runtime_error("the providers did not become healthy: " + last.dump() + "\n" +
                                 logTail(4000));
    }
    return last;
}

Json AgentHost::waitForRun(const std::string& runId, const std::function<bool(const Json&)>& done,
                           std::chrono::milliseconds timeout) const {
    const auto deadline = Clock::now() + timeout;
    Json last = run(runId);
    while (!done(last) && Clock::now() < deadline) {
        std::this_thread::sleep_for(100ms);
        last = run(runId);
    }
    return last;
}

Json AgentHost::waitRunStatus(const std::string& runId, const std::set<std::string>& statuses,
                              std::chrono::milliseconds timeout) const {
    Json last;
    const bool reached = eventually(
        [&] {
            last = run(runId);
            return statuses.count(last.value("status", "")) > 0;
        },
        timeout);
    if (!reached) {
        std::string wanted;
        for (const auto& status : statuses) wanted += (wanted.empty() ? "" : "|") + status;
        throw std::runtime_error("run " + runId + " did not become " + wanted + " within " +
                                 std::to_string(timeout.count()) + " ms: " + last.dump() +
                                 "\nevents:\n" + describeEvents(events(runId)) + "host log:\n" +
                                 logTail());
    }
    return last;
}

Json AgentHost::waitRunFinished(const std::string& runId, std::chrono::milliseconds timeout) const {
    return waitRunStatus(runId, {"completed", "failed", "stopped"}, timeout);
}

std::string AgentHost::describeRun(const std::string& runId) const {
    std::ostringstream out;
    // Only for failure messages: what cannot be read is said, not thrown.
    try {
        out << "run: " << run(runId).dump() << "\nevents:\n" << describeEvents(events(runId));
    } catch (const std::exception& error) {
        out << "(" << error.what() << ")\n";
    }
    out << "agent-host log (end):\n" << logTail() << "\n";
    return out.str();
}

// ---- a host that refuses to start -------------------------------------------------------

RefusedStart runHostExpectingExit(HostLaunch launch) {
    TempDir logDir("aw-host-log");
    Subprocess process(optionsFor(launch, (logDir / "stderr.log").string()));
    std::string output;
    const auto deadline = Clock::now() + kStartTimeout;
    while (!process.stdoutClosed() && Clock::now() < deadline) {
        if (auto line = process.readLine(200ms)) output += *line + "\n";
    }
    auto status = process.waitFor(5s);
    if (!status) status = process.terminate();
    return RefusedStart{*status, readText(logDir / "stderr.log"), output};
}

// ---- the database ---------------------------------------------------------------------

const char* toString(Db db) {
    return db == Db::Sqlite ? "Sqlite" : "Postgres";
}

SharedPostgres& SharedPostgres::instance() {
    static SharedPostgres* shared =
        static_cast<SharedPostgres*>(::testing::AddGlobalTestEnvironment(new SharedPostgres));
    return *shared;
}

std::string SharedPostgres::newDatabaseUrl(const std::string& prefix) {
    if (!cluster_) {
        if (const auto reason = PostgresCluster::unavailableReason(); !reason.empty()) {
            throw std::runtime_error("PostgreSQL is needed for these tests: " + reason);
        }
        cluster_ = std::make_unique<PostgresCluster>();
    }
    const std::string name =
        prefix + "_" + std::to_string(::getpid()) + "_" + std::to_string(++databases_);
    cluster_->createDatabase(name);
    return cluster_->url(name);
}

void SharedPostgres::TearDown() {
    cluster_.reset();
}

std::string databaseUrlFor(Db db, const std::string& prefix) {
    return db == Db::Postgres ? SharedPostgres::instance().newDatabaseUrl(prefix) : "";
}

}  // namespace aw::test
