#include "logging/json_formatter.h"

#include "agent_worker/core/time_format.h"

#include <Poco/AutoPtr.h>
#include <Poco/FormattingChannel.h>
#include <Poco/Logger.h>
#include <Poco/Message.h>

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <iterator>
#include <optional>
#include <string_view>
#include <utility>

namespace aw {
namespace {

// logFields() builds the whole line once and hands it to the formatter in this parameter:
// serialising the fields to a string that the formatter parsed back cost more than the rest
// of a request's access log line together.
constexpr const char* kLineParam = "aw.line";

std::string_view levelName(Poco::Message::Priority priority) {
    switch (priority) {
        case Poco::Message::PRIO_FATAL: return "fatal";
        case Poco::Message::PRIO_CRITICAL: return "critical";
        case Poco::Message::PRIO_ERROR: return "error";
        case Poco::Message::PRIO_WARNING: return "warning";
        case Poco::Message::PRIO_NOTICE: return "notice";
        case Poco::Message::PRIO_INFORMATION: return "info";
        case Poco::Message::PRIO_DEBUG: return "debug";
        case Poco::Message::PRIO_TRACE: return "trace";
    }
    return "info";
}

//! All of `text` to `fd`; a log that cannot be written is dropped (there is nowhere to say so).
void writeAll(int fd, const std::string& text) {
    std::size_t done = 0;
    while (done < text.size()) {
        const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return;
        done += static_cast<std::size_t>(n);
    }
}

std::mutex& currentMutex() {
    static std::mutex mutex;
    return mutex;
}
//! The channel configureJsonLogging() installed last, for flushJsonLogging() and exit.
Poco::AutoPtr<BufferedLineChannel>& currentChannel() {
    static Poco::AutoPtr<BufferedLineChannel> channel;
    return channel;
}

using Serializer = nlohmann::detail::serializer<nlohmann::json>;

//! What json::dump writes for `text` as a string, without a json value to hold it: the
//! common case (printable ASCII without quote or backslash) as it is, anything else
//! through the serializer, which escapes and replaces invalid UTF-8 as dump() does.
bool isPlain(std::string_view text) {
    return std::all_of(text.begin(), text.end(),
                       [](char c) { return c >= 0x20 && c < 0x7f && c != '"' && c != '\\'; });
}

void appendString(std::string& out, Serializer& serializer, std::string_view text) {
    if (!isPlain(text)) {
        serializer.dump(nlohmann::json(std::string(text)), false, false, 0);
        return;
    }
    out += '"';
    out += text;
    out += '"';
}

//! `"` isoUtcMillis(unixMillis) `"` onto `out`. Formatting the time (gmtime_r, snprintf) was
//! most of the line's cost; a thread's lines mostly fall in the second of its previous one,
//! so the "YYYY-MM-DDTHH:MM:SS." of that second is kept and only the milliseconds written.
void appendTimestamp(std::string& out, std::int64_t unixMillis) {
    thread_local std::int64_t cachedSecond = -1;
    thread_local std::string cachedPrefix;
    out += '"';
    if (unixMillis < 0) {
        out += isoUtcMillis(unixMillis);
    } else {
        if (unixMillis / 1000 != cachedSecond) {
            const std::string full = isoUtcMillis(unixMillis);
            cachedPrefix.assign(full, 0, full.size() - 4);  // all but "mmmZ"
            cachedSecond = unixMillis / 1000;
        }
        const auto millis = static_cast<int>(unixMillis % 1000);
        out += cachedPrefix;
        out += static_cast<char>('0' + millis / 100);
        out += static_cast<char>('0' + millis / 10 % 10);
        out += static_cast<char>('0' + millis % 10);
        out += 'Z';
    }
    out += '"';
}

//! A thread's line and the serializer that writes into it, kept from line to line: making a
//! serializer (a locale lookup, two allocations) was a fair part of a short line's cost.
struct LineWriter {
    std::string line;
    Serializer serializer{nlohmann::detail::output_adapter<char, std::string>(line), ' ',
                          nlohmann::json::error_handler_t::replace};
};

//! The JSON line of `msg` with `fields` (each `field` named by `keyOf(field)` and written by
//! `writeValue(out, serializer, field)`, in key order), in this thread's buffer: valid until
//! the thread's next line, so callers copy it at once.
template <typename Fields, typename KeyOf, typename WriteValue>
const std::string& jsonLineWith(const Poco::Message& msg, const Fields& fields, KeyOf keyOf,
                                WriteValue writeValue) {
    // The line as json::dump() writes an object, so the same bytes as when it was one: keys in
    // their sorted order (the object's std::map), fields replacing the four base keys of the
    // same name, compact, invalid UTF-8 replaced rather than thrown (a log line must never
    // take the host down). The serializer appends every value straight onto the line.
    thread_local LineWriter writer;
    std::string& out = writer.line;
    Serializer& serializer = writer.serializer;
    out.clear();
    const std::string_view level = levelName(msg.getPriority());
    // "ts" has no text here: appendTimestamp writes it.
    const std::pair<std::string_view, std::optional<std::string_view>> base[] = {
        {"level", level}, {"logger", msg.getSource()}, {"msg", msg.getText()}, {"ts", std::nullopt}};
    std::size_t nextBase = 0;
    bool first = true;
    const auto key = [&](std::string_view name) {
        out += first ? '{' : ',';
        first = false;
        appendString(out, serializer, name);
        out += ':';
    };
    // The base keys that sort before `name` (all when null); one equal to it is skipped.
    const auto baseUpTo = [&](std::optional<std::string_view> name) {
        for (; nextBase < std::size(base); ++nextBase) {
            const std::string_view baseKey = base[nextBase].first;
            if (name && baseKey > *name) return;
            if (name && baseKey == *name) continue;
            key(baseKey);
            if (base[nextBase].second) {
                appendString(out, serializer, *base[nextBase].second);
            } else {
                appendTimestamp(out, msg.getTime().epochMicroseconds() / 1000);
            }
        }
    };
    for (const auto& field : fields) {
        const std::string_view name = keyOf(field);
        baseUpTo(name);
        key(name);
        writeValue(out, serializer, field);
    }
    baseUpTo(std::nullopt);
    out += '}';
    return out;
}

const std::string& jsonLine(const Poco::Message& msg, const nlohmann::json* fields) {
    static const nlohmann::json kNone = nlohmann::json::object();
    const nlohmann::json& object = fields && fields->is_object() ? *fields : kNone;
    return jsonLineWith(
        msg, object.items(), [](const auto& field) { return std::string_view(field.key()); },
        [](std::string&, Serializer& serializer, const auto& field) {
            serializer.dump(field.value(), false, false, 0);
        });
}

}  // namespace

BufferedLineChannel::BufferedLineChannel(int fd, std::size_t flushBytes,
                                         std::chrono::milliseconds flushInterval)
    : fd_(fd),
      flushBytes_(flushBytes),
      flusher_([this, flushInterval] { flushEvery(flushInterval); }) {
    // Room for a full buffer and its last line in both buffers (flush() swaps them), so
    // appending under bufferMutex_, which every request's thread takes, does not reallocate
    // and copy what is already buffered.
    std::lock_guard writing(writeMutex_);
    std::lock_guard lock(bufferMutex_);
    buffer_.reserve(flushBytes_ + 4096);
    writing_.reserve(flushBytes_ + 4096);
}

BufferedLineChannel::~BufferedLineChannel() {
    close();
}

void BufferedLineChannel::log(const Poco::Message& msg) {
    bool now = false;
    {
        std::lock_guard lock(bufferMutex_);
        buffer_ += msg.getText();
        buffer_ += '\n';
        // Warnings and worse go out at once: they may be the last words before a crash.
        // Once closed (the flusher is gone), every line does.
        now = stopping_ || buffer_.size() >= flushBytes_ ||
              msg.getPriority() <= Poco::Message::PRIO_WARNING;
    }
    if (now) flush();
}

void BufferedLineChannel::flush() {
    std::lock_guard writing(writeMutex_);
    {
        std::lock_guard lock(bufferMutex_);
        // The two buffers trade places and keep their capacity: the next lines go into the
        // room the last write left.
        writing_.swap(buffer_);
    }
    writeAll(fd_, writing_);
    writing_.clear();
}

void BufferedLineChannel::close() {
    {
        std::lock_guard lock(bufferMutex_);
        stopping_ = true;
    }
    wake_.notify_all();
    if (flusher_.joinable() && flusher_.get_id() != std::this_thread::get_id()) flusher_.join();
    flush();
}

void BufferedLineChannel::flushEvery(std::chrono::milliseconds interval) {
    std::unique_lock lock(bufferMutex_);
    while (!stopping_) {
        wake_.wait_for(lock, interval, [this] { return stopping_; });
        if (buffer_.empty()) continue;
        lock.unlock();
        flush();
        lock.lock();
    }
}

void JsonFormatter::format(const Poco::Message& msg, std::string& text) {
    if (msg.has(kLineParam)) {
        text = msg.get(kLineParam);
        return;
    }
    text = jsonLine(msg, nullptr);
}

void configureJsonLogging(const std::string& level) {
    Poco::AutoPtr<BufferedLineChannel> lines(new BufferedLineChannel(STDERR_FILENO));
    {
        std::lock_guard lock(currentMutex());
        currentChannel() = lines;
    }
    // Lines buffered when main() returns or exit() is called still reach stderr.
    static const bool flushAtExit = (std::atexit(flushJsonLogging), true);
    (void)flushAtExit;
    Poco::AutoPtr<Poco::FormattingChannel> channel(
        new Poco::FormattingChannel(new JsonFormatter, lines));
    // The root first (loggers created later inherit from it), then "" for every logger
    // created so far, including Poco's own.
    Poco::Logger::root().setChannel(channel);
    Poco::Logger::root().setLevel(Poco::Logger::parseLevel(level));
    Poco::Logger::setChannel("", channel);
    Poco::Logger::setLevel("", Poco::Logger::parseLevel(level));
}

void flushJsonLogging() {
    Poco::AutoPtr<BufferedLineChannel> channel;
    {
        std::lock_guard lock(currentMutex());
        channel = currentChannel();
    }
    if (channel) channel->flush();
}

void logFields(Poco::Logger& logger, Poco::Message::Priority priority, const std::string& text,
               const nlohmann::json& fields) {
    if (!logger.is(priority)) return;
    Poco::Message msg(logger.name(), text, priority);
    msg.set(kLineParam, jsonLine(msg, &fields));
    logger.log(msg);
}

void logRawFields(Poco::Logger& logger, Poco::Message::Priority priority, const std::string& text,
                  std::span<const RawLogField> fields) {
    if (!logger.is(priority)) return;
    Poco::Message msg(logger.name(), text, priority);
    msg.set(kLineParam, jsonLineWith(
                            msg, fields, [](const RawLogField& field) { return field.key; },
                            [](std::string& out, Serializer&, const RawLogField& field) { out += field.json; }));
    logger.log(msg);
}

void appendJsonString(std::string& out, std::string_view text) {
    if (isPlain(text)) {
        out += '"';
        out += text;
        out += '"';
        return;
    }
    out += nlohmann::json(std::string(text)).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace aw
