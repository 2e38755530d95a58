// Structured logs: one JSON object per line on stderr, for machines to ingest.
#pragma once

#include <Poco/Channel.h>
#include <Poco/Formatter.h>
#include <Poco/Logger.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <thread>

namespace aw {

//! {"ts","level","logger","msg", ...fields}. Fields come from logFields() below.
class JsonFormatter : public Poco::Formatter {
public:
    void format(const Poco::Message& msg, std::string& text) override;
};

//! Lines to a file descriptor through a buffer, so that a request's access line costs an
//! append, not a write(2) of its own. The buffer goes out when it holds `flushBytes`, every
//! `flushInterval` (a background thread), at once for warnings and worse, on flush() and
//! when the channel is closed or destroyed.
class BufferedLineChannel : public Poco::Channel {
public:
    explicit BufferedLineChannel(
        int fd, std::size_t flushBytes = 64 * 1024,
        std::chrono::milliseconds flushInterval = std::chrono::milliseconds(100));
    void log(const Poco::Message& msg) override;
    void close() override;
    //! Writes out whatever is buffered; returns once it is written.
    void flush();

protected:
    ~BufferedLineChannel() override;

private:
    void flushEvery(std::chrono::milliseconds interval);

    const int fd_;
    const std::size_t flushBytes_;
    std::mutex bufferMutex_;  // guards buffer_ and stopping_
    std::string buffer_;
    bool stopping_ = false;
    std::condition_variable wake_;
    std::mutex writeMutex_;  // one writer at a time, so lines leave in the order they came
    std::string writing_;    // what flush() writes out; guarded by writeMutex_
    std::thread flusher_;
};

//! Route all Poco logging to stderr as JSON lines at `level` (trace..fatal), buffered
//! (BufferedLineChannel); what is buffered is also written out when the process exits.
void configureJsonLogging(const std::string& level);

//! Writes out the log lines buffered so far (before a deliberate exit, in tests).
void flushJsonLogging();

//! Log `text` with extra top-level fields (request ids, statuses, durations...).
void logFields(Poco::Logger& logger, Poco::Message::Priority priority, const std::string& text,
               const nlohmann::json& fields);

//! A field for logRawFields: its key and its value already written as JSON.
struct RawLogField {
    std::string_view key;
    std::string_view json;
};

//! logFields for a line written per request (the access log): `fields` sorted by key with
//! their values already JSON, so no json object is built. The same line logFields writes.
void logRawFields(Poco::Logger& logger, Poco::Message::Priority priority, const std::string& text,
                  std::span<const RawLogField> fields);

//! `text` as a JSON string (quoted, escaped, invalid UTF-8 replaced) onto `out`.
void appendJsonString(std::string& out, std::string_view text);

}  // namespace aw
