// Wire names of the domain enums: what the database, the API and the docs use.
#include <gtest/gtest.h>

#include "agent_worker/core/event_type.h"
#include "agent_worker/core/run.h"
#include "agent_worker/core/session_worker.h"

namespace aw {
namespace {

TEST(DomainNames, WorkerStatusesRoundTripThroughTheirNames) {
    for (auto status : {WorkerStatus::Pending, WorkerStatus::Creating, WorkerStatus::Running,
                        WorkerStatus::Stopping, WorkerStatus::Stopped, WorkerStatus::Removing,
                        WorkerStatus::Removed, WorkerStatus::Deleted, WorkerStatus::Failed}) {
        EXPECT_EQ(parseWorkerStatus(toString(status)), status) << toString(status);
    }
    EXPECT_EQ(toString(WorkerStatus::Deleted), "deleted");
    EXPECT_FALSE(parseWorkerStatus("Running").has_value());
}

TEST(DomainNames, RunStatusesRoundTripAndWaitingHumanIsActive) {
    EXPECT_EQ(toString(RunStatus::WaitingHuman), "waiting_human");
    EXPECT_EQ(parseRunStatus("waiting_human"), RunStatus::WaitingHuman);
    EXPECT_TRUE(isActive(RunStatus::WaitingHuman));
    EXPECT_TRUE(isActive(RunStatus::Running));
    EXPECT_FALSE(isActive(RunStatus::Queued));
    EXPECT_TRUE(isTerminal(RunStatus::Stopped));
    EXPECT_FALSE(isTerminal(RunStatus::WaitingHuman));
}

TEST(DomainNames, EventTypesUseDottedWireNames) {
    EXPECT_EQ(toString(EventType::ToolStart), "tool.start");
    EXPECT_EQ(toString(EventType::ProviderSession), "provider.session");
    EXPECT_EQ(parseEventType("todo.update"), EventType::TodoUpdate);
    EXPECT_FALSE(parseEventType("todo.updated").has_value());
    EXPECT_TRUE(isTerminal(EventType::RunFailed));
    EXPECT_FALSE(isTerminal(EventType::MessageStop));
}

TEST(DomainNames, QueueStatusesRoundTrip) {
    EXPECT_EQ(parseQueueStatus(toString(QueueStatus::FinalFailed)), QueueStatus::FinalFailed);
    EXPECT_EQ(toString(QueueStatus::RetryWait), "retry_wait");
}

}  // namespace
}  // namespace aw
