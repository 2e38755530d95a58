#include "logging/json_formatter.h"

#include "agent_worker/core/time_format.h"

#include <Poco/AutoPtr.h>
#include <Poco/ConsoleChannel.h>
#include <Poco/FormattingChannel.h>
#include <Poco/Logger.h>
#include <Poco/Message.h>

#include <iostream>

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

}  // namespace

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
    Poco::AutoPtr<Poco::FormattingChannel> channel(
        new Poco::FormattingChannel(new JsonFormatter, new Poco::ConsoleChannel(std::cerr)));
    // The root first (loggers created later inherit from it), then "" for every logger
    // created so far, including Poco's own.
    Poco::Logger::root().setChannel(channel);
    Poco::Logger::root().setLevel(Poco::Logger::parseLevel(level));
    Poco::Logger::setChannel("", channel);
    Poco::Logger::setLevel("", Poco::Logger::parseLevel(level));
}

void logFields(Poco::Logger& logger, Poco::Message::Priority priority, const std::string& text,
               const nlohmann::json& fields) {
    if (!logger.is(priority)) return;
    Poco::Message msg(logger.name(), text, priority);
    msg.set(kFieldsParam, fields.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
    logger.log(msg);
}

}  // namespace aw
