#include "support/run_events.h"

#include <set>
#include <sstream>
#include <thread>

namespace aw::test {
namespace {

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

bool eventually(const std::function<bool()>& condition, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        if (condition()) return true;
        if (std::chrono::steady_clock::now() >= deadline) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
}

bool isTerminalStatus(const std::string& status) {
    return status == "completed" || status == "failed" || status == "stopped";
}

bool isTerminalType(const std::string& type) {
    return type == "run.completed" || type == "run.failed" || type == "run.stopped";
}

std::vector<std::string> typesOf(const std::vector<Json>& events) {
    std::vector<std::string> types;
    for (const auto& event : events) types.push_back(event.value("type", ""));
    return types;
}

std::vector<Json> dataOf(const std::vector<Json>& events, const std::string& type) {
    std::vector<Json> found;
    for (const auto& event : events) {
        if (event.value("type", "") == type) found.push_back(event.value("data", Json::object()));
    }
    return found;
}

int countType(const std::vector<Json>& events, const std::string& type) {
    int count = 0;
    for (const auto& event : events) count += event.value("type", "") == type ? 1 : 0;
    return count;
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
    static const std::set<std::string> volatileKeys = {"duration_ms", "executor_id",   "files",
                                                       "bytes",       "deleted_files", "links"};
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

Json comparableTranslation(const std::vector<Json>& events, const std::string& runId) {
    Json kept = Json::array();
    for (const auto& event : comparable(events, runId)) {
        const std::string type = event.value("type", "");
        if (type.rfind("run.", 0) != 0 && type.rfind("workspace.", 0) != 0) kept.push_back(event);
    }
    return kept;
}

std::string describeEvents(const std::vector<Json>& events) {
    std::ostringstream out;
    for (const auto& event : events) {
        out << "  " << event.value("seq", std::int64_t{0}) << " " << event.value("type", "") << " "
            << clip(event.value("data", Json::object()).dump(), 300) << "\n";
    }
    return out.str();
}

std::vector<std::int64_t> sseEventIds(const std::string& body) {
    std::vector<std::int64_t> ids;
    std::istringstream lines(body);
    for (std::string line; std::getline(lines, line);) {
        if (line.rfind("id: ", 0) == 0) ids.push_back(std::stoll(line.substr(4)));
    }
    return ids;
}

}  // namespace aw::test
