#include "agent_executor/output_spool.h"

#include <Poco/Logger.h>

#include <algorithm>
#include <fstream>

#include "agent_worker/core/random_id.h"
#include "files/private_files.h"
#include "logging/json_formatter.h"

namespace aw {
namespace {

Poco::Logger& logger() { return Poco::Logger::get("spool"); }

//! Replaces `path` with `text` atomically: a crash leaves the old file or the new one.
void writeFileAtomically(const std::filesystem::path& path, const std::string& text) {
    const auto temporary = path.string() + ".tmp";
    openPrivateFile(temporary, std::ios::trunc) << text;
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
    createPrivateDirectories(dir_);
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

std::filesystem::path OutputSpool::lostPath(const std::string& runId) const {
    return dir_ / (runId + ".lost");
}

void OutputSpool::admit(RunLog& log, OutputRecord record) {
    const std::size_t index = log.appended++;
    if (!log.lostFrom || index < *log.lostFrom) {
        log.unacknowledged.push_back(std::move(record));
        return;
    }
    if (record.stream == OutputStream::Stdout) {
        ++log.lostStdout;
    } else if (record.stream == OutputStream::Stderr) {
        ++log.lostStderr;
    } else {
        record.lostStdoutLines = log.lostStdout;
        record.lostStderrLines = log.lostStderr;
        record.lostReason = log.lostReason;
        log.unacknowledged.push_back(std::move(record));
    }
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
        if (const auto lost = nlohmann::json::parse(std::ifstream(lostPath(runId)), nullptr, false);
            lost.is_object() && lost.value("from", nlohmann::json()).is_number_unsigned()) {
            log.lostFrom = lost["from"].get<std::size_t>();
            log.lostReason = lost.value("reason", std::string());
        }
        std::ifstream in(logPath(runId));
        std::size_t index = 0;
        for (std::string line; std::getline(in, line); ++index) {
            const bool delivered = index < log.acknowledged;
            // Delivered lines are read again only to count those given up.
            if (delivered && !(log.lostFrom && index >= *log.lostFrom)) continue;
            // Only the last record can be torn (a crash mid-append); it was never
            // acknowledged, and its line died with the process that printed it.
            const auto json = nlohmann::json::parse(line, nullptr, false);
            if (!json.is_object()) continue;
            try {
                auto record = OutputRecord::fromJson(json);
                if (delivered) {
                    if (record.stream == OutputStream::Stdout) ++log.lostStdout;
                    if (record.stream == OutputStream::Stderr) ++log.lostStderr;
                    continue;
                }
                log.appended = index;
                admit(log, std::move(record));
            } catch (const ProblemError& e) {
                logFields(logger(), Poco::Message::PRIO_WARNING, "unreadable spool record skipped",
                          {{"run_id", runId}, {"index", index}, {"error", e.what()}});
            }
        }
        log.appended = index;
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
    auto out = openPrivateFile(logPath(record.runId), std::ios::app);
    out << record.toJson().dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << '\n';
    out.flush();
    admit(log, record);
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
    // Past the lines given up before them too (see giveUp): every record not pending.
    log.acknowledged = log.appended - log.unacknowledged.size();
    writeFileAtomically(cursorPath(runId), std::to_string(log.acknowledged));
}

void OutputSpool::giveUp(const std::string& runId, const std::string& reason) {
    std::lock_guard lock(mutex_);
    auto& log = runs_[runId];
    if (log.lostFrom) {
        // The exit record, the last one of the run, was refused too: nothing is left.
        log.unacknowledged.clear();
        log.acknowledged = log.appended;
        writeFileAtomically(cursorPath(runId), std::to_string(log.acknowledged));
        return;
    }
    log.lostFrom = log.acknowledged;
    log.lostReason = reason;
    writeFileAtomically(lostPath(runId),
                        nlohmann::json{{"from", log.acknowledged}, {"reason", reason}}.dump());
    // The pending records are taken again, the lines now counted lost.
    auto pending = std::move(log.unacknowledged);
    log.unacknowledged.clear();
    log.appended = log.acknowledged;
    for (auto& record : pending) admit(log, std::move(record));
    // The lines before the exit are consumed: the cursor stays at the first given up one
    // (durable), and moves past all of them once the exit is acknowledged.
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
