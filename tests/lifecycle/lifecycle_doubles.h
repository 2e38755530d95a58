// Test doubles for the lifecycle ports: GoogleMock mocks for the runtime, the sync and the
// runs, a settable clock, and an in-memory worker store with real compare-and-set.
#pragma once

#include <gmock/gmock.h>

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "agent_worker/core/lifecycle_ports.h"
#include "agent_worker/core/repositories.h"

namespace aw::testing {

class MockWorkerRuntime : public WorkerRuntime {
public:
    MOCK_METHOD(SandboxState, inspect, (const SessionWorker&), (override));
    MOCK_METHOD(void, create, (const SessionWorker&), (override));
    MOCK_METHOD(void, start, (const SessionWorker&), (override));
    MOCK_METHOD(void, stop, (const SessionWorker&), (override));
    MOCK_METHOD(void, remove, (const SessionWorker&), (override));
};

class MockWorkspaceSyncer : public WorkspaceSyncer {
public:
    MOCK_METHOD(SyncResult, syncWorkspace, (const SessionWorker&, std::string_view), (override));
};

class MockRunActivity : public RunActivity {
public:
    MOCK_METHOD(std::vector<RunStatus>, unfinishedRunStatuses, (const std::string&), (override));
};

class FakeClock : public Clock {
public:
    explicit FakeClock(std::int64_t startMs) : now(startMs) {}
    std::int64_t nowMs() override { return now; }
    std::int64_t now;
};

//! Behaves like the database: versions, compare-and-set, monotonic activity. Keeps every
//! transition it applied so tests can assert the path a worker took.
class InMemoryWorkerStore : public SessionWorkerStore {
public:
    std::optional<SessionWorker> find(const std::string& sessionId) override {
        const auto it = records.find(sessionId);
        if (it == records.end()) return std::nullopt;
        return it->second;
    }

    std::vector<SessionWorker> recent(std::size_t limit) override {
        std::vector<SessionWorker> found;
        for (const auto& [id, worker] : records) {
            if (found.size() < limit) found.push_back(worker);
        }
        return found;
    }

    std::vector<SessionWorker> listByStatus(WorkerStatus status, std::size_t limit) override {
        std::vector<SessionWorker> found;
        for (const auto& [id, worker] : records) {
            if (worker.status == status && found.size() < limit) found.push_back(worker);
        }
        return found;
    }

    bool insertIfAbsent(const SessionWorker& worker) override {
        return records.emplace(worker.sessionId, worker).second;
    }

    bool compareAndSet(const std::string& sessionId, std::int64_t expectedVersion,
                       const WorkerTransition& transition, std::int64_t atMs) override {
        if (beforeCompareAndSet) {
            // One-shot: lets a test slip a competitor in between a read and this write.
            auto hook = std::move(beforeCompareAndSet);
            beforeCompareAndSet = nullptr;
            hook();
        }
        const auto it = records.find(sessionId);
        if (it == records.end() || it->second.version != expectedVersion) {
            ++lostCompareAndSets;
            return false;
        }
        SessionWorker& worker = it->second;
        worker.status = transition.status;
        worker.desiredStatus = transition.desiredStatus;
        if (transition.lastError) worker.lastError = *transition.lastError;
        ++worker.version;
        worker.stateChangedAtMs = atMs;
        worker.updatedAtMs = atMs;
        history[sessionId].push_back(transition.status);
        return true;
    }

    void recordSync(const std::string& sessionId, const SyncRecord& record) override {
        SessionWorker& worker = records.at(sessionId);
        worker.lastSyncStatus = record.status;
        worker.lastSyncError = record.error;
        worker.lastSyncAtMs = record.atMs;
        ++syncWrites;
    }

    bool touchActivity(const std::string& sessionId, std::int64_t atMs) override {
        const auto it = records.find(sessionId);
        if (it == records.end()) return false;
        it->second.lastActiveAtMs = std::max(it->second.lastActiveAtMs, atMs);
        ++it->second.version;
        return true;
    }

    std::map<std::string, SessionWorker> records;
    std::map<std::string, std::vector<WorkerStatus>> history;  //!< statuses set, in order
    std::function<void()> beforeCompareAndSet;
    int lostCompareAndSets = 0;
    int syncWrites = 0;
};

}  // namespace aw::testing
