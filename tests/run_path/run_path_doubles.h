// Test doubles for the run path's ports: an in-memory run store that keeps the event log
// and the human-loop state the way the database does, a scripted provider registry and
// plugin process, a mock executor client, a mock queue and a worker gateway.
#pragma once

#include <gmock/gmock.h>

#include <algorithm>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "agent_worker/core/executor_client.h"
#include "agent_worker/core/provider_registry.h"
#include "agent_worker/core/run_store.h"
#include "agent_worker/core/worker_gateway.h"

namespace aw::testing {

//! The log as run_events keeps it: dense seq per run, event ids unique, derived human-loop
//! state applied in the same call, raw records' translation state.
class InMemoryRunStore : public RunStore {
public:
    CreatedRun createRun(const NewRun& run) override {
        for (const auto& [id, record] : runs) {
            if (!run.idempotencyKey.empty() && record.sessionId == run.sessionId &&
                record.idempotencyKey == run.idempotencyKey) {
                return {record, false};
            }
        }
        RunRecord record;
        record.runId = run.runId;
        record.sessionId = run.sessionId;
        record.provider = run.provider;
        record.prompt = run.prompt;
        record.model = run.model;
        record.approvalMode = run.approvalMode;
        record.idempotencyKey = run.idempotencyKey;
        record.createdAtMs = run.nowMs;
        runs[run.runId] = record;
        created.push_back(run);
        appendEvents(run.runId,
                     {{hostEventId(run.runId, "run.queued"), "run.queued", nlohmann::json::object(),
                       run.nowMs}},
                     {}, run.nowMs);
        return {record, true};
    }
    std::optional<RunRecord> findRun(const std::string& runId) override {
        const auto it = runs.find(runId);
        if (it == runs.end()) return std::nullopt;
        return it->second;
    }
    std::vector<StoredEvent> events(const std::string& runId, std::int64_t afterSeq, std::size_t limit) override {
        std::vector<StoredEvent> found;
        for (const auto& event : log[runId]) {
            if (event.seq > afterSeq && found.size() < limit) found.push_back(event);
        }
        return found;
    }
    std::int64_t lastSeq(const std::string& runId) override {
        return log[runId].empty() ? 0 : log[runId].back().seq;
    }
    std::vector<StoredEvent> appendEvents(const std::string& runId, std::vector<NewEvent> events,
                                          const RawProgress& progress,
                                          std::int64_t nowMs) override {
        std::vector<StoredEvent> stored;
        for (const auto& event : events) {
            if (!eventIds.insert(event.eventId).second) continue;
            StoredEvent row{
                event.eventId,      runId,      runs.count(runId) ? runs[runId].sessionId : "",
                lastSeq(runId) + 1, event.type, "",
                event.data,         event.tsMs, ""};
            log[runId].push_back(row);
            stored.push_back(row);
            applyHumanLoop(runId, event, nowMs);
        }
        translatedThrough[runId] = std::max(translatedThrough[runId], progress.translatedThrough);
        for (const auto& rawId : progress.quarantined) {
            for (auto& record : raw[runId]) {
                if (record.eventId == rawId) record.state = RawState::Quarantined;
            }
        }
        return stored;
    }
    std::vector<RawOutputRecord> insertRawOutput(const std::vector<RawOutputRecord>& records, std::int64_t) override {
        std::vector<RawOutputRecord> fresh;
        for (const auto& record : records) {
            if (!runs.count(record.runId)) throw ProblemError({"run_not_found", "no run " + record.runId, ""});
            if (!rawIds.insert(record.eventId).second) continue;
            raw[record.runId].push_back(record);
            fresh.push_back(record);
        }
        return fresh;
    }
    std::optional<std::vector<RawOutputRecord>> admitRawOutput(
        const std::vector<RawOutputRecord>& records, const RawOutputAdmit& admit,
        std::int64_t nowMs) override {
        if (!admit([this](const std::string& runId) { return outputState(runId); }))
            return std::nullopt;
        return insertRawOutput(records, nowMs);
    }
    //! What admitRawOutput hands to its check; nullopt for an unknown run.
    std::optional<RunOutputState> outputState(const std::string& runId) {
        if (!runs.count(runId)) return std::nullopt;
        const auto exits = rawOutput(runId, "exit");
        return RunOutputState{
            runs[runId].sessionId, runs[runId].status, rawOutputPosition(runId),
            exits.empty() ? std::nullopt : std::optional<std::string>(exits.front().line)};
    }
    std::vector<RawOutputRecord> rawOutput(const std::string& runId, const std::string& stream) override {
        std::vector<RawOutputRecord> rows;
        for (const auto& record : raw[runId]) {
            if (record.stream != stream) continue;
            rows.push_back(record);
            // As the database store: stdout lines up to the run's translated seq are translated.
            const bool handedOn = stream == "stdout" && record.seq <= translatedThrough[runId];
            if (handedOn && record.state == RawState::Pending)
                rows.back().state = RawState::Translated;
        }
        std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) { return a.seq < b.seq; });
        return rows;
    }
    bool markStarting(const std::string& runId, int attempts, std::int64_t) override {
        runs[runId].status = RunStatus::Starting;
        runs[runId].attempts = attempts;
        return true;
    }
    bool requestStop(const std::string& runId, std::int64_t nowMs) override {
        if (isTerminal(runs[runId].status)) return false;
        if (runs[runId].stopRequestedAtMs == 0) runs[runId].stopRequestedAtMs = nowMs;
        return true;
    }
    std::optional<HumanLoopRecord> humanRequest(const std::string& runId, const std::string& requestId) override {
        const auto it = human.find({runId, requestId});
        if (it == human.end()) return std::nullopt;
        return it->second;
    }
    std::vector<HumanLoopRecord> pendingHumanRequests(const std::string& runId) override {
        std::vector<HumanLoopRecord> pending;
        for (const auto& [key, record] : human) {
            if (key.first == runId && record.status == "pending") pending.push_back(record);
        }
        return pending;
    }
    std::vector<HumanLoopRecord> expiredHumanRequests(std::int64_t) override { return {}; }
    bool forwardHumanReply(const std::string& runId, const std::string& requestId,
                           const std::string& replyJson) override {
        const auto it = human.find({runId, requestId});
        if (it == human.end() || it->second.status != "pending" ||
            !it->second.forwardedReply.empty())
            return false;
        it->second.forwardedReply = replyJson;
        it->second.replyError.clear();
        return true;
    }
    void settleForwardedReply(const std::string& runId, const std::string& requestId,
                              const std::string& error) override {
        const auto it = human.find({runId, requestId});
        if (it == human.end()) return;
        it->second.forwardedReply.clear();
        it->second.replyError = error;
    }
    std::vector<TodoItem> todos(const std::string&) override { return {}; }
    std::vector<RunRecord> runsWithStatus(const std::vector<RunStatus>&, std::size_t) override { return {}; }
    std::vector<RunRecord> recentRuns(const std::string&, std::size_t) override { return {}; }
    std::vector<RunStatus> unfinishedRunStatuses(const std::string&) override { return {}; }

    //! Event types of a run, in seq order.
    std::vector<std::string> types(const std::string& runId) {
        std::vector<std::string> found;
        for (const auto& event : log[runId]) found.push_back(event.type);
        return found;
    }
    RawState rawState(const std::string& runId, const std::string& eventId) {
        for (const auto& record : rawOutput(runId, "stdout")) {
            if (record.eventId == eventId) return record.state;
        }
        return RawState::Pending;
    }

    std::map<std::string, RunRecord> runs;
    std::vector<NewRun> created;
    std::map<std::string, std::vector<StoredEvent>> log;
    std::map<std::string, std::int64_t> translatedThrough;
    std::map<std::string, std::vector<RawOutputRecord>> raw;
    std::map<std::pair<std::string, std::string>, HumanLoopRecord> human;
    std::set<std::string> eventIds;
    std::set<std::string> rawIds;

private:
    void applyHumanLoop(const std::string& runId, const NewEvent& event, std::int64_t nowMs) {
        const auto change = deriveStateChange(event.type, event.data);
        if (change.humanRequest) {
            HumanLoopRecord record;
            record.runId = runId;
            record.requestId = change.humanRequest->requestId;
            record.kind = change.humanRequest->kind;
            record.status = "pending";
            record.createdAtMs = event.tsMs ? event.tsMs : nowMs;
            human[{runId, record.requestId}] = record;
        }
        if (change.humanResponse) {
            auto it = human.find({runId, change.humanResponse->requestId});
            if (it != human.end() && it->second.status == "pending") {
                it->second.status = change.humanResponse->status;
                it->second.decision = change.humanResponse->decision;
            }
        }
        if (change.runStatus) runs[runId].status = *change.runStatus;
    }
};

class MockRunQueue : public RunQueue {
public:
    MOCK_METHOD(std::vector<QueueEntry>, claim, (const std::string&, std::int64_t, std::int64_t, std::size_t),
                (override));
    MOCK_METHOD(bool, extendLease, (std::int64_t, const std::string&, std::int64_t, std::int64_t), (override));
    MOCK_METHOD(std::size_t, expireLeasesOf, (const std::string&, std::int64_t), (override));
    MOCK_METHOD(bool, finish, (std::int64_t, const std::string&, QueueStatus, const std::string&, std::int64_t),
                (override));
    MOCK_METHOD(std::optional<QueueStatus>, retryLater,
                (std::int64_t, const std::string&, std::int64_t, const std::string&, std::int64_t), (override));
    MOCK_METHOD(std::optional<QueueEntry>, findByRun, (const std::string&), (override));
    MOCK_METHOD(std::vector<QueueEntry>, list, (std::optional<QueueStatus>, std::size_t), (override));
};

class MockExecutorClient : public ExecutorClient {
public:
    MOCK_METHOD(nlohmann::json, health, (const TraceContext&), (override));
    MOCK_METHOD(nlohmann::json, restore, (const TraceContext&, const nlohmann::json&), (override));
    MOCK_METHOD(nlohmann::json, link, (const TraceContext&, const nlohmann::json&), (override));
    MOCK_METHOD(nlohmann::json, validate, (const TraceContext&, const nlohmann::json&), (override));
    MOCK_METHOD(nlohmann::json, sync, (const TraceContext&, const std::string&, const std::string&), (override));
    MOCK_METHOD(nlohmann::json, startRun, (const TraceContext&, const nlohmann::json&), (override));
    MOCK_METHOD(nlohmann::json, writeStdin, (const TraceContext&, const std::string&, const std::string&, bool),
                (override));
    MOCK_METHOD(nlohmann::json, signalRun, (const TraceContext&, const std::string&, const std::string&),
                (override));
    MOCK_METHOD(nlohmann::json, runStatus, (const TraceContext&, const std::string&), (override));
};

//! A plugin process whose answers a test scripts per op. It answers each request when it is
//! submitted, in order, like a real one reading its input. `poison` makes a feed that
//! contains that line fail the whole process, like a plugin that aborts; `crashOnFeed` the
//! nth feed request (1-based). `crashFailsInFlight`: requests submitted before the crash
//! and not awaited yet fail with it (their answers lost with the process), instead of
//! keeping the answers written before it.
class ScriptedPluginProcess : public PluginProcess {
public:
    std::uint64_t capabilities() const override { return caps; }
    const nlohmann::json& facts() const override { return factsJson; }
    bool failed() const override { return dead; }
    const void* identity() const override { return this; }
    std::unique_ptr<PendingPluginCall> submit(const std::string& op,
                                              nlohmann::json params) override {
        calls.push_back({op, params});
        auto pending = std::make_unique<Pending>(*this, calls.size());
        try {
            pending->answer = answer(op, params);
        } catch (const ProviderCallError& e) {
            pending->error = e;
        }
        return pending;
    }

    std::uint64_t caps = 0;
    nlohmann::json factsJson = nlohmann::json::object();
    bool dead = false;
    std::string poison;   //!< a line that kills the process when fed
    int crashOnFeed = 0;  //!< the feed request (1-based) that kills the process; 0: none
    int refuseFeed = 0;   //!< the feed request (1-based) the plugin refuses (not a crash)
    bool crashFailsInFlight = false;
    std::function<nlohmann::json(const std::string&)> feedOutput;
    std::map<std::string, std::function<nlohmann::json(const nlohmann::json&)>> answers;
    std::vector<std::pair<std::string, nlohmann::json>> calls;
    std::vector<std::string> fed;  //!< lines the process answered, in order
    int feeds = 0;                 //!< feed requests it got
    std::size_t diedAtCall = 0;    //!< calls[diedAtCall - 1] killed it

private:
    class Pending : public PendingPluginCall {
    public:
        Pending(ScriptedPluginProcess& process, std::size_t number)
            : process_(process), number_(number) {}
        nlohmann::json await() override {
            if (error) throw *error;
            if (process_.crashFailsInFlight && process_.dead && process_.diedAtCall > number_) {
                throw ProviderCallError(
                    {"provider_crashed", "the process died before this answer was read", ""});
            }
            return answer;
        }
        nlohmann::json answer;
        std::optional<ProviderCallError> error;

    private:
        ScriptedPluginProcess& process_;
        std::size_t number_;  //!< 1-based position in calls
    };

    void die(const std::string& why) {
        dead = true;
        diedAtCall = calls.size();
        throw ProviderCallError({"provider_crashed", why, ""});
    }

    nlohmann::json answer(const std::string& op, const nlohmann::json& params) {
        if (dead) throw ProviderCallError({"provider_crashed", "the process is gone", ""});
        if (op == "feed") {
            if (++feeds == crashOnFeed) die("abort on feed " + std::to_string(feeds));
            if (feeds == refuseFeed) throw ProviderCallError({"invalid_input", "feed refused", ""});
            nlohmann::json outputs = nlohmann::json::array();
            for (const auto& line : params["lines"]) {
                if (!poison.empty() && line.get<std::string>() == poison) die("abort on " + poison);
                fed.push_back(line);
                outputs.push_back(feedOutput ? feedOutput(line.get<std::string>()) : nlohmann::json::object());
            }
            return {{"outputs", outputs}};
        }
        if (auto it = answers.find(op); it != answers.end()) return it->second(params);
        return nlohmann::json::object();
    }
};

//! Providers a test lists; `acquire` hands out `processes` front to back (a restart is the
//! next one), or the current one when only one is left.
class FakeProviderRegistry : public ProviderRegistry {
public:
    std::vector<ProviderListing> list() const override { return listings; }
    std::optional<ProviderListing> find(const std::string& name) const override {
        for (const auto& listing : listings) {
            if (listing.name == name) return listing;
        }
        return std::nullopt;
    }
    std::shared_ptr<PluginProcess> acquire(const std::string&) override {
        while (processes.size() > 1 && processes.front()->failed()) processes.pop_front();
        ++acquires;
        return processes.empty() ? nullptr : processes.front();
    }

    std::vector<ProviderListing> listings;
    std::deque<std::shared_ptr<ScriptedPluginProcess>> processes;
    int acquires = 0;
};

class FakeWorkerGateway : public WorkerGateway {
public:
    std::unique_ptr<ExecutorClient> executor(const SessionWorker&) override {
        return makeExecutor ? makeExecutor() : std::make_unique<::testing::NiceMock<MockExecutorClient>>();
    }
    std::string executorId(const SessionWorker& worker) override { return "fake-" + worker.sessionId; }
    RestoreRoots roots(const SessionWorker&) override { return {"/w/workspace", "/w/home"}; }
    bool executorAlive(const SessionWorker&) override { return alive; }

    std::function<std::unique_ptr<ExecutorClient>()> makeExecutor;
    bool alive = true;
};

}  // namespace aw::testing
