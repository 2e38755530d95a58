#include "agent_executor/output_spool.h"

#include <fcntl.h>
#include <unistd.h>

#include <Poco/Logger.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
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

//! Writes all of `text` to `fd`; false (errno set) when it cannot.
bool writeAll(int fd, std::string_view text) {
    while (!text.empty()) {
        const auto n = ::write(fd, text.data(), text.size());
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        text.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
}

//! Records `count` as the run's delivered records. The number has a fixed width and is
//! written over the old one in place, by one small write within a page: a crash leaves
//! the old number or the new one, and no file is created or renamed per batch.
void writeCursor(const std::filesystem::path& path, std::size_t count) {
    char text[32];
    const int length = std::snprintf(text, sizeof text, "%020zu\n", count);
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0 || ::pwrite(fd, text, static_cast<std::size_t>(length), 0) != length) {
        logFields(logger(), Poco::Message::PRIO_ERROR, "spool cursor write failed",
                  {{"path", path.string()}, {"error", std::strerror(errno)}});
    }
    if (fd >= 0) ::close(fd);
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

OutputSpool::~OutputSpool() {
    for (auto& [runId, log] : runs_) {
        if (log.fd >= 0) ::close(log.fd);
    }
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

void OutputSpool::admit(RunLog& log, Spooled record) {
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
        // The exit tells the host what was lost (once per given-up run: decoded again here).
        auto exit = OutputRecord::fromJson(nlohmann::json::parse(record.json));
        exit.lostStdoutLines = log.lostStdout;
        exit.lostStderrLines = log.lostStderr;
        exit.lostReason = log.lostReason;
        log.unacknowledged.push_back({record.stream, exit.toText()});
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
                const auto stream = OutputRecord::fromJson(json).stream;
                if (delivered) {
                    if (stream == OutputStream::Stdout) ++log.lostStdout;
                    if (stream == OutputStream::Stderr) ++log.lostStderr;
                    continue;
                }
                log.appended = index;
                admit(log, {stream, std::move(line)});
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

void OutputSpool::append(const std::vector<OutputRecord>& records) {
    if (records.empty()) return;
    // Encoded before taking the lock, so the deliverer is not held up meanwhile.
    std::vector<Spooled> group;
    group.reserve(records.size());
    std::string text;
    for (const auto& record : records) {
        group.push_back({record.stream, record.toText()});
        text += group.back().json;
        text += '\n';
    }
    const std::string& runId = records.front().runId;
    std::lock_guard lock(mutex_);
    RunLog& log = logOf(runId);
    if (log.fd < 0) {
        log.fd = ::open(logPath(runId).c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    }
    // One write for the group, not one per line: that is what makes a fast printer cheap.
    // It reaches the kernel before the records are pending, so a crash of the executor
    // after this point loses none of them.
    if (log.fd < 0 || !writeAll(log.fd, text)) {
        // Still delivered from memory, unless the executor dies first.
        logFields(logger(), Poco::Message::PRIO_ERROR, "spool write failed",
                  {{"run_id", runId}, {"records", group.size()}, {"error", std::strerror(errno)}});
    }
    for (auto& record : group) admit(log, std::move(record));
    if (records.back().stream == OutputStream::Exit && log.fd >= 0) {
        ::close(log.fd);  // the run's last record
        log.fd = -1;
    }
    changed_.notify_all();
}

PendingBatch OutputSpool::pending(std::size_t maxRecords) {
    std::lock_guard lock(mutex_);
    for (const auto& runId : order_) {
        const RunLog& log = runs_[runId];
        if (log.unacknowledged.empty()) continue;
        PendingBatch batch{runId, log.traceId, {}};
        const std::size_t count = std::min(maxRecords, log.unacknowledged.size());
        batch.records.reserve(count);
        for (std::size_t i = 0; i < count; ++i) batch.records.push_back(log.unacknowledged[i].json);
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
    writeCursor(cursorPath(runId), log.acknowledged);
}

void OutputSpool::giveUp(const std::string& runId, const std::string& reason) {
    std::lock_guard lock(mutex_);
    auto& log = runs_[runId];
    if (log.lostFrom) {
        // The exit record, the last one of the run, was refused too: nothing is left.
        log.unacknowledged.clear();
        log.acknowledged = log.appended;
        writeCursor(cursorPath(runId), log.acknowledged);
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
