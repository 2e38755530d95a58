#include "agent_worker/core/event_type.h"

#include "agent_worker/core/enum_names.h"

namespace aw {
namespace {

constexpr EnumNameTable<EventType, 20> kEventTypeNames{{
    {EventType::RunQueued, "run.queued"},
    {EventType::RunStarted, "run.started"},
    {EventType::RunWaitingHuman, "run.waiting_human"},
    {EventType::RunResumed, "run.resumed"},
    {EventType::RunCompleted, "run.completed"},
    {EventType::RunFailed, "run.failed"},
    {EventType::RunStopped, "run.stopped"},
    {EventType::MessageStart, "message.start"},
    {EventType::MessageDelta, "message.delta"},
    {EventType::MessageStop, "message.stop"},
    {EventType::ToolStart, "tool.start"},
    {EventType::ToolResult, "tool.result"},
    {EventType::TodoUpdate, "todo.update"},
    {EventType::HumanRequest, "human.request"},
    {EventType::HumanResponse, "human.response"},
    {EventType::WorkspaceRestore, "workspace.restore"},
    {EventType::WorkspaceSync, "workspace.sync"},
    {EventType::Usage, "usage"},
    {EventType::ProviderSession, "provider.session"},
    {EventType::ProviderQuarantine, "provider.quarantine"},
}};

}  // namespace

std::string_view toString(EventType type) { return nameIn(kEventTypeNames, type); }
std::optional<EventType> parseEventType(std::string_view name) {
    return parseIn(kEventTypeNames, name);
}

bool isTerminal(EventType type) {
    return type == EventType::RunCompleted || type == EventType::RunFailed ||
           type == EventType::RunStopped;
}

}  // namespace aw
