// Shared setup for lifecycle tests: a LifecycleManager wired to doubles, and worker records
// in the situations the rules care about.
#pragma once

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "agent_worker/core/lifecycle_manager.h"
#include "lifecycle/lifecycle_doubles.h"

namespace aw::testing {

inline constexpr std::int64_t kMinute = 60 * 1000;
inline constexpr std::int64_t kDay = 24 * 60 * kMinute;
inline constexpr std::int64_t kNow = 1'800'000'000'000;

inline SyncResult syncSucceeded() {
    return SyncResult{true, "", 12, 4096};
}
inline SyncResult syncFailed(std::string error) {
    return SyncResult{false, std::move(error)};
}

class LifecycleTest : public ::testing::Test {
protected:
    LifecycleTest() {
        ON_CALL(runs, unfinishedRunStatuses(::testing::_))
            .WillByDefault(::testing::Return(std::vector<RunStatus>{}));
    }

    //! Running, last active 31 minutes ago (past the 30 minute idle timeout), never failed.
    static SessionWorker idleRunning(const std::string& sessionId) {
        SessionWorker worker = base(sessionId, WorkerStatus::Running);
        worker.lastActiveAtMs = kNow - 31 * kMinute;
        worker.stateChangedAtMs = kNow - 2 * 60 * kMinute;
        return worker;
    }

    //! Stopped for 8 days (past remove_after), synced successfully after its last activity.
    static SessionWorker longStoppedSynced(const std::string& sessionId) {
        SessionWorker worker = base(sessionId, WorkerStatus::Stopped);
        worker.desiredStatus = WorkerStatus::Stopped;
        worker.lastActiveAtMs = kNow - 8 * kDay - 31 * kMinute;
        worker.lastSyncStatus = SyncStatus::Succeeded;
        worker.lastSyncAtMs = kNow - 8 * kDay - kMinute;
        worker.stateChangedAtMs = kNow - 8 * kDay;
        return worker;
    }

    static SessionWorker base(const std::string& sessionId, WorkerStatus status) {
        SessionWorker worker;
        worker.sessionId = sessionId;
        worker.tenantId = "acme";
        worker.status = status;
        worker.desiredStatus = WorkerStatus::Running;
        worker.version = 7;
        worker.runtime = "docker";
        worker.workspaceS3Prefix = "s3://agent-workspaces/prod/acme/" + sessionId + "/";
        worker.createdAtMs = kNow - 30 * kDay;
        return worker;
    }

    const SessionWorker& put(const SessionWorker& worker) {
        store.records[worker.sessionId] = worker;
        return store.records.at(worker.sessionId);
    }
    const SessionWorker& record(const std::string& sessionId) {
        return store.records.at(sessionId);
    }

    //! A second manager on the same store and ports: another reaper, or another host.
    LifecycleManager anotherHost() {
        return LifecycleManager(store, runtime, syncer, runs, clock, policy);
    }

    InMemoryWorkerStore store;
    ::testing::StrictMock<MockWorkerRuntime> runtime;
    ::testing::StrictMock<MockWorkspaceSyncer> syncer;
    ::testing::NiceMock<MockRunActivity> runs;
    FakeClock clock{kNow};
    LifecyclePolicy policy;  // defaults: idle 30 min, remove after 7 days, transitions 10 min
    LifecycleManager manager{store, runtime, syncer, runs, clock, policy};
};

}  // namespace aw::testing
