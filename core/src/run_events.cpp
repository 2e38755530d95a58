#include "agent_worker/core/run_events.h"

#include "agent_worker/core/event_type.h"
#include "agent_worker/core/json_access.h"
#include "agent_worker/core/time_format.h"

namespace aw {

nlohmann::json StoredEvent::toJson() const {
    return {{"event_id", eventId}, {"run_id", runId}, {"session_id", sessionId},
            {"seq", seq},          {"type", type},    {"ts", isoUtcMillis(tsMs)},
            {"provider", provider}, {"data", data}};
}

namespace {

//! `text` as a JSON string, escaped as dump() escapes it (ensure_ascii off). Text with
//! bytes past ASCII goes through nlohmann itself, which replaces invalid UTF-8 as the
//! event streams' dump does.
void appendJsonString(std::string& out, std::string_view text) {
    for (const char c : text) {
        if (static_cast<unsigned char>(c) >= 0x80) {
            out += nlohmann::json(std::string(text)).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
            return;
        }
    }
    out += '"';
    for (const char c : text) {
        switch (c) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\b': out += "\\b"; break;
            case '\f': out += "\\f"; break;
            case '\n': out += "\\n"; break;
            case '\r': out += "\\r"; break;
            case '\t': out += "\\t"; break;
            default:
                if (static_cast<unsigned char>(c) < 0x20) {
                    static constexpr char kHex[] = "0123456789abcdef";
                    out += "\\u00";
                    out += kHex[(c >> 4) & 0xf];
                    out += kHex[c & 0xf];
                } else {
                    out += c;
                }
        }
    }
    out += '"';
}

}  // namespace

std::string StoredEvent::jsonText(std::string_view dataJson) const {
    // toJson()'s keys in the order its object (a std::map) dumps them.
    std::string text;
    text.reserve(dataJson.size() + eventId.size() * 2 + 160);
    text += "{\"data\":";
    text += dataJson;
    text += ",\"event_id\":";
    appendJsonString(text, eventId);
    text += ",\"provider\":";
    appendJsonString(text, provider);
    text += ",\"run_id\":";
    appendJsonString(text, runId);
    text += ",\"seq\":";
    text += std::to_string(seq);
    text += ",\"session_id\":";
    appendJsonString(text, sessionId);
    text += ",\"ts\":";
    appendJsonString(text, isoUtcMillis(tsMs));
    text += ",\"type\":";
    appendJsonString(text, type);
    text += '}';
    return text;
}

std::string translatedEventId(std::string_view rawEventId, std::size_t index) {
    return std::string(rawEventId) + "#" + std::to_string(index);
}

std::string hostEventId(std::string_view runId, std::string_view name) {
    return std::string(runId) + ":host:" + std::string(name);
}

nlohmann::json addUsage(const nlohmann::json& total, const nlohmann::json& delta) {
    nlohmann::json sum = total.is_object() ? total : nlohmann::json::object();
    if (!delta.is_object()) return sum;
    for (const auto& [key, value] : delta.items()) {
        if (key == "session_totals") continue;  // the CLI's cumulative view, not this run's
        if (value.is_number() && sum.contains(key) && sum[key].is_number()) {
            if (value.is_number_integer() && sum[key].is_number_integer()) {
                sum[key] = sum[key].get<std::int64_t>() + value.get<std::int64_t>();
            } else {
                sum[key] = sum[key].get<double>() + value.get<double>();
            }
        } else {
            sum[key] = value;
        }
    }
    return sum;
}

StateChange deriveStateChange(std::string_view type, const nlohmann::json& data) {
    StateChange change;
    const auto parsed = parseEventType(type);
    if (!parsed || !data.is_object()) return change;
    switch (*parsed) {
        case EventType::RunQueued:
            // A retried attempt goes back to the queue; the first run.queued changes nothing.
            if (data.value("retry", false)) {
                change.runStatus = RunStatus::Queued;
                change.onlyFrom = {RunStatus::Starting};
            }
            break;
        case EventType::RunStarted:
        case EventType::RunResumed:
            change.runStatus = RunStatus::Running;
            break;
        case EventType::RunWaitingHuman:
            change.runStatus = RunStatus::WaitingHuman;
            change.onlyFrom = {RunStatus::Running};
            break;
        case EventType::RunCompleted:
        case EventType::RunFailed:
        case EventType::RunStopped: {
            change.runStatus = *parsed == EventType::RunCompleted ? RunStatus::Completed
                               : *parsed == EventType::RunFailed  ? RunStatus::Failed
                                                                  : RunStatus::Stopped;
            if (*parsed == EventType::RunFailed) {
                const auto error = data.value("error", nlohmann::json::object());
                change.errorCode = error.is_object() ? stringOr(error, "class") : "";
                change.errorMessage = error.is_object() ? stringOr(error, "message") : "";
                if (change.errorCode->empty()) change.errorCode = "process_error";
            } else if (*parsed == EventType::RunStopped) {
                change.errorCode = data.value("reason", std::string("cancelled"));
                change.errorMessage = "the run was stopped on request";
            }
            if (data.contains("usage") && data["usage"].is_object()) change.finalUsage = data["usage"];
            break;
        }
        case EventType::Usage:
            change.runUsage = data;
            break;
        case EventType::ProviderSession:
            if (auto id = stringOr(data, "provider_session_id"); !id.empty()) {
                change.providerSessionId = id;
            }
            break;
        case EventType::TodoUpdate:
            if (data.contains("todos") && data["todos"].is_array()) {
                nlohmann::json todos = nlohmann::json::array();
                std::size_t position = 0;
                for (const auto& item : data["todos"]) {
                    ++position;
                    if (!item.is_object()) continue;
                    std::string id = stringOr(item, "id");
                    if (id.empty()) id = std::to_string(position);
                    std::string status = stringOr(item, "status");
                    if (status != "pending" && status != "in_progress" && status != "completed") {
                        status = "pending";
                    }
                    todos.push_back({{"id", id}, {"content", stringOr(item, "content")}, {"status", status}});
                }
                change.todos = todos;
            }
            break;
        case EventType::HumanRequest: {
            HumanRequestChange request;
            request.requestId = stringOr(data, "request_id");
            if (request.requestId.empty()) break;
            request.kind = stringOr(data, "kind") == "question" ? "question" : "permission";
            request.tool = stringOr(data, "tool");
            if (data.contains("input")) request.input = data["input"];
            if (data.contains("options")) request.options = data["options"];
            if (data.contains("questions")) request.input["questions"] = data["questions"];
            change.humanRequest = request;
            break;
        }
        case EventType::HumanResponse: {
            HumanResponseChange response;
            response.requestId = stringOr(data, "request_id");
            if (response.requestId.empty()) break;
            const std::string decision = stringOr(data, "decision");
            if (decision == "allow" || decision == "deny") {
                response.status = "answered";
                response.decision = decision;
            } else {
                response.status = decision == "timed_out" ? "timed_out" : "cancelled";
            }
            response.message = stringOr(data, "message");
            response.answeredBy = stringOr(data, "by");
            change.humanResponse = response;
            break;
        }
        default:
            break;
    }
    return change;
}

}  // namespace aw
