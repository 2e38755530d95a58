// The run path: a user message becomes a run and a queue entry; dispatcher threads claim
// entries, bring the session's worker up (lifecycle activation, restore, validate), open a
// plugin session in the provider's own process, start the agent CLI through the worker's
// executor and translate what the executor delivers (callbacks) into the unified event log.
// One thread drives each run: plugin calls, stop escalation, human replies and timeouts all
// happen on it, so a plugin session is never used by two threads at once.
#pragma once

#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "agent_worker/core/lifecycle_manager.h"
#include "agent_worker/core/run_store.h"
#include "agent_worker/core/runtime_manifest.h"
#include "provider/provider_supervisor.h"
#include "runs/event_hub.h"
#include "runs/worker_gateway.h"

namespace aw {

struct RunEngineOptions {
    std::string hostId;       //!< queue lease holder; stable across restarts of one host
    int concurrency = 4;      //!< dispatcher threads (0: only POST /v1/run-queue/drain runs)
    int maxAttempts = 3;      //!< queue attempts before `final_failed`
    std::chrono::milliseconds lease{120000};
    std::chrono::milliseconds pollInterval{500};
    std::chrono::milliseconds retryInitial{1000};  //!< doubles per attempt, +-20% jitter
    std::chrono::milliseconds retryMax{60000};
    std::chrono::milliseconds stopGrace{5000};  //!< interrupt, then TERM, then KILL
    std::chrono::milliseconds runTimeout{3600000};
    std::chrono::milliseconds humanTimeout{3600000};
    std::chrono::milliseconds providerWait{30000};  //!< for a restarting provider
    std::chrono::milliseconds providerCallTimeout{30000};
    int quarantineAfter = 2;  //!< crashes of the plugin on one line, fed alone
    RestoreLevel restoreLevel = RestoreLevel::AgentState;
    std::string tenantId = "default";
    std::string runtime = "local";
    std::string bucket = "agent-worker";
    std::string rootPrefix = "sessions";
    //! `providers.<name>`: {"binary", "args", "env"} per provider.
    nlohmann::json providerSettings = nlohmann::json::object();
    //! The deployment's manifest; each provider's state paths are merged in per run.
    RuntimeManifest manifest;
};

//! POST /v1/sessions/{sid}/messages.
struct MessageRequest {
    std::string sessionId;
    std::string provider;
    std::string prompt;
    std::string model;
    std::string approvalMode = "auto";
    std::string idempotencyKey;
    std::string enqueueKey;
};

class RunEngine {
public:
    RunEngine(RunEngineOptions options, RunStore& store, RunQueue& queue,
              SessionWorkerStore& workers, LifecycleManager& lifecycle, WorkerGateway& gateway,
              ProviderSupervisor& providers, EventHub& hub);
    ~RunEngine();

    //! Recovers what a previous life of this host left claimed, then starts dispatching.
    void start();
    //! Stops dispatching; runs in flight are left to lease expiry (their CLIs end with the
    //! workers' executors).
    void stop();

    //! Validates and queues. Throws ApiError (400 bad session id or body, 404 unknown
    //! provider, 503 provider unavailable, 422 capability missing).
    CreatedRun submit(const MessageRequest& request);
    //! One pass: claims what is ready now (one entry per session, at most 100) and runs each
    //! on a thread of its own; returns the run ids.
    std::vector<std::string> drain();

    //! POST /v1/callbacks/executor: stores the records, hands new ones to the run's thread.
    nlohmann::json acceptCallback(const nlohmann::json& body);

    //! POST /v1/runs/{rid}/stop. Throws ApiError 404 / 409 (already finished).
    RunRecord requestStop(const std::string& runId);
    //! POST /v1/runs/{rid}/human-reply. Throws ApiError 404, 409, 422.
    nlohmann::json humanReply(const std::string& runId, const nlohmann::json& body);

    const RunEngineOptions& options() const { return options_; }

private:
    struct ActiveRun;
    struct PluginSession;
    struct LineToFeed;
    class RunFailure;

    void dispatchLoop();
    void execute(const QueueEntry& entry);
    void attempt(ActiveRun& active);
    void prepareWorker(ActiveRun& active);
    void startCli(ActiveRun& active);
    void superviseCli(ActiveRun& active);

    void translate(ActiveRun& active);
    void feed(ActiveRun& active, std::vector<LineToFeed> lines);
    void feedChunk(ActiveRun& active, const std::vector<LineToFeed>& chunk);
    void dropSettledHumanResponses(ActiveRun& active, std::vector<NewEvent>& events);
    void applyOutput(ActiveRun& active, const nlohmann::json& output,
                     const std::string& sourceId, std::vector<NewEvent>& events);
    void sideEffects(ActiveRun& active, const nlohmann::json& output,
                     const std::vector<StoredEvent>& stored);
    void finishExit(ActiveRun& active);
    void recoverPlugin(ActiveRun& active, const std::string& why);
    void quarantine(ActiveRun& active, const LineToFeed& line, const std::string& why);
    nlohmann::json pluginCall(ActiveRun& active, const std::string& op, nlohmann::json params);

    void beginStop(ActiveRun& active, const std::string& why);
    void escalateStop(ActiveRun& active);
    void answerHuman(ActiveRun& active, const HumanLoopRecord& request, const std::string& decision,
                     const std::string& message, const nlohmann::json& answers,
                     const std::string& by);
    void expireHumanRequests(ActiveRun& active);
    void cancelPendingHumanRequests(ActiveRun& active);
    void syncAfterMessages(ActiveRun& active, const std::vector<std::string>& messageEventIds);

    std::vector<StoredEvent> append(ActiveRun& active, std::vector<NewEvent> events,
                                    const std::vector<std::string>& rawIds = {},
                                    RawState rawState = RawState::Translated);
    std::vector<StoredEvent> appendHostEvent(const RunRecord& run, const std::string& name,
                                             const std::string& type, nlohmann::json data);
    void failRun(const RunRecord& run, const std::string& code, const std::string& message);

    std::shared_ptr<ProviderProcess> waitForProvider(const std::string& name,
                                                     const ProviderProcess* notThis);
    nlohmann::json providerEnvironment(const std::string& provider, const nlohmann::json& facts) const;
    std::shared_ptr<ActiveRun> activeRun(const std::string& runId);
    std::chrono::milliseconds retryDelay(int attempts) const;

    RunEngineOptions options_;
    RunStore& store_;
    RunQueue& queue_;
    SessionWorkerStore& workers_;
    LifecycleManager& lifecycle_;
    WorkerGateway& gateway_;
    ProviderSupervisor& providers_;
    EventHub& hub_;

    //! A run started by drain() on a thread of its own.
    struct DrainThread {
        std::thread thread;
        std::shared_ptr<std::atomic<bool>> done;
    };

    std::mutex mutex_;  //!< guards active_, threads_, drainThreads_
    std::condition_variable wake_;
    std::map<std::string, std::shared_ptr<ActiveRun>> active_;
    std::vector<std::thread> threads_;  //!< the dispatcher threads
    std::vector<DrainThread> drainThreads_;
    std::atomic<bool> stopping_{false};
};

}  // namespace aw
