#include "agent_executor/output_spool.h"

#include <Poco/Logger.h>

#include <algorithm>
#include <fstream>

#include "agent_worker/core/random_id.h"
#include "logging/json_formatter.h"

namespace aw {
namespace {

Poco::Logger& logger() { return Poco::Logger::get("spool"); }

//! Replaces `path` with `text` atomically: a crash leaves the old file or the new one.
void writeFileAtomically(const std::filesystem::path& path, const std::string& text) {
    const auto temporary = path.string() + ".tmp";
    std::ofstream(temporary, std::ios::trunc) << text;
    std::filesystem::rename(temporary, path);
}

std::string readWord(const std::filesystem::path& path) {
    std::ifstream in(path);
    std::string word;
    in >> word;
    return word;
}

}  // namespace

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

std::filesystem::path OutputSpool::tracePath(const std::string& runId) const {
    return dir_ / (runId + ".trace");
}

OutputSpool::RunLog& OutputSpool::logOf(const std::string& runId) {
    auto [it, inserted] = runs_.try_emplace(runId);
    if (inserted) order_.push_back(runId);
    return it->second;
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
        RunLog& log = logOf(runId);
        log.traceId = readWord(tracePath(runId));
        if (log.traceId.empty()) {
            // A spool written before runs kept their trace: one trace for the rest of it.
            log.traceId = newTraceId();
            writeFileAtomically(tracePath(runId), log.traceId);
        }
        std::ifstream cursor(cursorPath(runId));
        cursor >> log.acknowledged;
        std::ifstream in(logPath(runId));
        std::size_t index = 0;
        for (std::string line; std::getline(in, line); ++index) {
            if (index < log.acknowledged) continue;
            // Only the last record can be torn (a crash mid-append); it was never
            // acknowledged, and its line died with the process that printed it.
            const auto json = nlohmann::json::parse(line, nullptr, false);
            if (!json.is_object()) continue;
            try {
                log.unacknowledged.push_back(OutputRecord::fromJson(json));
            } catch (const ProblemError& e) {
                logFields(logger(), Poco::Message::PRIO_WARNING, "unreadable spool record skipped",
                          {{"run_id", runId}, {"index", index}, {"error", e.what()}});
            }
        }
    }
}

void OutputSpool::beginRun(const std::string& runId, const std::string& traceId) {
    std::lock_guard lock(mutex_);
    RunLog& log = logOf(runId);
    if (!log.traceId.empty()) return;
    writeFileAtomically(tracePath(runId), traceId);
    log.traceId = traceId;
}

std::string OutputSpool::traceId(const std::string& runId) {
    std::lock_guard lock(mutex_);
    const auto it = runs_.find(runId);
    return it == runs_.end() ? std::string() : it->second.traceId;
}

void OutputSpool::append(const OutputRecord& record) {
    std::lock_guard lock(mutex_);
    RunLog& log = logOf(record.runId);
    std::ofstream out(logPath(record.runId), std::ios::app);
    out << record.toJson().dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << '\n';
    out.flush();
    log.unacknowledged.push_back(record);
    changed_.notify_all();
}

PendingBatch OutputSpool::pending(std::size_t maxRecords) {
    std::lock_guard lock(mutex_);
    for (const auto& runId : order_) {
        const RunLog& log = runs_[runId];
        if (log.unacknowledged.empty()) continue;
        PendingBatch batch{runId, log.traceId, {}};
        const std::size_t count = std::min(maxRecords, log.unacknowledged.size());
        batch.records.assign(log.unacknowledged.begin(),
                             log.unacknowledged.begin() + static_cast<std::ptrdiff_t>(count));
        return batch;
    }
    return {};
}

void OutputSpool::acknowledge(const std::string& runId, std::size_t count) {
    std::lock_guard lock(mutex_);
    auto& log = runs_[runId];
    count = std::min(count, log.unacknowledged.size());
    log.unacknowledged.erase(log.unacknowledged.begin(),
                             log.unacknowledged.begin() + static_cast<std::ptrdiff_t>(count));
    log.acknowledged += count;
    writeFileAtomically(cursorPath(runId), std::to_string(log.acknowledged));
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
