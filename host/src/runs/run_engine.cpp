#include "runs/run_engine.h"
#include "runs/active_run.h"

#include <Poco/Logger.h>

#include <algorithm>
#include <deque>
#include <functional>

#include "agent_worker/core/capabilities.h"
#include "agent_worker/core/runs/cli_invocation.h"
#include "agent_worker/core/runs/output_assembly.h"
#include "agent_worker/core/runs/plugin_session.h"
#include "agent_worker/core/runs/run_failure.h"
#include "agent_worker/core/runs/run_translation.h"
#include "agent_worker/core/runs/stop_escalation.h"
#include "agent_worker/core/time_format.h"
#include "agent_worker/event_types.h"
#include "logging/json_formatter.h"

namespace aw {
namespace {

using Json = nlohmann::json;
using SteadyClock = std::chrono::steady_clock;
using std::chrono::milliseconds;

Poco::Logger& logger() { return Poco::Logger::get("runs"); }

constexpr auto kTick = milliseconds(200);
constexpr auto kCheckEvery = milliseconds(1000);
constexpr std::size_t kDrainLimit = 100;

Poco::Message::Priority priorityOf(const std::string& level) {
    if (level == "error") return Poco::Message::PRIO_ERROR;
    if (level == "warning") return Poco::Message::PRIO_WARNING;
    return Poco::Message::PRIO_INFORMATION;
}

void note(const std::string& level, const std::string& what, const Json& fields) {
    // The object itself: a list of pairs would become a JSON array, whose fields the log
    // line drops.
    logFields(logger(), priorityOf(level), what, fields);
}

}  // namespace

RunEngine::RunEngine(RunEngineOptions options, RunStore& store, RunQueue& queue,
                     SessionWorkerStore& workers, LifecycleManager& lifecycle,
                     WorkerGateway& gateway, ProviderRegistry& providers, EventHub& hub)
    : options_(std::move(options)),
      store_(store),
      workers_(workers),
      gateway_(gateway),
      providers_(providers),
      hub_(hub),
      log_(store, [&hub](const std::string& runId, const auto& stored) { hub.publish(runId, stored); }, note),
      submission_(options_.submission, providers, store),
      queue_(options_.queue, queue),
      preparation_({options_.submission.placement, options_.restoreLevel, options_.manifest},
                   lifecycle, gateway, log_) {}

RunEngine::~RunEngine() { stop(); }

void RunEngine::start() {
    queue_.expireOwnLeases(unixMillisNow());
    std::lock_guard lock(mutex_);
    for (int i = 0; i < options_.concurrency; ++i) threads_.emplace_back([this] { dispatchLoop(); });
    threads_.emplace_back([this] { keepLeases(); });
}

void RunEngine::keepLeases() {
    // Often enough that QueueDriver::keepLease (a third of the lease) is never late by much.
    const auto tick =
        std::max(std::chrono::milliseconds(100),
                 std::chrono::duration_cast<std::chrono::milliseconds>(options_.queue.lease / 6));
    while (!stopping_) {
        {
            std::unique_lock lock(mutex_);
            wake_.wait_for(lock, tick, [&] { return stopping_.load(); });
        }
        std::vector<std::shared_ptr<ActiveRun>> active;
        {
            std::lock_guard lock(mutex_);
            for (const auto& [id, run] : active_) active.push_back(run);
        }
        for (const auto& run : active) {
            try {
                if (!queue_.keepLease(run->entry, run->lastLeaseRenewal, SteadyClock::now(),
                                      unixMillisNow()))
                    run->leaseLost = true;
            } catch (const std::exception& e) {
                // The store is down: asked again next tick; the lease runs out meanwhile.
                note("warning", "cannot renew a run's lease",
                     {{"run_id", run->entry.runId}, {"error", e.what()}});
            }
        }
    }
}

void RunEngine::requireLease(const ActiveRun& active) {
    if (active.leaseLost) {
        throw RunAttemptFailure(
            {"lease_lost", "this host lost the run's queue lease", "another host took it over"},
            false);
    }
}

void RunEngine::stop() {
    stopping_ = true;
    wake_.notify_all();
    std::vector<std::thread> threads;
    std::vector<DrainThread> drained;
    {
        std::lock_guard lock(mutex_);
        threads.swap(threads_);
        drained.swap(drainThreads_);
        for (auto& [id, active] : active_) active->wake.notify_all();
    }
    for (auto& drainThread : drained) threads.push_back(std::move(drainThread.thread));
    for (auto& thread : threads) {
        if (thread.joinable()) thread.join();
    }
}

int RunEngine::takeSlots(int wanted) {
    std::lock_guard lock(mutex_);
    // Concurrency 0 has no dispatchers: the drains alone run the queue, kDrainLimit a pass.
    const int limit = options_.concurrency > 0 ? options_.concurrency : inFlight_ + wanted;
    const int taken = std::max(0, std::min(wanted, limit - inFlight_));
    inFlight_ += taken;
    return taken;
}

void RunEngine::giveSlots(int count) {
    if (count <= 0) return;
    {
        std::lock_guard lock(mutex_);
        inFlight_ -= count;
    }
    wake_.notify_all();
}

void RunEngine::dispatchLoop() {
    while (!stopping_) {
        // A run a drain started holds a slot too, so together they stay within concurrency.
        if (takeSlots(1) == 0) {
            std::unique_lock lock(mutex_);
            wake_.wait_for(lock, options_.pollInterval,
                           [&] { return stopping_.load() || inFlight_ < options_.concurrency; });
            continue;
        }
        std::vector<QueueEntry> claimed;
        try {
            claimed = queue_.claim(1, unixMillisNow());
        } catch (const std::exception& e) {
            note("warning", "claim failed", {{"error", e.what()}});
        }
        if (claimed.empty()) {
            giveSlots(1);
            std::unique_lock lock(mutex_);
            wake_.wait_for(lock, options_.pollInterval, [&] { return stopping_.load(); });
            continue;
        }
        const SlotReturn slot{*this};
        execute(claimed.front());
    }
}

std::vector<std::string> RunEngine::drain() {
    std::vector<std::string> started;
    const int slots = takeSlots(static_cast<int>(kDrainLimit));
    if (slots == 0) return started;
    std::vector<QueueEntry> claimed;
    try {
        claimed = queue_.claim(static_cast<std::size_t>(slots), unixMillisNow());
    } catch (...) {
        giveSlots(slots);
        throw;
    }
    giveSlots(slots - static_cast<int>(claimed.size()));
    std::lock_guard lock(mutex_);
    // Threads of earlier drains that are done are joined here, so drains never pile them up.
    std::erase_if(drainThreads_, [](DrainThread& drainThread) {
        if (!drainThread.done->load()) return false;
        drainThread.thread.join();
        return true;
    });
    for (const auto& entry : claimed) {
        started.push_back(entry.runId);
        auto done = std::make_shared<std::atomic<bool>>(false);
        drainThreads_.push_back({std::thread([this, entry, done] {
                                     {
                                         const SlotReturn slot{*this};
                                         execute(entry);
                                     }
                                     done->store(true);
                                 }),
                                 done});
    }
    return started;
}

CreatedRun RunEngine::submit(const MessageRequest& request) {
    auto created = submission_.submit(request, unixMillisNow());
    if (created.created) {
        hub_.publish(created.run.runId);
        wake_.notify_all();
    }
    return created;
}

std::shared_ptr<RunEngine::ActiveRun> RunEngine::activeRun(const std::string& runId) {
    std::lock_guard lock(mutex_);
    const auto it = active_.find(runId);
    return it == active_.end() ? nullptr : it->second;
}

// ---- one run ----------------------------------------------------------------------------

bool RunEngine::settledWithoutRunning(const QueueEntry& entry, const std::optional<RunRecord>& found) {
    const auto now = unixMillisNow();
    if (!found) {
        queue_.failFinally(entry, "the run record is missing", now);
        return true;
    }
    if (isTerminal(found->status)) {
        queue_.succeed(entry, now);
        return true;
    }
    if (found->stopRequestedAtMs > 0) {
        log_.appendHostEvent(found->runId, AW_EVENT_RUN_STOPPED, AW_EVENT_RUN_STOPPED,
                             {{"reason", "cancelled"}, {"exit_code", nullptr}, {"signal", nullptr}});
        queue_.succeed(entry, now);
        return true;
    }
    return false;
}

void RunEngine::execute(const QueueEntry& entry) {
    if (activeRun(entry.runId)) {
        // This host still works on it: its lease lapsed (a store too slow to renew it) and a
        // dispatcher claimed it again. The attempt under way keeps it and ends the entry.
        note("warning", "claimed a run this host still works on; left to it",
             {{"run_id", entry.runId}});
        return;
    }
    const auto found = store_.findRun(entry.runId);
    // Running already: the host that drove it died (its lease expired, or it is us, restarted).
    const bool orphaned =
        found && (found->status == RunStatus::Running || found->status == RunStatus::WaitingHuman);
    if (!orphaned) {
        if (settledWithoutRunning(entry, found)) return;
        store_.markStarting(entry.runId, entry.attempts, unixMillisNow());
    }

    auto active = std::make_shared<ActiveRun>();
    active->entry = entry;
    active->run = *found;
    active->escalation = StopEscalation(options_.stopGrace);
    {
        std::lock_guard lock(mutex_);
        active_[entry.runId] = active;
    }
    note("information", "run claimed",
         {{"run_id", entry.runId}, {"session_id", entry.sessionId}, {"attempt", entry.attempts}});
    try {
        if (orphaned) {
            takeOver(*active);
        } else {
            attempt(*active);
        }
        queue_.succeed(entry, unixMillisNow());
    } catch (const RunAttemptFailure& failure) {
        const auto& problem = failure.problem();
        std::optional<QueueStatus> status;
        if (failure.retryable() && !active->cliStarted) {
            status = queue_.retryLater(entry, problem.code + ": " + problem.message, unixMillisNow());
        }
        note("warning", "run attempt failed",
             {{"run_id", entry.runId}, {"code", problem.code}, {"error", problem.message},
              {"queue_status", status ? std::string(toString(*status)) : "final_failed"}});
        if (status == QueueStatus::RetryWait) {
            log_.appendHostEvent(active->run.runId, "retry:" + std::to_string(entry.attempts), AW_EVENT_RUN_QUEUED,
                                 {{"retry", true}, {"attempt", entry.attempts}, {"error", problem.code},
                                  {"message", problem.message}});
        } else {
            log_.failRun(active->run.runId, problem.code,
                         problem.message + (problem.hint.empty() ? "" : " (" + problem.hint + ")"));
            if (!status) queue_.failFinally(entry, problem.message, unixMillisNow());
        }
    } catch (const std::exception& e) {
        note("error", "run failed unexpectedly", {{"run_id", entry.runId}, {"error", e.what()}});
        try {
            log_.failRun(active->run.runId, "internal_error", e.what());
            queue_.failFinally(entry, e.what(), unixMillisNow());
        } catch (const std::exception& again) {
            // The store is down: the lease runs out and the next claim fails it clearly.
            note("error", "cannot record the failure", {{"run_id", entry.runId}, {"error", again.what()}});
        }
    }
    active->humanLoop.reset();
    active->translation.reset();
    active->plugin.reset();  // closes the plugin's session
    {
        std::lock_guard lock(mutex_);
        active_.erase(entry.runId);
    }
    try {
        // Idle time counts from the end of the run, not from the message that started it.
        workers_.touchActivity(entry.sessionId, unixMillisNow());
        hub_.publish(entry.runId);
    } catch (const std::exception& e) {
        note("warning", "cannot record the end of the run", {{"run_id", entry.runId}, {"error", e.what()}});
    }
}

void RunEngine::attempt(ActiveRun& active) {
    active.worker = preparation_.activate(active.run);
    active.plugin = std::make_unique<PluginSession>(options_.plugin, providers_, store_, active.run.runId,
                                                    active.run.provider, &stopping_);
    active.plugin->acquire();
    preparation_.restore(active.worker, active.run, active.entry.attempts, active.plugin->facts());
    active.translation = std::make_unique<RunTranslation>(
        RunChannel{active.run, *active.worker.executor, active.worker.trace}, log_, workers_,
        options_.messageSyncInterval);
    active.humanLoop =
        std::make_unique<HumanLoop>(*active.translation, *active.plugin, log_, options_.humanTimeout);
    requireLease(active);  // the preparation took seconds: still this host's run?
    startCli(active);
    superviseCli(active);
}

void RunEngine::startCli(ActiveRun& active) {
    const RunRecord& run = active.run;
    Json settings = options_.providerSettings.value(run.provider, Json::object());
    settings["env"] = providerEnvironment(active.plugin->facts(), settings);
    Json opened;
    try {
        opened = active.plugin->open(openRequest(run, active.worker.worker, active.worker.roots.workspaceRoot, settings));
    } catch (const ProviderCallError& e) {
        const bool crashed = e.processFailed();
        throw RunAttemptFailure(
            {e.problem().code, "provider '" + run.provider + "' could not open the run: " + e.problem().message,
             crashed ? "retried with the restarted provider" : "check the request and provider settings"},
            crashed);
    }
    ExecutorRunSpec spec;
    try {
        spec = runSpec(run.runId, opened.value("invocation", Json::object()), settings["env"],
                       active.worker.roots.workspaceRoot);
    } catch (const ProblemError& e) {
        throw RunAttemptFailure(e.problem(), false);
    }
    log_.appendHostEvent(run.runId, AW_EVENT_RUN_STARTED, AW_EVENT_RUN_STARTED,
                         {{"attempt", active.entry.attempts},
                          {"executor_id", active.worker.trace.executorId},
                          {"argv0", spec.argv.front()}});
    try {
        active.worker.executor->startRun(active.worker.trace, spec.toJson());
    } catch (const ExecutorCallError& e) {
        // A repeated start of the same run id is the same run on the executor, so a retry
        // never starts the CLI twice.
        const auto& failure = e.failure();
        const bool retryable = failure.kind != CallFailureKind::Http || !failure.status || *failure.status >= 500;
        throw RunAttemptFailure({"cli_start_failed", "the worker could not start the agent CLI: " + std::string(e.what()),
                                 "check providers." + run.provider + ".binary and that the CLI is installed"},
                                retryable);
    }
    active.cliStarted = true;
    note("information", "run started",
         {{"run_id", run.runId}, {"session_id", run.sessionId}, {"provider", run.provider},
          {"trace_id", active.worker.trace.traceId}});
}

void RunEngine::superviseCli(ActiveRun& active) {
    auto lastCheck = SteadyClock::now();
    while (!active.done) {
        std::vector<RawOutputRecord> arrived;
        std::deque<std::function<void()>> commands;
        {
            std::unique_lock lock(active.mutex);
            active.wake.wait_for(lock, kTick, [&] {
                return !active.inbox.empty() || !active.commands.empty() || stopping_.load();
            });
            arrived.swap(active.inbox);
            commands.swap(active.commands);
        }
        if (stopping_) {
            throw RunAttemptFailure({"host_stopping", "agent-host is shutting down", "send the message again"}, false);
        }
        for (auto& record : arrived) active.output.add(std::move(record));
        for (auto& command : commands) command();
        translate(active);
        if (active.done) break;
        active.translation->syncIfDue();

        const auto now = SteadyClock::now();
        requireLease(active);
        if (!active.output.exitArrived()) {
            if (auto signal = active.escalation.due(now)) {
                note("warning", "the CLI outlived its stop grace; escalating",
                     {{"run_id", active.run.runId}, {"signal", *signal}});
                signalCli(active, *signal);
            }
        }
        if (now - lastCheck >= kCheckEvery) {
            lastCheck = now;
            checkOnRun(active);
        }
    }
}

//! Once a second: a stop or a reply sent through another host, the run timeout, human
//! requests nobody answered, and whether the executor is still there.
void RunEngine::checkOnRun(ActiveRun& active) {
    const auto now = SteadyClock::now();
    if (!active.escalation.begun()) {
        const auto fresh = store_.findRun(active.run.runId);
        if (fresh && fresh->stopRequestedAtMs > 0) beginStop(active, "a stop was requested");
        // Replies left by other hosts whose notice was lost (a dropped listener connection).
        if (fresh && fresh->status == RunStatus::WaitingHuman) takeForwardedReplies(active);
    }
    // Output other hosts stored, should their notice have been lost.
    takeStoredOutput(active);
    if (!active.escalation.begun() && now - active.startedAt >= options_.runTimeout) {
        beginStop(active, "the run timeout of " + std::to_string(options_.runTimeout.count() / 1000) + " s passed");
    }
    active.humanLoop->expire(unixMillisNow());
    // Output still in flight is worth waiting for; a dead executor sends nothing more.
    static constexpr int kMissedChecksOfADeadExecutor = 3;
    if (gateway_.executorAlive(active.worker.worker)) {
        active.executorMissing = 0;
    } else if (++active.executorMissing >= kMissedChecksOfADeadExecutor) {
        throw RunAttemptFailure({"executor_lost", "the session worker's executor stopped while the agent was running",
                                 "send the message again; the worker is restarted and its workspace kept"},
                                false);
    }
}

void RunEngine::outputStored(const std::string& runId) {
    if (auto active = activeRun(runId)) {
        active->post([this, active] { takeStoredOutput(*active); });
    }
}

void RunEngine::takeStoredOutput(ActiveRun& active) {
    if (active.output.exitReady()) return;  // every line the exit counts is here
    // The assembler skips what it has taken already.
    for (auto& record : store_.rawOutputAfter(active.run.runId, active.output.nextSeq() - 1)) {
        active.output.add(std::move(record));
    }
}

void RunEngine::translate(ActiveRun& active) {
    const auto ready = active.output.takeReady();
    if (!ready.empty()) feed(active, ready);
    if (active.output.exitReady() && !active.done) finishExit(active);
}

void RunEngine::feed(ActiveRun& active, const std::vector<AssembledLine>& lines) {
    auto& translation = *active.translation;
    active.plugin->feed(
        lines, active.output.nextSeq(),
        [&translation](const std::vector<AssembledLine>& chunk, const Json& outputs) {
            translation.translated(chunk, outputs);
        },
        [&translation](const AssembledLine& line, int crashes, const std::string& why) {
            translation.quarantined(line, crashes, why);
        });
}

void RunEngine::finishExit(ActiveRun& active) {
    if (auto unfinished = active.output.takeUnfinishedLine()) {
        // The stream ended inside a long line: feed what there is.
        feed(active, {*unfinished});
    }
    active.humanLoop->cancelPending();
    const RawOutputRecord& record = *active.output.exitRecord();
    const CliExit exit = parseCliExit(record.line);
    const bool stopRequested = active.escalation.begun();
    const Json output = active.plugin->exit(exit, stopRequested, active.output.nextSeq());
    active.translation->finished(record, exit, output, stopRequested);
    active.done = true;
    note("information", "run finished",
         {{"run_id", active.run.runId},
          {"exit_code", exit.exitCode ? Json(*exit.exitCode) : Json(nullptr)},
          {"signal", exit.signal ? Json(*exit.signal) : Json(nullptr)}});
}

// ---- stop -------------------------------------------------------------------------------

void RunEngine::beginStop(ActiveRun& active, const std::string& why) {
    if (!active.escalation.begin(SteadyClock::now())) return;
    store_.requestStop(active.run.runId, unixMillisNow());
    active.humanLoop->cancelPending();
    note("information", "stopping run", {{"run_id", active.run.runId}, {"why", why}});
    std::string signal = "INT";
    try {
        const Json how = active.plugin->interrupt();
        if (how.contains("stdin") && how["stdin"].is_string()) {
            active.worker.executor->writeStdin(active.worker.trace, active.run.runId, how["stdin"].get<std::string>(),
                                               false);
            return;
        }
        signal = how.value("signal", std::string("INT"));
    } catch (const std::exception& e) {
        note("warning", "graceful interrupt failed; sending SIGINT", {{"run_id", active.run.runId}, {"error", e.what()}});
    }
    signalCli(active, signal);
}

void RunEngine::signalCli(ActiveRun& active, const std::string& signal) {
    try {
        active.worker.executor->signalRun(active.worker.trace, active.run.runId, signal);
    } catch (const std::exception& e) {
        note("warning", "cannot signal the CLI", {{"run_id", active.run.runId}, {"error", e.what()}});
    }
}

// ---- requests from other threads --------------------------------------------------------

std::optional<Json> RunEngine::deliver(const std::vector<RawOutputRecord>& records,
                                       const RawOutputAdmit& admit) {
    auto fresh = store_.admitRawOutput(records, admit, unixMillisNow());
    if (!fresh) return std::nullopt;
    std::map<std::string, std::vector<RawOutputRecord>> byRun;
    for (auto& record : *fresh) {
        if (record.stream != "stderr") byRun[record.runId].push_back(std::move(record));
    }
    for (auto& [runId, list] : byRun) {
        if (auto active = activeRun(runId)) {
            {
                std::lock_guard lock(active->mutex);
                for (auto& record : list) active->inbox.push_back(std::move(record));
            }
            active->wake.notify_all();
        } else {
            // Another replica drives the run (or will, once it takes the run over): it reads
            // what is stored here.
            store_.announceOutput(runId);
        }
    }
    return Json{{"accepted", records.size()}, {"new", fresh->size()}};
}

RunRecord RunEngine::requestStop(const std::string& runId) {
    const auto run = store_.findRun(runId);
    if (!run) throw Refused(RefusalKind::NotFound, {"run_not_found", "no run '" + runId + "'", ""});
    if (isTerminal(run->status)) {
        throw Refused(RefusalKind::Conflict,
                      {"run_finished", "run '" + runId + "' already ended (" + std::string(toString(run->status)) + ")",
                       "only queued or running runs can be stopped"});
    }
    if (!store_.requestStop(runId, unixMillisNow())) {
        throw Refused(RefusalKind::Conflict, {"run_finished", "run '" + runId + "' already ended", ""});
    }
    if (auto active = activeRun(runId)) {
        active->post([this, active] { beginStop(*active, "POST /v1/runs/{rid}/stop"); });
    }
    wake_.notify_all();
    return *store_.findRun(runId);
}

}  // namespace aw
