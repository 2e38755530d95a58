// A rejected line leaves a trace instead of its events: a provider.line_error event and a
// count on the terminal event, so a client can tell that something was left out, and why.
#include "agent_worker/core/plugin_output_gate.h"

#include "agent_worker/event_types.h"

namespace aw {
namespace {

//! `text` cut to at most `limit` bytes, never inside a UTF-8 character.
std::string cut(std::string_view text, std::size_t limit) {
    if (text.size() <= limit) return std::string(text);
    std::size_t size = limit;
    while (size > 0 && (static_cast<unsigned char>(text[size]) & 0xC0) == 0x80) --size;
    return std::string(text.substr(0, size)) + "...";
}

bool isTerminalName(const nlohmann::json& event) {
    const auto type = parseEventType(event.value("type", std::string()));
    return type && isTerminal(*type);
}

}  // namespace

PluginOutputGate::PluginOutputGate(std::string provider, std::size_t lineErrorsSoFar)
    : provider_(std::move(provider)), lineErrors_(lineErrorsSoFar) {}

nlohmann::json PluginOutputGate::lineErrorEvent(std::string_view rawEventId,
                                                std::string_view reason) const {
    return {{"type", AW_EVENT_PROVIDER_LINE_ERROR},
            {"data",
             {{"raw_event_id", std::string(rawEventId)},
              {"reason", cut(reason, kMaxLineErrorReasonBytes)},
              {"provider", provider_}}}};
}

PluginOutputGate::Admitted PluginOutputGate::reject(std::string_view rawEventId,
                                                    std::string_view reason) {
    ++lineErrors_;
    Admitted admitted;
    admitted.rejection =
        reason.empty() ? std::string("rejected without a reason") : std::string(reason);
    admitted.events.push_back(lineErrorEvent(rawEventId, admitted.rejection));
    return admitted;
}

PluginOutputGate::Admitted PluginOutputGate::admit(const nlohmann::json& output,
                                                   std::string_view rawEventId, PluginCall call) {
    CheckedOutput checked = checkPluginOutput(output, call);
    Admitted admitted;
    if (checked.accepted()) {
        admitted.events = std::move(checked.events);
    } else {
        admitted = reject(rawEventId, checked.reason());
    }
    admitted.stdinBytes = std::move(checked.stdinBytes);
    admitted.closeStdin = checked.closeStdin;
    if (call == PluginCall::Exit) countOnTerminal(admitted.events);
    return admitted;
}

void PluginOutputGate::countOnTerminal(nlohmann::json& events) const {
    for (auto& event : events) {
        if (isTerminalName(event) && event.contains("data") && event["data"].is_object()) {
            event["data"]["line_errors"] = lineErrors_;
        }
    }
}

}  // namespace aw
