// Event type names: the SDK's AW_EVENT_* macros, so plugins and the host spell them alike.
#include "agent_worker/core/event_type.h"

#include "agent_worker/core/enum_names.h"
#include "agent_worker/event_types.h"

namespace aw {
namespace {

constexpr EnumNameTable<EventType, 22> kEventTypeNames{{
    {EventType::RunQueued, AW_EVENT_RUN_QUEUED},
    {EventType::RunStarted, AW_EVENT_RUN_STARTED},
    {EventType::RunWaitingHuman, AW_EVENT_RUN_WAITING_HUMAN},
    {EventType::RunResumed, AW_EVENT_RUN_RESUMED},
    {EventType::RunCompleted, AW_EVENT_RUN_COMPLETED},
    {EventType::RunFailed, AW_EVENT_RUN_FAILED},
    {EventType::RunStopped, AW_EVENT_RUN_STOPPED},
    {EventType::MessageStart, AW_EVENT_MESSAGE_START},
    {EventType::MessageDelta, AW_EVENT_MESSAGE_DELTA},
    {EventType::MessageStop, AW_EVENT_MESSAGE_STOP},
    {EventType::ToolStart, AW_EVENT_TOOL_START},
    {EventType::ToolResult, AW_EVENT_TOOL_RESULT},
    {EventType::TodoUpdate, AW_EVENT_TODO_UPDATE},
    {EventType::HumanRequest, AW_EVENT_HUMAN_REQUEST},
    {EventType::HumanResponse, AW_EVENT_HUMAN_RESPONSE},
    {EventType::WorkspaceRestore, AW_EVENT_WORKSPACE_RESTORE},
    {EventType::WorkspaceSync, AW_EVENT_WORKSPACE_SYNC},
    {EventType::Usage, AW_EVENT_USAGE},
    {EventType::ProviderSession, AW_EVENT_PROVIDER_SESSION},
    {EventType::ProviderQuarantine, AW_EVENT_PROVIDER_QUARANTINE},
    {EventType::ProviderNotice, AW_EVENT_PROVIDER_NOTICE},
    {EventType::ProviderLineError, AW_EVENT_PROVIDER_LINE_ERROR},
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
