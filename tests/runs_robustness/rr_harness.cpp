#include "runs_robustness/rr_harness.h"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace aw::rr {
namespace {

using Clock = std::chrono::steady_clock;
const std::string kListeningPrefix = "agent-host listening on http://";

std::string clip(const std::string& text, std::size_t size) {
    return text.size() <= size ? text : text.substr(0, size) + "...";
}

void replaceAll(std::string& text, const std::string& from, const std::string& to) {
    if (from.empty()) return;
    for (auto at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size())) {
        text.replace(at, from.size(), to);
    }
}

//! Every string in `value` with `from` replaced by `to`.
Json replaceInStrings(const Json& value, const std::string& from, const std::string& to) {
    if (value.is_string()) {
        std::string text = value.get<std::string>();
        replaceAll(text, from, to);
        return text;
    }
    if (value.is_array()) {
        Json out = Json::array();
        for (const auto& item : value) out.push_back(replaceInStrings(item, from, to));
        return out;
    }
    if (value.is_object()) {
        Json out = Json::object();
        for (const auto& [key, item] : value.items()) out[key] = replaceInStrings(item, from, to);
        return out;
    }
    return value;
}

}  // namespace

// ---- Host ---------------------------------------------------------------------------------

Host::Host(const HostSpec& spec) {
    SubprocessOptions options;
    options.argv = {std::string(AW_BUILD_DIR) + "/bin/agent-host", "--listen", "127.0.0.1:0",
                    "--data-dir", spec.dataDir.string(), "--plugins-dir", spec.pluginsDir.string()};
    if (!spec.db.empty()) options.argv.insert(options.argv.end(), {"--db", spec.db});
    options.env = spec.env;
    // The test's own AW_* settings must not leak into the host under test.
    for (char** entry = environ; entry && *entry; ++entry) {
        const std::string item(*entry);
        if (item.rfind("AW_", 0) != 0) continue;
        const std::string name = item.substr(0, item.find('='));
        if (!spec.env.count(name)) options.unsetEnv.push_back(name);
    }
    options.stderrFile = (logDir_ / "stderr.log").string();
    process_ = std::make_unique<Subprocess>(options);
    const auto deadline = Clock::now() + 30s;
    while (Clock::now() < deadline) {
        auto line = process_->readLine(200ms);
        if (line && line->rfind(kListeningPrefix, 0) == 0) {
            port_ = static_cast<unsigned short>(std::stoi(line->substr(line->rfind(':') + 1)));
            return;
        }
        if (!line && process_->stdoutClosed()) break;
    }
    const auto status = process_->terminate();
    throw std::runtime_error("agent-host did not start (" + status.describe() + "): " + log());
}

Host::~Host() {
    if (process_) process_->terminate(15s);
}

void Host::killHard() {
    ::kill(process_->pid(), SIGKILL);
    process_->waitFor(10s);
}

ExitStatus Host::stop() { return process_->terminate(15s); }

std::string Host::log() const { return test::readText(logDir_ / "stderr.log"); }

std::string Host::logTail(std::size_t bytes) const {
    const std::string text = log();
    return text.size() <= bytes ? text : "..." + text.substr(text.size() - bytes);
}

test::HttpResult Host::get(const std::string& path) const { return test::httpGet(port_, path); }

test::HttpResult Host::post(const std::string& path, const Json& body,
                            std::map<std::string, std::string> headers) const {
    return test::httpRequest(port_, test::HttpCall{"POST", path, body.dump(), std::move(headers)});
}

std::string Host::sendMessage(const std::string& sessionId, const std::string& provider,
                              const std::string& prompt) const {
    const auto answer = post("/v1/sessions/" + sessionId + "/messages",
                             {{"provider", provider}, {"prompt", prompt}});
    if (answer.status != 202) {
        throw std::runtime_error("POST messages answered " + std::to_string(answer.status) + ": " +
                                 answer.body);
    }
    return answer.json().at("run_id").get<std::string>();
}

Json Host::run(const std::string& runId) const {
    const auto answer = get("/v1/runs/" + runId);
    if (answer.status != 200) {
        throw std::runtime_error("GET /v1/runs/" + runId + " answered " + std::to_string(answer.status) +
                                 ": " + answer.body);
    }
    return answer.json();
}

std::vector<Json> Host::events(const std::string& runId) const {
    std::vector<Json> all;
    std::int64_t after = 0;
    for (;;) {
        const auto answer =
            get("/v1/runs/" + runId + "/events?after=" + std::to_string(after) + "&limit=500");
        if (answer.status != 200) {
            throw std::runtime_error("GET events answered " + std::to_string(answer.status) + ": " +
                                     answer.body);
        }
        const Json body = answer.json();
        const Json& page = body.at("events");
        for (const auto& event : page) all.push_back(event);
        if (page.size() < 500) break;
        after = body.at("next_after").get<std::int64_t>();
    }
    return all;
}

Json Host::worker(const std::string& sessionId) const {
    const auto answer = get("/v1/sessions/" + sessionId);
    if (answer.status == 404) return Json();
    if (answer.status != 200) {
        throw std::runtime_error("GET /v1/sessions/" + sessionId + " answered " +
                                 std::to_string(answer.status) + ": " + answer.body);
    }
    return answer.json();
}

Json Host::providers() const {
    const auto answer = get("/admin/providers");
    if (answer.status != 200) {
        throw std::runtime_error("GET /admin/providers answered " + std::to_string(answer.status) +
                                 ": " + answer.body);
    }
    return answer.json().value("providers", Json::array());
}

Json Host::provider(const std::string& name) const {
    for (const auto& row : providers()) {
        if (row.value("name", Json()).is_string() && row["name"] == name) return row;
    }
    return Json();
}

test::HttpResult Host::callback(const std::string& sessionId, const std::string& runId,
                                const Json& records) const {
    return post("/v1/callbacks/executor",
                {{"executor_id", "local-" + sessionId},
                 {"session_id", sessionId},
                 {"run_id", runId},
                 {"events", records}},
                {{"Authorization", std::string("Bearer ") + kExecutorToken}});
}

Json Host::waitProviderHealthy(const std::string& name, std::chrono::milliseconds timeout) const {
    Json row;
    const bool healthy = waitFor(
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

Json Host::waitRunStatus(const std::string& runId, const std::set<std::string>& statuses,
                         std::chrono::milliseconds timeout) const {
    Json last;
    const bool reached = waitFor(
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
                                 "\nevents:\n" + describe(events(runId)) + "host log:\n" + logTail());
    }
    return last;
}

Json Host::waitRunFinished(const std::string& runId, std::chrono::milliseconds timeout) const {
    return waitRunStatus(runId, {"completed", "failed", "stopped"}, timeout);
}

std::map<std::string, std::string> baseEnv() {
    return {{"AW_AUTH_EXECUTOR_TOKENS", kExecutorToken},
            {"AW_LIFECYCLE_REAPER_INTERVAL_S", "0"},
            {"AW_SUPERVISOR_BACKOFF_INITIAL_MS", "100"},
            {"AW_SUPERVISOR_BACKOFF_MAX_MS", "1000"},
            {"AW_QUEUE_RETRY_INITIAL_MS", "200"},
            {"AW_RUNS_STOP_GRACE_MS", "1000"},
            {"AW_LOG_LEVEL", "information"}};
}

// ---- helpers ------------------------------------------------------------------------------

bool waitFor(const std::function<bool()>& condition, std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    for (;;) {
        if (condition()) return true;
        if (Clock::now() >= deadline) return false;
        std::this_thread::sleep_for(50ms);
    }
}

std::filesystem::path writeScript(const std::filesystem::path& path, const std::string& body) {
    std::filesystem::create_directories(path.parent_path());
    {
        std::ofstream out(path, std::ios::trunc);
        out << "#!/bin/sh\n" << body;
        if (!out) throw std::runtime_error("cannot write " + path.string());
    }
    std::filesystem::permissions(path, std::filesystem::perms::owner_all |
                                           std::filesystem::perms::group_read |
                                           std::filesystem::perms::group_exec |
                                           std::filesystem::perms::others_read |
                                           std::filesystem::perms::others_exec);
    return path;
}

std::string shellQuote(const std::string& text) {
    std::string quoted = "'";
    for (char c : text) {
        if (c == '\'') {
            quoted += "'\\''";
        } else {
            quoted += c;
        }
    }
    return quoted + "'";
}

std::filesystem::path fixturePath(const std::string& name) {
    return std::filesystem::path(AW_SOURCE_DIR) / "tests" / "fixtures" / "providers" / name;
}

std::vector<std::string> fixtureLines(const std::string& name) {
    std::ifstream in(fixturePath(name));
    if (!in) throw std::runtime_error("missing fixture " + fixturePath(name).string());
    std::vector<std::string> lines;
    for (std::string line; std::getline(in, line);) {
        if (!line.empty()) lines.push_back(line);
    }
    return lines;
}

std::map<pid_t, std::string> processesUnder(const std::filesystem::path& dir) {
    std::map<pid_t, std::string> found;
    std::error_code error;
    const std::string root = std::filesystem::weakly_canonical(dir, error).string();
    for (const auto& entry : std::filesystem::directory_iterator("/proc", error)) {
        const std::string name = entry.path().filename().string();
        if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
        std::error_code ignored;
        const std::string cwd = std::filesystem::read_symlink(entry.path() / "cwd", ignored).string();
        if (ignored) continue;
        if (cwd != root && cwd.rfind(root + "/", 0) != 0) continue;
        std::string command = test::readText(entry.path() / "cmdline");
        for (auto& ch : command) {
            if (ch == '\0') ch = ' ';
        }
        found[static_cast<pid_t>(std::stol(name))] = command;
    }
    return found;
}

bool processAlive(pid_t pid) {
    const std::string stat = test::readText("/proc/" + std::to_string(pid) + "/stat");
    if (stat.empty()) return false;
    const auto close = stat.rfind(')');
    if (close == std::string::npos || close + 2 >= stat.size()) return false;
    return stat[close + 2] != 'Z' && stat[close + 2] != 'X';
}

bool descendsFrom(pid_t pid, pid_t ancestor) {
    for (int depth = 0; depth < 64 && pid > 1; ++depth) {
        if (pid == ancestor) return true;
        const std::string stat = test::readText("/proc/" + std::to_string(pid) + "/stat");
        const auto close = stat.rfind(')');
        if (close == std::string::npos) return false;
        std::istringstream fields(stat.substr(close + 2));
        std::string state;
        long parent = 0;
        fields >> state >> parent;
        pid = static_cast<pid_t>(parent);
    }
    return pid == ancestor;
}

// ---- event checks -------------------------------------------------------------------------

std::vector<std::string> typesOf(const std::vector<Json>& events) {
    std::vector<std::string> types;
    for (const auto& event : events) types.push_back(event.value("type", ""));
    return types;
}

int countType(const std::vector<Json>& events, const std::string& type) {
    int count = 0;
    for (const auto& event : events) count += event.value("type", "") == type ? 1 : 0;
    return count;
}

bool isTerminalType(const std::string& type) {
    return type == "run.completed" || type == "run.failed" || type == "run.stopped";
}

std::string denseAndUnique(const std::vector<Json>& events) {
    std::set<std::string> ids;
    std::ostringstream problems;
    for (std::size_t i = 0; i < events.size(); ++i) {
        const auto seq = events[i].value("seq", std::int64_t{-1});
        if (seq != static_cast<std::int64_t>(i + 1)) {
            problems << "event " << i << " has seq " << seq << " (expected " << i + 1 << "); ";
        }
        const std::string id = events[i].value("event_id", "");
        if (id.empty()) problems << "event " << i << " has no event_id; ";
        if (!ids.insert(id).second) problems << "event_id " << id << " repeats; ";
    }
    return problems.str();
}

Json comparable(const std::vector<Json>& events, const std::string& runId) {
    static const std::set<std::string> volatileKeys = {"duration_ms", "executor_id", "files", "bytes",
                                                       "deleted_files", "links"};
    Json out = Json::array();
    for (const auto& event : events) {
        // How many syncs there are follows how the lines were batched; syncsCoverEveryMessage
        // checks them instead.
        if (event.value("type", "") == "workspace.sync") continue;
        Json data = replaceInStrings(event.value("data", Json::object()), runId, "<run>");
        if (data.is_object()) {
            for (const auto& key : volatileKeys) data.erase(key);
        }
        std::string id = event.value("event_id", "");
        replaceAll(id, runId, "<run>");
        out.push_back({{"event_id", id}, {"type", event.value("type", "")}, {"data", data}});
    }
    return out;
}

std::string describe(const std::vector<Json>& events) {
    std::ostringstream out;
    for (const auto& event : events) {
        out << "  " << event.value("seq", std::int64_t{0}) << " " << event.value("type", "") << " "
            << clip(event.value("data", Json::object()).dump(), 300) << "\n";
    }
    return out.str();
}

}  // namespace aw::rr
