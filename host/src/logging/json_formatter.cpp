#include "logging/json_formatter.h"

#include "agent_worker/core/time_format.h"

#include <Poco/AutoPtr.h>
#include <Poco/FormattingChannel.h>
#include <Poco/Logger.h>
#include <Poco/Message.h>

#include <unistd.h>

#include <cerrno>
#include <cstdlib>

namespace aw {
namespace {

// Poco 1.11 messages cannot enumerate their parameters, so fields travel as one JSON string.
constexpr const char* kFieldsParam = "aw.fields";

const char* levelName(Poco::Message::Priority priority) {
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

}  // namespace

BufferedLineChannel::BufferedLineChannel(int fd, std::size_t flushBytes,
                                         std::chrono::milliseconds flushInterval)
    : fd_(fd),
      flushBytes_(flushBytes),
      flusher_([this, flushInterval] { flushEvery(flushInterval); }) {}

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
    std::string out;
    {
        std::lock_guard lock(bufferMutex_);
        out.swap(buffer_);
    }
    writeAll(fd_, out);
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
    nlohmann::json line;
    line["ts"] = isoUtcMillis(msg.getTime().epochMicroseconds() / 1000);
    line["level"] = levelName(msg.getPriority());
    line["logger"] = msg.getSource();
    line["msg"] = msg.getText();
    if (msg.has(kFieldsParam)) {
        auto fields = nlohmann::json::parse(msg.get(kFieldsParam), nullptr, false);
        if (fields.is_object()) {
            for (auto& [key, value] : fields.items()) line[key] = value;
        }
    }
    // Replace invalid UTF-8 rather than throw: a log line must never take the host down.
    text = line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
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
    msg.set(kFieldsParam, fields.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
    logger.log(msg);
}

}  // namespace aw
