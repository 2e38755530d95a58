#include "agent_executor/output_spool.h"

#include <algorithm>
#include <fstream>

namespace aw {

nlohmann::json OutputRecord::toJson() const {
    nlohmann::json json = body;
    json["event_id"] = runId + "/" + stream + "/" + std::to_string(seq);
    json["run_id"] = runId;
    json["stream"] = stream;
    json["seq"] = seq;
    return json;
}

OutputRecord OutputRecord::fromJson(const nlohmann::json& json) {
    OutputRecord record{json.at("run_id"), json.at("stream"), json.at("seq"), json};
    for (const char* key : {"event_id", "run_id", "stream", "seq"}) record.body.erase(key);
    return record;
}

OutputSpool::OutputSpool(std::filesystem::path dir) : dir_(std::move(dir)) {
    std::filesystem::create_directories(dir_);
    load();
}

std::filesystem::path OutputSpool::logPath(const std::string& runId) const {
    return dir_ / (runId + ".log");
}

std::filesystem::path OutputSpool::cursorPath(const std::string& runId) const {
    return dir_ / (runId + ".acked");
}

void OutputSpool::load() {
    std::vector<std::pair<std::filesystem::file_time_type, std::string>> found;
    for (const auto& entry : std::filesystem::directory_iterator(dir_)) {
        if (entry.path().extension() == ".log") {
            found.emplace_back(entry.last_write_time(), entry.path().stem().string());
        }
    }
    std::sort(found.begin(), found.end());
    for (const auto& [time, runId] : found) {
        RunLog log;
        std::ifstream cursor(cursorPath(runId));
        cursor >> log.acknowledged;
        std::ifstream in(logPath(runId));
        std::size_t index = 0;
        for (std::string line; std::getline(in, line); ++index) {
            if (index < log.acknowledged) continue;
            auto json = nlohmann::json::parse(line, nullptr, false);
            // Only the last record can be torn (a crash mid-append); it was never
            // acknowledged, and its line died with the process that printed it.
            if (json.is_object()) log.unacknowledged.push_back(OutputRecord::fromJson(json));
        }
        runs_[runId] = std::move(log);
        order_.push_back(runId);
    }
}

void OutputSpool::append(const OutputRecord& record) {
    std::lock_guard lock(mutex_);
    auto [it, inserted] = runs_.try_emplace(record.runId);
    if (inserted) order_.push_back(record.runId);
    std::ofstream out(logPath(record.runId), std::ios::app);
    out << record.toJson().dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << '\n';
    out.flush();
    it->second.unacknowledged.push_back(record);
    changed_.notify_all();
}

std::vector<OutputRecord> OutputSpool::pending(std::size_t maxRecords) {
    std::lock_guard lock(mutex_);
    std::vector<OutputRecord> out;
    for (const auto& runId : order_) {
        const auto& log = runs_[runId];
        for (std::size_t i = 0; i < log.unacknowledged.size() && out.size() < maxRecords; ++i) {
            out.push_back(log.unacknowledged[i]);
        }
        if (!out.empty()) break;  // one run per batch keeps each batch in one run's order
    }
    return out;
}

void OutputSpool::acknowledge(const std::string& runId, std::size_t count) {
    std::lock_guard lock(mutex_);
    auto& log = runs_[runId];
    count = std::min(count, log.unacknowledged.size());
    log.unacknowledged.erase(log.unacknowledged.begin(),
                             log.unacknowledged.begin() + static_cast<std::ptrdiff_t>(count));
    log.acknowledged += count;
    const auto temporary = cursorPath(runId).string() + ".tmp";
    std::ofstream(temporary) << log.acknowledged;
    std::filesystem::rename(temporary, cursorPath(runId));
}

bool OutputSpool::waitForPending(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    auto anyPending = [&] {
        for (const auto& [runId, log] : runs_) {
            if (!log.unacknowledged.empty()) return true;
        }
        return false;
    };
    return changed_.wait_for(lock, timeout, anyPending);
}

void OutputSpool::wake() { changed_.notify_all(); }

}  // namespace aw
