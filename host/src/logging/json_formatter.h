// Structured logs: one JSON object per line on stderr, for machines to ingest.
#pragma once

#include <Poco/Formatter.h>
#include <Poco/Logger.h>
#include <nlohmann/json.hpp>

namespace aw {

//! {"ts","level","logger","msg", ...fields}. Fields come from logFields() below.
class JsonFormatter : public Poco::Formatter {
public:
    void format(const Poco::Message& msg, std::string& text) override;
};

//! Route all Poco logging to stderr as JSON lines at `level` (trace..fatal).
void configureJsonLogging(const std::string& level);

//! Log `text` with extra top-level fields (request ids, statuses, durations...).
void logFields(Poco::Logger& logger, Poco::Message::Priority priority, const std::string& text,
               const nlohmann::json& fields);

}  // namespace aw
