// The run engine assembles the run path's parts (core/include/agent_worker/core/runs/) and
// gives them threads: dispatcher threads claim queue entries, and one thread drives each
// run from its claim to its terminal event: worker preparation, the plugin session, the
// CLI on the worker's executor, and the translation of what the executor delivers. Plugin
// calls, stop escalation, human replies and timeouts all happen on the run's thread, so a
// plugin session is never used by two threads at once. docs/architecture.md walks it.
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
#include "agent_worker/core/provider_registry.h"
#include "agent_worker/core/run_store.h"
#include "agent_worker/core/runs/human_loop.h"
#include "agent_worker/core/runs/message_submission.h"
#include "agent_worker/core/runs/output_assembly.h"
#include "agent_worker/core/runs/queue_driver.h"
#include "agent_worker/core/runs/run_log.h"
#include "agent_worker/core/runs/worker_preparation.h"
#include "agent_worker/core/worker_gateway.h"
#include "runs/event_hub.h"
#include "runs/run_engine_options.h"

namespace aw {

//! POST /v1/runs/{rid}/human-reply, as the API read it.
struct HumanReplyRequest {
    std::string requestId;
    std::string decision;  //!< allow | deny
    std::string message;
    nlohmann::json answers;  //!< a question's answers; null when none
};

class RunEngine {
public:
    RunEngine(RunEngineOptions options, RunStore& store, RunQueue& queue, SessionWorkerStore& workers,
              LifecycleManager& lifecycle, WorkerGateway& gateway, ProviderRegistry& providers, EventHub& hub);
    ~RunEngine();

    //! Recovers what a previous life of this host left claimed, then starts dispatching.
    void start();
    //! Stops dispatching; runs in flight are left to lease expiry (their CLIs end with the
    //! workers' executors).
    void stop();

    //! Checks and queues (MessageSubmission). Throws Refused.
    CreatedRun submit(const MessageRequest& request);
    //! One pass: claims what is ready now (one entry per session), at most the free slots of
    //! dispatcher.concurrency (runs in flight from dispatchers and earlier drains take theirs;
    //! with concurrency 0, drain-only, at most 100 a pass), and runs each on a thread of its
    //! own; returns the run ids.
    std::vector<std::string> drain();

    //! The executor's records, when `admit` takes them (RunStore::admitRawOutput: decided in
    //! the transaction that stores them): stores the new ones (before answering, so nothing
    //! is lost) and hands them to their runs' threads. Returns {accepted, new}, or nullopt
    //! when refused.
    std::optional<nlohmann::json> deliver(const std::vector<RawOutputRecord>& records,
                                          const RawOutputAdmit& admit);

    //! Throws Refused NotFound / Conflict (already finished).
    RunRecord requestStop(const std::string& runId);
    //! Throws Refused InvalidInput, NotFound, Conflict, Unprocessable (no HUMAN_LOOP, or the
    //! plugin rejected the reply), Unavailable (the run did not take it in time).
    nlohmann::json humanReply(const std::string& runId, const HumanReplyRequest& reply);
    //! Another host left a reply for one of the run's requests (replicas): taken on the
    //! run's thread when this host drives it.
    void replyForwarded(const std::string& runId);
    //! Another host stored executor output of the run (a callback reached it): read from
    //! the store on the run's thread when this host drives it.
    void outputStored(const std::string& runId);

private:
    struct ActiveRun;

    void dispatchLoop();
    //! Renews the queue lease of every run this host works on, from its claim on (a worker
    //! being made or restored takes seconds too), and marks the runs whose lease is lost.
    void keepLeases();
    //! Throws lease_lost when the lease keeper found the run's lease taken.
    static void requireLease(const ActiveRun& active);
    //! Takes up to `wanted` run slots (fewer when the concurrency is nearly used); returns how
    //! many. giveSlots returns them and wakes a waiting dispatcher.
    int takeSlots(int wanted);
    void giveSlots(int count);
    //! Gives one slot back when the run it was taken for is done, however it ended.
    struct SlotReturn {
        RunEngine& engine;
        ~SlotReturn() { engine.giveSlots(1); }
    };
    void execute(const QueueEntry& entry);
    //! True when the entry was settled without running (missing, finished, stopped while
    //! queued).
    bool settledWithoutRunning(const QueueEntry& entry, const std::optional<RunRecord>& run);
    void attempt(ActiveRun& active);
    //! A run its host left running when it died: carried on where the store says it is
    //! (run_engine_takeover.cpp). Throws RunAttemptFailure `host_lost` when the worker no
    //! longer has its CLI.
    void takeOver(ActiveRun& active);
    void startCli(ActiveRun& active);
    void superviseCli(ActiveRun& active);
    void checkOnRun(ActiveRun& active);
    //! Adds what is stored past the run's output position (stored by another host).
    void takeStoredOutput(ActiveRun& active);
    void translate(ActiveRun& active);
    //! Feeds lines to the run's plugin session, its answers to the run's translation.
    void feed(ActiveRun& active, const std::vector<AssembledLine>& lines);
    void finishExit(ActiveRun& active);
    void beginStop(ActiveRun& active, const std::string& why);
    void signalCli(ActiveRun& active, const std::string& signal);
    std::shared_ptr<ActiveRun> activeRun(const std::string& runId);
    // Human replies (run_engine_replies.cpp).
    std::chrono::milliseconds replyDeadline() const;
    //! On the run's thread. Throws Refused Conflict (no longer pending), Unprocessable.
    void answerOnRunThread(ActiveRun& active, const std::string& requestId,
                           const HumanAnswer& answer);
    //! Leaves the reply for the host driving the run and waits until it is taken.
    nlohmann::json forwardReply(const std::string& runId, const HumanReplyRequest& reply);
    void takeForwardedReplies(ActiveRun& active);

    RunEngineOptions options_;
    RunStore& store_;
    SessionWorkerStore& workers_;
    WorkerGateway& gateway_;
    ProviderRegistry& providers_;
    EventHub& hub_;
    RunLog log_;
    MessageSubmission submission_;
    QueueDriver queue_;
    WorkerPreparation preparation_;

    //! A run started by drain() on a thread of its own.
    struct DrainThread {
        std::thread thread;
        std::shared_ptr<std::atomic<bool>> done;
    };

    std::mutex mutex_;  //!< guards active_, threads_, drainThreads_, inFlight_
    std::condition_variable wake_;
    std::map<std::string, std::shared_ptr<ActiveRun>> active_;
    std::vector<std::thread> threads_;  //!< the dispatcher threads
    std::vector<DrainThread> drainThreads_;
    int inFlight_ = 0;  //!< runs claimed and not yet done, by dispatchers and drains together
    std::atomic<bool> stopping_{false};
};

}  // namespace aw
