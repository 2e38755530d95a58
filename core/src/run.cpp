#include "agent_worker/core/run.h"

#include "agent_worker/core/enum_names.h"

namespace aw {
namespace {

constexpr EnumNameTable<RunStatus, 7> kRunStatusNames{{
    {RunStatus::Queued, "queued"},
    {RunStatus::Starting, "starting"},
    {RunStatus::Running, "running"},
    {RunStatus::WaitingHuman, "waiting_human"},
    {RunStatus::Completed, "completed"},
    {RunStatus::Failed, "failed"},
    {RunStatus::Stopped, "stopped"},
}};

constexpr EnumNameTable<QueueStatus, 5> kQueueStatusNames{{
    {QueueStatus::Queued, "queued"},
    {QueueStatus::Claimed, "claimed"},
    {QueueStatus::Succeeded, "succeeded"},
    {QueueStatus::RetryWait, "retry_wait"},
    {QueueStatus::FinalFailed, "final_failed"},
}};

}  // namespace

std::string_view toString(RunStatus status) { return nameIn(kRunStatusNames, status); }
std::optional<RunStatus> parseRunStatus(std::string_view name) {
    return parseIn(kRunStatusNames, name);
}

bool isActive(RunStatus status) {
    return status == RunStatus::Starting || status == RunStatus::Running ||
           status == RunStatus::WaitingHuman;
}

bool isTerminal(RunStatus status) {
    return status == RunStatus::Completed || status == RunStatus::Failed ||
           status == RunStatus::Stopped;
}

std::string_view toString(QueueStatus status) { return nameIn(kQueueStatusNames, status); }
std::optional<QueueStatus> parseQueueStatus(std::string_view name) {
    return parseIn(kQueueStatusNames, name);
}

}  // namespace aw
