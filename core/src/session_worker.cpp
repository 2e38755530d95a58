#include "agent_worker/core/session_worker.h"

#include "agent_worker/core/enum_names.h"

namespace aw {
namespace {

constexpr EnumNameTable<WorkerStatus, 9> kWorkerStatusNames{{
    {WorkerStatus::Pending, "pending"},
    {WorkerStatus::Creating, "creating"},
    {WorkerStatus::Running, "running"},
    {WorkerStatus::Stopping, "stopping"},
    {WorkerStatus::Stopped, "stopped"},
    {WorkerStatus::Removing, "removing"},
    {WorkerStatus::Removed, "removed"},
    {WorkerStatus::Deleted, "deleted"},
    {WorkerStatus::Failed, "failed"},
}};

constexpr EnumNameTable<SyncStatus, 3> kSyncStatusNames{{
    {SyncStatus::Never, "never"},
    {SyncStatus::Succeeded, "succeeded"},
    {SyncStatus::Failed, "failed"},
}};

}  // namespace

std::string_view toString(WorkerStatus status) { return nameIn(kWorkerStatusNames, status); }
std::optional<WorkerStatus> parseWorkerStatus(std::string_view name) {
    return parseIn(kWorkerStatusNames, name);
}

bool isTransitional(WorkerStatus status) {
    return status == WorkerStatus::Creating || status == WorkerStatus::Stopping ||
           status == WorkerStatus::Removing;
}

std::string_view toString(SyncStatus status) { return nameIn(kSyncStatusNames, status); }
std::optional<SyncStatus> parseSyncStatus(std::string_view name) {
    return parseIn(kSyncStatusNames, name);
}

}  // namespace aw
