// A run: one user message handled by one provider in one session worker.
#pragma once

#include <optional>
#include <string_view>

namespace aw {

enum class RunStatus {
    Queued,
    Starting,      //!< worker being activated, workspace restored
    Running,       //!< the agent CLI is running
    WaitingHuman,  //!< paused on a human.request; counts as active
    Completed,
    Failed,
    Stopped,  //!< stopped on request (reason `cancelled`)
};

std::string_view toString(RunStatus status);
std::optional<RunStatus> parseRunStatus(std::string_view name);

//! True while the run holds its worker (no idle stop may happen).
bool isActive(RunStatus status);
//! True once nothing more will happen to the run.
bool isTerminal(RunStatus status);

//! State of a run_queue entry.
enum class QueueStatus { Queued, Claimed, Succeeded, RetryWait, FinalFailed };

std::string_view toString(QueueStatus status);
std::optional<QueueStatus> parseQueueStatus(std::string_view name);

}  // namespace aw
