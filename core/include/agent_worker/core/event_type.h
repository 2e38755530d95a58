// The unified event types every provider's output is translated into (DESIGN "Unified events").
// Their wire names are the AW_EVENT_* macros of the SDK header agent_worker/event_types.h.
#pragma once

#include <optional>
#include <string_view>

namespace aw {

enum class EventType {
    RunQueued,
    RunStarted,
    RunWaitingHuman,
    RunResumed,
    RunCompleted,
    RunFailed,
    RunStopped,
    MessageStart,
    MessageDelta,
    MessageStop,
    ToolStart,
    ToolResult,
    TodoUpdate,
    HumanRequest,
    HumanResponse,
    WorkspaceRestore,
    WorkspaceSync,
    Usage,
    ProviderSession,
    //! Host-emitted: a raw line that kept crashing the plugin was skipped (see docs/events.md).
    ProviderQuarantine,
    //! Plugin-emitted: something a chat UI can show while the CLI works (a retried API error).
    ProviderNotice,
    //! Host-emitted: a raw line whose plugin output was rejected; its events were not stored.
    ProviderLineError,
};

//! Wire name, e.g. `run.completed`, `tool.start`.
std::string_view toString(EventType type);
std::optional<EventType> parseEventType(std::string_view name);

//! run.completed, run.failed and run.stopped end a run; exactly one is emitted per run.
bool isTerminal(EventType type);

}  // namespace aw
