#include "runs/run_engine.h"

#include <Poco/Logger.h>

#include <algorithm>
#include <deque>
#include <functional>
#include <future>
#include <random>
#include <set>

#include "agent_worker/core/capabilities.h"
#include "agent_worker/core/event_type.h"
#include "agent_worker/core/identifiers.h"
#include "agent_worker/core/random_id.h"
#include "agent_worker/core/restore_planner.h"
#include "agent_worker/core/time_format.h"
#include "agent_worker/core/workspace_prefix.h"
#include "http/api_error.h"
#include "logging/json_formatter.h"
#include "provider/provider_process.h"

namespace aw {
namespace {

using Json = nlohmann::json;
using SteadyClock = std::chrono::steady_clock;
using std::chrono::milliseconds;

Poco::Logger& logger() { return Poco::Logger::get("runs"); }

constexpr std::size_t kFeedChunk = 64;
constexpr auto kTick = milliseconds(200);
constexpr auto kCheckEvery = milliseconds(1000);

//! Provider error codes that mean the plugin's process failed, not the one request.
bool isProcessFailure(const std::string& code) {
    return code == "provider_crashed" || code == "provider_timeout" || code == "provider_protocol" ||
           code == "provider_unavailable" || code == "unknown_run";
}

std::string newRunId() {
    return newRandomId("run_");
}

//! "~/.claude/projects" -> "claude-projects": a manifest name for a plugin's state path.
std::string statePathName(const std::string& path) {
    std::string name;
    for (char c : path) {
        if (std::isalnum(static_cast<unsigned char>(c)) || c == '_') {
            name += c;
        } else if ((c == '/' || c == '-' || c == '.') && !name.empty() && name.back() != '-') {
            name += '-';
        }
    }
    while (!name.empty() && name.back() == '-') name.pop_back();
    return name.empty() ? "state" : name;
}

}  // namespace

//! A failure of one attempt. Retryable ones go back to the queue (before the CLI started,
//! nothing has happened that a retry could repeat); the others fail the run.
class RunEngine::RunFailure : public ProblemError {
public:
    RunFailure(Problem problem, bool retryable) : ProblemError(std::move(problem)), retryable_(retryable) {}
    bool retryable() const { return retryable_; }

private:
    bool retryable_;
};

//! One line of CLI stdout (continued pieces joined) and the raw records it came from.
struct RunEngine::LineToFeed {
    std::vector<std::string> rawIds;
    std::string text;
};

//! The plugin's view of the run: a session in the provider's process, re-opened (and
//! replayed) in a fresh process after a crash.
struct RunEngine::PluginSession {
    std::shared_ptr<ProviderProcess> process;
    std::string key;  //!< the provider-host's name for this session
    int generation = 0;
    Json request;     //!< the open request, for re-opening
    std::uint64_t capabilities = 0;
};

struct RunEngine::ActiveRun {
    QueueEntry entry;
    RunRecord run;
    SessionWorker worker;
    std::unique_ptr<ExecutorClient> executor;
    TraceContext trace;
    PluginSession plugin;

    // Filled by callback threads, emptied by the run's thread.
    std::mutex mutex;
    std::condition_variable wake;
    std::vector<RawOutputRecord> inbox;
    std::deque<std::function<void()>> commands;

    // The run thread's own state.
    std::map<std::int64_t, RawOutputRecord> stdoutBuffer;  //!< by seq, waiting for gaps
    std::int64_t nextStdoutSeq = 1;
    std::vector<RawOutputRecord> pendingPieces;  //!< continued pieces of a long line
    std::optional<RawOutputRecord> exitRecord;
    std::map<std::string, int> lineCrashes;  //!< raw id -> crashes when fed alone
    bool cliStarted = false;
    bool done = false;
    bool stopRequested = false;
    SteadyClock::time_point stopAt;
    int escalation = 0;  //!< 0 none, 1 TERM sent, 2 KILL sent
    SteadyClock::time_point startedAt = SteadyClock::now();

    void post(std::function<void()> command) {
        {
            std::lock_guard lock(mutex);
            commands.push_back(std::move(command));
        }
        wake.notify_all();
    }
};

RunEngine::RunEngine(RunEngineOptions options, RunStore& store, RunQueue& queue,
                     SessionWorkerStore& workers, LifecycleManager& lifecycle,
                     WorkerGateway& gateway, ProviderSupervisor& providers, EventHub& hub)
    : options_(std::move(options)),
      store_(store),
      queue_(queue),
      workers_(workers),
      lifecycle_(lifecycle),
      gateway_(gateway),
      providers_(providers),
      hub_(hub) {}

RunEngine::~RunEngine() { stop(); }

void RunEngine::start() {
    // Entries this host held in an earlier life are not being worked on: expire their
    // leases now instead of waiting the lease out.
    const auto now = unixMillisNow();
    for (const auto& entry : queue_.list(QueueStatus::Claimed, 1000)) {
        if (entry.lockedBy == options_.hostId) queue_.extendLease(entry.queueId, options_.hostId, now - 1, now);
    }
    std::lock_guard lock(mutex_);
    for (int i = 0; i < options_.concurrency; ++i) threads_.emplace_back([this] { dispatchLoop(); });
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

void RunEngine::dispatchLoop() {
    while (!stopping_) {
        std::vector<QueueEntry> claimed;
        try {
            claimed = queue_.claim(options_.hostId, unixMillisNow(), options_.lease.count(), 1);
        } catch (const std::exception& e) {
            logFields(logger(), Poco::Message::PRIO_WARNING, "claim failed", {{"error", e.what()}});
        }
        if (claimed.empty()) {
            std::unique_lock lock(mutex_);
            wake_.wait_for(lock, options_.pollInterval, [&] { return stopping_.load(); });
            continue;
        }
        execute(claimed.front());
    }
}

std::vector<std::string> RunEngine::drain() {
    std::vector<std::string> started;
    // One pass: everything ready now, one entry per session (the claim's rule), bounded.
    constexpr std::size_t kDrainLimit = 100;
    const auto claimed = queue_.claim(options_.hostId, unixMillisNow(), options_.lease.count(), kDrainLimit);
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
                                     execute(entry);
                                     done->store(true);
                                 }),
                                 done});
    }
    return started;
}

CreatedRun RunEngine::submit(const MessageRequest& request) {
    if (auto problem = checkIdentifier("session", request.sessionId)) throw ApiError(400, *problem);
    if (request.prompt.empty()) {
        throw ApiError(400, {"invalid_message", "\"prompt\" is empty", "send the user's message as \"prompt\""});
    }
    if (request.approvalMode != "auto" && request.approvalMode != "ask") {
        throw ApiError(400, {"invalid_message",
                             "\"approval_mode\" is '" + request.approvalMode + "', expected auto or ask", ""});
    }
    const auto provider = providers_.find(request.provider);
    std::vector<std::string> known;
    for (const auto& snapshot : providers_.list()) {
        if (snapshot.name) known.push_back(*snapshot.name);
    }
    auto names = [](const std::vector<std::string>& list) {
        std::string text;
        for (const auto& name : list) text += (text.empty() ? "" : ", ") + name;
        return text.empty() ? std::string("none") : text;
    };
    if (!provider || !provider->name) {
        // A plugin that has not handshaken yet has no name: it may be this provider.
        const auto all = providers_.list();
        const bool starting = std::any_of(all.begin(), all.end(), [](const ProviderSnapshot& snapshot) {
            return !snapshot.name && (snapshot.status == ProviderStatus::Starting ||
                                      snapshot.status == ProviderStatus::Restarting);
        });
        if (starting) {
            throw ApiError(503, {"provider_unavailable",
                                 "no provider named '" + request.provider + "' has started yet, and some "
                                 "plugins are still starting",
                                 "retry in a moment; GET /admin/providers shows their status"});
        }
        throw ApiError(404, {"unknown_provider", "no provider named '" + request.provider + "'",
                             "loaded providers: " + names(known) + " (GET /admin/providers)"});
    }
    if (provider->status != ProviderStatus::Healthy && provider->status != ProviderStatus::Restarting &&
        provider->status != ProviderStatus::Starting) {
        throw ApiError(503, {"provider_unavailable",
                             "provider '" + request.provider + "' is " + toString(provider->status) +
                                 (provider->lastError.empty() ? "" : ": " + provider->lastError),
                             "an operator can restart it: POST /admin/providers/" + request.provider +
                                 "/restart"});
    }
    const std::uint64_t runBit = capabilityBit("run");
    if ((provider->capabilities & runBit) == 0) {
        throw ApiError(422, {"capability_missing", "provider '" + request.provider + "' cannot run agents",
                             "pick a provider with the RUN capability"});
    }
    if (request.approvalMode == "ask" && (provider->capabilities & capabilityBit("human_loop")) == 0) {
        std::vector<std::string> able;
        for (const auto& snapshot : providers_.list()) {
            if (snapshot.name && (snapshot.capabilities & capabilityBit("human_loop"))) able.push_back(*snapshot.name);
        }
        throw ApiError(422, {"capability_missing",
                             "provider '" + request.provider +
                                 "' cannot ask a human for approval (no HUMAN_LOOP capability)",
                             "use approval_mode \"auto\", or a provider that can ask: " + names(able)});
    }
    NewRun run;
    run.runId = newRunId();
    run.sessionId = request.sessionId;
    run.tenantId = options_.tenantId;
    run.runtime = options_.runtime;
    run.workspaceS3Prefix =
        computeWorkspacePrefix(options_.bucket, options_.rootPrefix, options_.tenantId, request.sessionId).uri();
    run.provider = request.provider;
    run.prompt = request.prompt;
    run.model = request.model;
    run.approvalMode = request.approvalMode;
    run.idempotencyKey = request.idempotencyKey;
    run.enqueueKey = request.enqueueKey.empty() ? run.runId : request.enqueueKey;
    run.maxAttempts = options_.maxAttempts;
    run.nowMs = unixMillisNow();
    auto created = store_.createRun(run);
    if (created.created) {
        hub_.publish(created.run.runId, 1);
        wake_.notify_all();
    }
    return created;
}

std::shared_ptr<RunEngine::ActiveRun> RunEngine::activeRun(const std::string& runId) {
    std::lock_guard lock(mutex_);
    const auto it = active_.find(runId);
    return it == active_.end() ? nullptr : it->second;
}

std::chrono::milliseconds RunEngine::retryDelay(int attempts) const {
    double delay = static_cast<double>(options_.retryInitial.count());
    for (int i = 1; i < attempts; ++i) delay *= 2;
    delay = std::min(delay, static_cast<double>(options_.retryMax.count()));
    static thread_local std::mt19937 random{std::random_device{}()};
    std::uniform_real_distribution<double> jitter(0.8, 1.2);
    return milliseconds(static_cast<std::int64_t>(delay * jitter(random)));
}

// ---- one run ----------------------------------------------------------------------------

void RunEngine::execute(const QueueEntry& entry) {
    const auto now = unixMillisNow();
    const auto found = store_.findRun(entry.runId);
    if (!found) {
        queue_.finish(entry.queueId, options_.hostId, QueueStatus::FinalFailed, "the run record is missing", now);
        return;
    }
    if (isTerminal(found->status)) {
        queue_.finish(entry.queueId, options_.hostId, QueueStatus::Succeeded, "", now);
        return;
    }
    if (found->status == RunStatus::Running || found->status == RunStatus::WaitingHuman) {
        // The host that ran it died (its lease expired, or it is us, restarted). The CLI ended
        // with that host's workers; re-running would repeat what the agent already did.
        failRun(*found, "host_lost",
                "agent-host stopped while this run was " + std::string(toString(found->status)) +
                    " (attempt " + std::to_string(entry.attempts - 1) +
                    "); the agent's process ended with it. Send the message again to continue the "
                    "session.");
        queue_.finish(entry.queueId, options_.hostId, QueueStatus::FinalFailed, "host lost mid-run", now);
        return;
    }
    if (found->stopRequestedAtMs > 0) {
        appendHostEvent(*found, "run.stopped", "run.stopped",
                        {{"reason", "cancelled"}, {"exit_code", nullptr}, {"signal", nullptr}});
        queue_.finish(entry.queueId, options_.hostId, QueueStatus::Succeeded, "", now);
        return;
    }
    store_.markStarting(entry.runId, entry.attempts, now);

    auto active = std::make_shared<ActiveRun>();
    active->entry = entry;
    active->run = *found;
    {
        std::lock_guard lock(mutex_);
        active_[entry.runId] = active;
    }
    logFields(logger(), Poco::Message::PRIO_INFORMATION, "run claimed",
              {{"run_id", entry.runId}, {"session_id", entry.sessionId}, {"attempt", entry.attempts}});
    try {
        attempt(*active);
        queue_.finish(entry.queueId, options_.hostId, QueueStatus::Succeeded, "", unixMillisNow());
    } catch (const RunFailure& failure) {
        const auto& problem = failure.problem();
        std::optional<QueueStatus> status;
        if (failure.retryable() && !active->cliStarted) {
            const auto at = unixMillisNow() + retryDelay(entry.attempts).count();
            status = queue_.retryLater(entry.queueId, options_.hostId, at, problem.code + ": " + problem.message,
                                       unixMillisNow());
        }
        logFields(logger(), Poco::Message::PRIO_WARNING, "run attempt failed",
                  {{"run_id", entry.runId}, {"code", problem.code}, {"error", problem.message},
                   {"queue_status", status ? std::string(toString(*status)) : "final_failed"}});
        if (status == QueueStatus::RetryWait) {
            appendHostEvent(active->run, "retry:" + std::to_string(entry.attempts), "run.queued",
                            {{"retry", true}, {"attempt", entry.attempts}, {"error", problem.code},
                             {"message", problem.message}});
        } else {
            failRun(active->run, problem.code, problem.message + (problem.hint.empty() ? "" : " (" + problem.hint + ")"));
            if (!status) {
                queue_.finish(entry.queueId, options_.hostId, QueueStatus::FinalFailed, problem.message,
                              unixMillisNow());
            }
        }
    } catch (const std::exception& e) {
        logFields(logger(), Poco::Message::PRIO_ERROR, "run failed unexpectedly",
                  {{"run_id", entry.runId}, {"error", e.what()}});
        try {
            failRun(active->run, "internal_error", e.what());
            queue_.finish(entry.queueId, options_.hostId, QueueStatus::FinalFailed, e.what(), unixMillisNow());
        } catch (const std::exception& again) {
            // The store is down: the lease runs out and the next claim fails it clearly.
            logFields(logger(), Poco::Message::PRIO_ERROR, "cannot record the failure",
                      {{"run_id", entry.runId}, {"error", again.what()}});
        }
    }
    if (active->plugin.process && !active->plugin.key.empty()) {
        try {
            active->plugin.process->call("close", {{"run", active->plugin.key}}, options_.providerCallTimeout);
        } catch (const std::exception&) {
            // The session dies with the process anyway.
        }
    }
    {
        std::lock_guard lock(mutex_);
        active_.erase(entry.runId);
    }
    try {
        // Idle time counts from the end of the run, not from the message that started it.
        workers_.touchActivity(entry.sessionId, unixMillisNow());
        hub_.publish(entry.runId, store_.lastSeq(entry.runId));
    } catch (const std::exception& e) {
        logFields(logger(), Poco::Message::PRIO_WARNING, "cannot record the end of the run",
                  {{"run_id", entry.runId}, {"error", e.what()}});
    }
}

void RunEngine::attempt(ActiveRun& active) {
    prepareWorker(active);
    startCli(active);
    superviseCli(active);
}

std::shared_ptr<ProviderProcess> RunEngine::waitForProvider(const std::string& name,
                                                            const ProviderProcess* notThis) {
    const auto deadline = SteadyClock::now() + options_.providerWait;
    std::string why;
    while (!stopping_) {
        try {
            auto process = providers_.acquire(name);
            if (process && process.get() != notThis && !process->failure()) return process;
            why = "its process is restarting";
        } catch (const ProblemError& e) {
            why = e.problem().message;
        }
        if (SteadyClock::now() >= deadline) break;
        std::this_thread::sleep_for(milliseconds(100));
    }
    throw RunFailure({"provider_unavailable", "provider '" + name + "' is not available: " + why,
                      "see GET /admin/providers"},
                     true);
}

Json RunEngine::providerEnvironment(const std::string& provider, const Json& facts) const {
    // The provider's well-known variables pass from the host's environment; the operator's
    // providers.<name>.env adds to or overrides them. They go to the CLI only, never into
    // events, logs or the database.
    Json env = Json::object();
    for (const auto& name : facts.value("env_vars", Json::array())) {
        if (!name.is_string()) continue;
        if (const char* value = std::getenv(name.get<std::string>().c_str())) env[name.get<std::string>()] = value;
    }
    const Json settings = options_.providerSettings.value(provider, Json::object());
    const Json configured = settings.value("env", Json::object());
    for (const auto& [name, value] : configured.items()) {
        if (value.is_string()) env[name] = value;
    }
    return env;
}

void RunEngine::prepareWorker(ActiveRun& active) {
    const RunRecord& run = active.run;
    WorkerSpec spec{run.sessionId, options_.tenantId, options_.runtime,
                    computeWorkspacePrefix(options_.bucket, options_.rootPrefix, options_.tenantId, run.sessionId).uri()};
    Activation activation;
    try {
        activation = lifecycle_.activate(spec);
    } catch (const ProblemError& e) {
        throw RunFailure(e.problem(), true);
    }
    if (activation.decision.path == ActivationPath::WaitForTransition) {
        throw RunFailure({"worker_busy", "the session's worker is in transition: " + activation.decision.reason,
                          "the run is retried shortly"},
                         true);
    }
    active.worker = activation.worker;
    active.executor = gateway_.executor(active.worker);
    active.trace = {newTraceId(), run.sessionId, gateway_.executorId(active.worker), run.runId};

    active.plugin.process = waitForProvider(run.provider, nullptr);
    const Json facts = active.plugin.process->info().facts;
    if (!activation.decision.includes(ActivationStep::Restore)) return;

    RuntimeManifest manifest = options_.manifest;
    std::vector<ProviderStatePath> statePaths;
    for (const auto& path : facts.value("state_paths", Json::array())) {
        if (path.is_string()) statePaths.push_back({statePathName(path.get<std::string>()), path.get<std::string>()});
    }
    manifest.mergeProviderStatePaths(run.provider, statePaths);
    const Json sessions = Json::parse(active.worker.providerSessionsJson, nullptr, false);
    const bool resuming = sessions.is_object() && sessions.contains(run.provider);
    std::optional<Problem> problem;
    Json restored;
    const auto started = SteadyClock::now();
    try {
        RestorePlanner planner(manifest, gateway_.roots(active.worker));
        RestoreRequest request;
        request.level = options_.restoreLevel;
        request.situation = activation.decision.restoreSituation.value_or(RestoreSituation::Adopted);
        if (resuming) request.resumeProvider = run.provider;
        const auto plan = toJson(planner.plan(run.sessionId, parseWorkspacePrefix(active.worker.workspaceS3Prefix), request));
        restored = active.executor->restore(active.trace, plan);
        const Json linked = active.executor->link(active.trace, plan);
        restored["links"] = linked.value("links", 0);
        const Json validated = active.executor->validate(active.trace, plan);
        const Json missing = validated.value("missing_paths", Json::array());
        if (!missing.empty()) {
            problem = Problem{"restore_validation_failed",
                              "required paths are missing after the restore: " + missing.dump(),
                              "the session's stored files are incomplete; check the object store under " +
                                  spec.workspaceS3Prefix};
            restored["missing_paths"] = missing;
        }
        restored["situation"] = toString(request.situation);
    } catch (const ProblemError& e) {
        problem = e.problem();
    }
    restored["duration_ms"] =
        std::chrono::duration_cast<milliseconds>(SteadyClock::now() - started).count();
    restored["status"] = problem ? "failed" : "succeeded";
    if (problem) restored["error"] = problem->message;
    appendHostEvent(run, "workspace.restore:" + std::to_string(active.entry.attempts), "workspace.restore",
                    restored);
    try {
        active.worker = lifecycle_.completeActivation(activation, problem);
    } catch (const ProblemError& e) {
        throw RunFailure(e.problem(), true);
    }
    if (problem) {
        // A missing required path is final: retrying would restore the same incomplete files.
        throw RunFailure(*problem, problem->code != "restore_validation_failed");
    }
}

void RunEngine::startCli(ActiveRun& active) {
    const RunRecord& run = active.run;
    auto& plugin = active.plugin;
    const Json facts = plugin.process->info().facts;
    plugin.capabilities = plugin.process->info().capabilities;
    const auto roots = gateway_.roots(active.worker);
    Json request{{"run_id", run.runId},
                 {"session_id", run.sessionId},
                 {"prompt", run.prompt},
                 {"approval_mode", run.approvalMode},
                 {"workspace", roots.workspaceRoot}};
    if (!run.model.empty()) request["model"] = run.model;
    const Json sessions = Json::parse(active.worker.providerSessionsJson, nullptr, false);
    if (sessions.is_object() && sessions.contains(run.provider) && sessions[run.provider].is_string()) {
        request["provider_session_id"] = sessions[run.provider];
        // What the session's earlier runs used, for CLIs that report cumulative figures.
        const Json usage = Json::parse(active.worker.providerUsageJson, nullptr, false);
        if (usage.is_object() && usage.contains(run.provider) && usage[run.provider].is_object()) {
            request["previous_usage"] = usage[run.provider];
        }
    }
    Json settings = options_.providerSettings.value(run.provider, Json::object());
    settings["env"] = providerEnvironment(run.provider, facts);
    request["settings"] = settings;
    plugin.request = request;
    plugin.key = run.runId + "#" + std::to_string(++plugin.generation);
    Json opened;
    try {
        opened = plugin.process->call("open", {{"run", plugin.key}, {"request", request}},
                                      options_.providerCallTimeout);
    } catch (const ProviderCallError& e) {
        const bool crashed = isProcessFailure(e.problem().code);
        throw RunFailure({e.problem().code, "provider '" + run.provider + "' could not open the run: " +
                                                e.problem().message,
                          crashed ? "retried with the restarted provider" : "check the request and provider settings"},
                         crashed);
    }
    const Json invocation = opened.value("invocation", Json::object());
    Json env = settings["env"];
    const Json invocationEnv = invocation.value("env", Json::object());
    for (const auto& [name, value] : invocationEnv.items()) env[name] = value;
    std::string cwd = invocation.value("cwd", std::string());
    if (cwd.empty() || cwd == ".") {
        cwd = roots.workspaceRoot;
    } else if (cwd.front() != '/') {
        cwd = roots.workspaceRoot + "/" + cwd;
    }
    Json spec{{"run_id", run.runId},
              {"argv", invocation.value("argv", Json::array())},
              {"env", env},
              {"cwd", cwd},
              {"keep_stdin_open", invocation.value("keep_stdin_open", false)}};
    if (invocation.contains("stdin")) spec["stdin"] = invocation["stdin"];

    appendHostEvent(run, "run.started", "run.started",
                    {{"attempt", active.entry.attempts},
                     {"executor_id", active.trace.executorId},
                     {"argv0", spec["argv"].empty() ? Json("") : spec["argv"][0]}});
    try {
        active.executor->startRun(active.trace, spec);
    } catch (const ExecutorCallError& e) {
        // A repeated start of the same run id is the same run on the executor, so a retry
        // never starts the CLI twice.
        const bool retryable = e.failure().kind != CallFailureKind::Http || !e.failure().status ||
                               *e.failure().status >= 500;
        throw RunFailure({"cli_start_failed", "the worker could not start the agent CLI: " + std::string(e.what()),
                          "check providers." + run.provider + ".binary and that the CLI is installed"},
                         retryable);
    }
    active.cliStarted = true;
    logFields(logger(), Poco::Message::PRIO_INFORMATION, "run started",
              {{"run_id", run.runId}, {"session_id", run.sessionId}, {"provider", run.provider},
               {"trace_id", active.trace.traceId}});
}

void RunEngine::superviseCli(ActiveRun& active) {
    auto lastLease = SteadyClock::now();
    auto lastCheck = SteadyClock::now();
    int executorMissing = 0;
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
            throw RunFailure({"host_stopping", "agent-host is shutting down", "send the message again"}, false);
        }
        for (auto& record : arrived) {
            if (record.stream == "stdout") {
                if (record.seq >= active.nextStdoutSeq) active.stdoutBuffer.emplace(record.seq, std::move(record));
            } else if (record.stream == "exit") {
                active.exitRecord = std::move(record);
            }
        }
        for (auto& command : commands) command();
        translate(active);
        if (active.done) break;

        const auto now = SteadyClock::now();
        if (now - lastLease >= options_.lease / 3) {
            lastLease = now;
            const auto ms = unixMillisNow();
            if (!queue_.extendLease(active.entry.queueId, options_.hostId, ms + options_.lease.count(), ms)) {
                throw RunFailure({"lease_lost", "this host lost the run's queue lease", "another host took it over"},
                                 false);
            }
        }
        escalateStop(active);
        if (now - lastCheck >= kCheckEvery) {
            lastCheck = now;
            if (!active.stopRequested) {
                const auto fresh = store_.findRun(active.run.runId);
                if (fresh && fresh->stopRequestedAtMs > 0) beginStop(active, "a stop was requested");
            }
            if (!active.stopRequested && now - active.startedAt >= options_.runTimeout) {
                beginStop(active, "the run timeout of " +
                                      std::to_string(options_.runTimeout.count() / 1000) + " s passed");
            }
            expireHumanRequests(active);
            // Output still in flight is worth waiting for; a dead executor sends nothing more.
            executorMissing = gateway_.executorAlive(active.worker) ? 0 : executorMissing + 1;
            if (executorMissing >= 3) {
                throw RunFailure({"executor_lost",
                                  "the session worker's executor stopped while the agent was running",
                                  "send the message again; the worker is restarted and its workspace kept"},
                                 false);
            }
        }
    }
}

// ---- translation ----------------------------------------------------------------------

void RunEngine::translate(ActiveRun& active) {
    std::vector<LineToFeed> ready;
    for (auto it = active.stdoutBuffer.find(active.nextStdoutSeq); it != active.stdoutBuffer.end();
         it = active.stdoutBuffer.find(active.nextStdoutSeq)) {
        RawOutputRecord record = std::move(it->second);
        active.stdoutBuffer.erase(it);
        ++active.nextStdoutSeq;
        if (record.continued) {
            active.pendingPieces.push_back(std::move(record));
            continue;
        }
        LineToFeed line;
        for (auto& piece : active.pendingPieces) {
            line.rawIds.push_back(piece.eventId);
            line.text += piece.line;
        }
        active.pendingPieces.clear();
        line.rawIds.push_back(record.eventId);
        line.text += record.line;
        ready.push_back(std::move(line));
    }
    if (!ready.empty()) feed(active, std::move(ready));
    if (active.exitRecord && !active.done) {
        const Json body = Json::parse(active.exitRecord->line, nullptr, false);
        const std::int64_t lines = body.is_object() ? body.value("stdout_lines", std::int64_t{0}) : 0;
        if (active.nextStdoutSeq > lines) finishExit(active);
    }
}

void RunEngine::feed(ActiveRun& active, std::vector<LineToFeed> lines) {
    for (std::size_t start = 0; start < lines.size(); start += kFeedChunk) {
        const std::vector<LineToFeed> chunk(lines.begin() + static_cast<std::ptrdiff_t>(start),
                                            lines.begin() + static_cast<std::ptrdiff_t>(std::min(lines.size(), start + kFeedChunk)));
        try {
            feedChunk(active, chunk);
            continue;
        } catch (const ProviderCallError& e) {
            if (!isProcessFailure(e.problem().code)) throw;
            recoverPlugin(active, e.problem().message);
        }
        // The chunk crashed the plugin: feed its lines one at a time to find the one that
        // does, and quarantine it once it crashed a fresh plugin quarantineAfter times.
        for (const auto& line : chunk) {
            for (;;) {
                try {
                    feedChunk(active, {line});
                    break;
                } catch (const ProviderCallError& e) {
                    if (!isProcessFailure(e.problem().code)) throw;
                    const int crashes = ++active.lineCrashes[line.rawIds.back()];
                    recoverPlugin(active, e.problem().message);
                    if (crashes >= options_.quarantineAfter) {
                        quarantine(active, line, e.problem().message);
                        break;
                    }
                }
            }
        }
    }
}

void RunEngine::feedChunk(ActiveRun& active, const std::vector<LineToFeed>& chunk) {
    Json texts = Json::array();
    for (const auto& line : chunk) texts.push_back(line.text);
    const Json fed = pluginCall(active, "feed", {{"lines", texts}});
    const Json outputs = fed.value("outputs", Json::array());
    std::vector<NewEvent> events;
    std::vector<std::string> rawIds;
    for (std::size_t i = 0; i < chunk.size(); ++i) {
        const Json output = i < outputs.size() ? outputs[i] : Json::object();
        applyOutput(active, output, chunk[i].rawIds.front(), events);
        rawIds.insert(rawIds.end(), chunk[i].rawIds.begin(), chunk[i].rawIds.end());
    }
    dropSettledHumanResponses(active, events);
    const auto stored = append(active, std::move(events), rawIds);
    for (std::size_t i = 0; i < chunk.size() && i < outputs.size(); ++i) sideEffects(active, outputs[i], stored);
    // One sync covers every message that ended in this batch of lines: a sync per message
    // would make the CLI's pace the sync's.
    std::vector<std::string> messageStops;
    for (const auto& event : stored) {
        if (event.type == "message.stop") messageStops.push_back(event.eventId);
    }
    if (!messageStops.empty()) syncAfterMessages(active, messageStops);
}

//! A plugin's human.response withdraws a request the CLI gave up on. Once the host has
//! answered or cancelled the request (a stop cancels it before the CLI withdraws it), the
//! plugin's echo would answer it twice: it is dropped.
void RunEngine::dropSettledHumanResponses(ActiveRun& active, std::vector<NewEvent>& events) {
    std::set<std::string> requestedHere;
    std::vector<NewEvent> kept;
    for (auto& event : events) {
        const std::string requestId = event.data.value("request_id", std::string());
        if (event.type == "human.request") requestedHere.insert(requestId);
        if (event.type == "human.response" && !requestedHere.count(requestId)) {
            const auto request = store_.humanRequest(active.run.runId, requestId);
            if (!request || request->status != "pending") {
                logFields(logger(), Poco::Message::PRIO_INFORMATION, "dropped a settled human.response",
                          {{"run_id", active.run.runId}, {"request_id", requestId}});
                continue;
            }
        }
        kept.push_back(std::move(event));
    }
    events.swap(kept);
}

void RunEngine::applyOutput(ActiveRun& active, const Json& output, const std::string& sourceId,
                            std::vector<NewEvent>& events) {
    if (output.contains("error")) {
        logFields(logger(), Poco::Message::PRIO_WARNING, "the plugin rejected a line",
                  {{"run_id", active.run.runId}, {"raw_event_id", sourceId}, {"error", output["error"]}});
        return;
    }
    std::size_t index = 0;
    const auto now = unixMillisNow();
    for (const auto& event : output.value("events", Json::array())) {
        events.push_back({translatedEventId(sourceId, index++), event.value("type", std::string()),
                          event.value("data", Json::object()), now});
    }
}

void RunEngine::sideEffects(ActiveRun& active, const Json& output, const std::vector<StoredEvent>&) {
    const std::string bytes = output.value("stdin", std::string());
    const bool close = output.value("close_stdin", false);
    if (!bytes.empty() || close) {
        try {
            active.executor->writeStdin(active.trace, active.run.runId, bytes, close);
        } catch (const std::exception& e) {
            logFields(logger(), Poco::Message::PRIO_WARNING, "cannot write to the CLI's stdin",
                      {{"run_id", active.run.runId}, {"error", e.what()}});
        }
    }
    for (const auto& event : output.value("events", Json::array())) {
        if (event.value("type", std::string()) != "human.request") continue;
        const std::string requestId = event.value("data", Json::object()).value("request_id", std::string());
        appendHostEvent(active.run, "run.waiting_human:" + requestId, "run.waiting_human",
                        {{"request_id", requestId}});
    }
}

void RunEngine::finishExit(ActiveRun& active) {
    const RawOutputRecord exit = *active.exitRecord;
    if (!active.pendingPieces.empty()) {
        // The stream ended inside a long line: feed what there is.
        LineToFeed line;
        for (auto& piece : active.pendingPieces) {
            line.rawIds.push_back(piece.eventId);
            line.text += piece.line;
        }
        active.pendingPieces.clear();
        feed(active, {line});
    }
    cancelPendingHumanRequests(active);
    const Json body = Json::parse(exit.line, nullptr, false);
    const Json exitCode = body.is_object() ? body.value("exit_code", Json(nullptr)) : Json(nullptr);
    const Json signal = body.is_object() ? body.value("signal", Json(nullptr)) : Json(nullptr);
    Json output;
    for (int tries = 0;; ++tries) {
        try {
            output = pluginCall(active, "exit",
                                {{"exit_code", exitCode.is_number() ? exitCode.get<int>() : -1},
                                 {"signal", signal.is_number() ? signal.get<int>() : 0},
                                 {"stop_requested", active.stopRequested}});
            break;
        } catch (const ProviderCallError& e) {
            if (!isProcessFailure(e.problem().code) || tries >= options_.quarantineAfter) {
                output = Json::object();
                break;
            }
            recoverPlugin(active, e.problem().message);
        }
    }
    std::vector<NewEvent> events;
    applyOutput(active, output, exit.eventId, events);
    dropSettledHumanResponses(active, events);
    const bool terminal = std::any_of(events.begin(), events.end(), [](const NewEvent& event) {
        const auto type = parseEventType(event.type);
        return type && isTerminal(*type);
    });
    if (!terminal) {
        // The plugin owes exactly one terminal event; one that lies does not leave the run open.
        Json data{{"exit_code", exitCode}, {"signal", signal}};
        if (active.stopRequested) {
            data["reason"] = "cancelled";
            events.push_back({hostEventId(active.run.runId, "run.stopped"), "run.stopped", data, unixMillisNow()});
        } else {
            data["error"] = {{"class", "process_error"},
                             {"message", "the provider plugin gave no outcome for the CLI's exit"}};
            events.push_back({hostEventId(active.run.runId, "run.failed"), "run.failed", data, unixMillisNow()});
        }
    }
    append(active, std::move(events), {exit.eventId});
    active.done = true;
    logFields(logger(), Poco::Message::PRIO_INFORMATION, "run finished",
              {{"run_id", active.run.runId}, {"exit_code", exitCode}, {"signal", signal}});
}

Json RunEngine::pluginCall(ActiveRun& active, const std::string& op, Json params) {
    params["run"] = active.plugin.key;
    return active.plugin.process->call(op, std::move(params), options_.providerCallTimeout);
}

void RunEngine::recoverPlugin(ActiveRun& active, const std::string& why) {
    logFields(logger(), Poco::Message::PRIO_WARNING, "provider failed mid-run; replaying into a new session",
              {{"run_id", active.run.runId}, {"provider", active.run.provider}, {"error", why}});
    auto& plugin = active.plugin;
    for (int tries = 0; tries < 3; ++tries) {
        plugin.process = waitForProvider(active.run.provider, plugin.process.get());
        plugin.key = active.run.runId + "#" + std::to_string(++plugin.generation);
        try {
            plugin.process->call("open", {{"run", plugin.key}, {"request", plugin.request}},
                                 options_.providerCallTimeout);
            // Rebuild the plugin's state from the lines it already translated; their events
            // are stored, so the outputs are dropped (and nothing is written to the CLI again).
            std::vector<RawOutputRecord> rows = store_.rawOutput(active.run.runId, "stdout");
            Json batch = Json::array();
            std::string pieces;
            auto flush = [&] {
                if (batch.empty()) return;
                pluginCall(active, "feed", {{"lines", batch}});
                batch = Json::array();
            };
            for (const auto& row : rows) {
                if (row.seq >= active.nextStdoutSeq) break;
                if (row.state != RawState::Translated) {
                    pieces.clear();
                    continue;
                }
                if (row.continued) {
                    pieces += row.line;
                    continue;
                }
                batch.push_back(pieces + row.line);
                pieces.clear();
                if (batch.size() >= kFeedChunk) flush();
            }
            flush();
            return;
        } catch (const ProviderCallError& e) {
            if (!isProcessFailure(e.problem().code)) throw;
        }
    }
    throw RunFailure({"provider_crashed",
                      "provider '" + active.run.provider + "' keeps crashing while replaying this run",
                      "see GET /admin/providers for its last error"},
                     false);
}

void RunEngine::quarantine(ActiveRun& active, const LineToFeed& line, const std::string& why) {
    logFields(logger(), Poco::Message::PRIO_ERROR, "line quarantined",
              {{"run_id", active.run.runId}, {"raw_event_id", line.rawIds.back()}, {"error", why}});
    Json data{{"raw_event_ids", line.rawIds},
              {"crashes", active.lineCrashes[line.rawIds.back()]},
              {"error", why},
              {"line_preview", line.text.substr(0, 200)}};
    append(active,
           {{hostEventId(active.run.runId, "provider.quarantine:" + line.rawIds.back()), "provider.quarantine",
             data, unixMillisNow()}},
           line.rawIds, RawState::Quarantined);
}

// ---- stop and human loop --------------------------------------------------------------

void RunEngine::beginStop(ActiveRun& active, const std::string& why) {
    if (active.stopRequested) return;
    active.stopRequested = true;
    active.stopAt = SteadyClock::now();
    store_.requestStop(active.run.runId, unixMillisNow());
    cancelPendingHumanRequests(active);
    logFields(logger(), Poco::Message::PRIO_INFORMATION, "stopping run",
              {{"run_id", active.run.runId}, {"why", why}});
    std::string signal = "INT";
    try {
        const Json how = pluginCall(active, "interrupt", Json::object());
        if (how.contains("stdin") && how["stdin"].is_string()) {
            active.executor->writeStdin(active.trace, active.run.runId, how["stdin"].get<std::string>(), false);
            return;
        }
        signal = how.value("signal", std::string("INT"));
    } catch (const std::exception& e) {
        logFields(logger(), Poco::Message::PRIO_WARNING, "graceful interrupt failed; sending SIGINT",
                  {{"run_id", active.run.runId}, {"error", e.what()}});
    }
    try {
        active.executor->signalRun(active.trace, active.run.runId, signal);
    } catch (const std::exception& e) {
        logFields(logger(), Poco::Message::PRIO_WARNING, "cannot signal the CLI",
                  {{"run_id", active.run.runId}, {"error", e.what()}});
    }
}

void RunEngine::escalateStop(ActiveRun& active) {
    if (!active.stopRequested || active.escalation >= 2 || active.exitRecord) return;
    const auto since = SteadyClock::now() - active.stopAt;
    const char* signal = nullptr;
    if (active.escalation == 0 && since >= options_.stopGrace) signal = "TERM";
    if (active.escalation == 1 && since >= 2 * options_.stopGrace) signal = "KILL";
    if (!signal) return;
    ++active.escalation;
    logFields(logger(), Poco::Message::PRIO_WARNING, "the CLI outlived its stop grace; escalating",
              {{"run_id", active.run.runId}, {"signal", signal}});
    try {
        active.executor->signalRun(active.trace, active.run.runId, signal);
    } catch (const std::exception& e) {
        logFields(logger(), Poco::Message::PRIO_WARNING, "cannot signal the CLI",
                  {{"run_id", active.run.runId}, {"error", e.what()}});
    }
}

void RunEngine::answerHuman(ActiveRun& active, const HumanLoopRecord& request, const std::string& decision,
                            const std::string& message, const Json& answers, const std::string& by) {
    const bool timedOut = decision == "timed_out";
    Json reply{{"request_id", request.requestId}, {"decision", timedOut ? "deny" : decision}};
    if (!message.empty()) reply["message"] = message;
    if (!answers.is_null()) reply["answers"] = answers;
    const Json output = pluginCall(active, "reply", {{"reply", reply}});
    Json data{{"request_id", request.requestId}, {"decision", decision}, {"by", by}};
    if (!message.empty()) data["message"] = message;
    std::vector<NewEvent> events{{hostEventId(active.run.runId, "human.response:" + request.requestId),
                                  "human.response", data, unixMillisNow()}};
    std::vector<NewEvent> pluginEvents;
    applyOutput(active, output, hostEventId(active.run.runId, "reply:" + request.requestId), pluginEvents);
    for (auto& event : pluginEvents) {
        // The host's human.response above is the answer; the plugin's own would repeat it.
        const bool echo = event.type == "human.response" &&
                          event.data.value("request_id", std::string()) == request.requestId;
        if (!echo) events.push_back(std::move(event));
    }
    append(active, std::move(events));
    if (store_.pendingHumanRequests(active.run.runId).empty()) {
        appendHostEvent(active.run, "run.resumed:" + request.requestId, "run.resumed",
                        {{"request_id", request.requestId}});
    }
    sideEffects(active, output, {});
}

void RunEngine::expireHumanRequests(ActiveRun& active) {
    const auto cutoff = unixMillisNow() - options_.humanTimeout.count();
    for (const auto& request : store_.pendingHumanRequests(active.run.runId)) {
        if (request.createdAtMs > cutoff) continue;
        answerHuman(active, request, "timed_out",
                    "no answer within " + std::to_string(options_.humanTimeout.count() / 1000) + " s",
                    nullptr, "host");
    }
}

void RunEngine::cancelPendingHumanRequests(ActiveRun& active) {
    std::vector<NewEvent> events;
    for (const auto& request : store_.pendingHumanRequests(active.run.runId)) {
        events.push_back({hostEventId(active.run.runId, "human.response:" + request.requestId), "human.response",
                          {{"request_id", request.requestId}, {"decision", "cancelled"}, {"by", "host"}},
                          unixMillisNow()});
    }
    if (!events.empty()) append(active, std::move(events));
}

void RunEngine::syncAfterMessages(ActiveRun& active, const std::vector<std::string>& messageEventIds) {
    const std::string& messageEventId = messageEventIds.back();
    const auto startedAtMs = unixMillisNow();
    Json data{{"reason", std::string(kSyncReasonMessageStop)},
              {"message_event_id", messageEventId},
              {"message_event_ids", messageEventIds}};
    SyncRecord record{SyncStatus::Succeeded, "", startedAtMs};
    try {
        const Json answer = active.executor->sync(active.trace, "incremental", std::string(kSyncReasonMessageStop));
        data["status"] = "succeeded";
        data["files"] = answer.value("uploaded_files", 0);
        data["bytes"] = answer.value("uploaded_bytes", 0);
        data["deleted_files"] = answer.value("deleted_files", 0);
        data["duration_ms"] = answer.value("duration_ms", 0);
    } catch (const std::exception& e) {
        record = {SyncStatus::Failed, e.what(), startedAtMs};
        data["status"] = "failed";
        data["error"] = e.what();
    }
    try {
        workers_.recordSync(active.run.sessionId, record);
    } catch (const std::exception& e) {
        logFields(logger(), Poco::Message::PRIO_WARNING, "cannot record the sync",
                  {{"run_id", active.run.runId}, {"error", e.what()}});
    }
    appendHostEvent(active.run, "workspace.sync:" + messageEventId, "workspace.sync", data);
}

// ---- the log ---------------------------------------------------------------------------

std::vector<StoredEvent> RunEngine::append(ActiveRun& active, std::vector<NewEvent> events,
                                           const std::vector<std::string>& rawIds, RawState rawState) {
    if (events.empty() && rawIds.empty()) return {};
    auto stored = store_.appendEvents(active.run.runId, events, rawIds, rawState, unixMillisNow());
    if (!stored.empty()) hub_.publish(active.run.runId, stored.back().seq);
    return stored;
}

std::vector<StoredEvent> RunEngine::appendHostEvent(const RunRecord& run, const std::string& name,
                                                    const std::string& type, Json data) {
    auto stored = store_.appendEvents(run.runId, {{hostEventId(run.runId, name), type, std::move(data), unixMillisNow()}},
                                      {}, RawState::Translated, unixMillisNow());
    if (!stored.empty()) hub_.publish(run.runId, stored.back().seq);
    return stored;
}

void RunEngine::failRun(const RunRecord& run, const std::string& code, const std::string& message) {
    appendHostEvent(run, "run.failed", "run.failed",
                    {{"exit_code", nullptr}, {"signal", nullptr}, {"error", {{"class", code}, {"message", message}}}});
}

// ---- requests from other threads --------------------------------------------------------

Json RunEngine::acceptCallback(const Json& body) {
    if (!body.contains("events") || !body["events"].is_array()) {
        throw ApiError(400, {"invalid_callback", "\"events\" must be a list of output records", ""});
    }
    std::vector<RawOutputRecord> records;
    for (const auto& item : body["events"]) {
        if (!item.is_object() || !item.contains("run_id") || !item["run_id"].is_string() ||
            !item.contains("stream") || !item["stream"].is_string() || !item.contains("seq") ||
            !item["seq"].is_number_integer()) {
            throw ApiError(400, {"invalid_callback", "an output record lacks run_id, stream or seq", ""});
        }
        RawOutputRecord record;
        record.runId = item["run_id"];
        record.stream = item["stream"];
        record.seq = item["seq"];
        if (record.stream != "stdout" && record.stream != "stderr" && record.stream != "exit") {
            throw ApiError(400, {"invalid_callback", "unknown stream '" + record.stream + "'", ""});
        }
        record.eventId = record.runId + "/" + record.stream + "/" + std::to_string(record.seq);
        if (record.stream == "exit") {
            Json exitBody = item;
            for (const char* key : {"event_id", "run_id", "stream", "seq"}) exitBody.erase(key);
            record.line = exitBody.dump();
        } else {
            record.line = item.value("line", std::string());
            record.continued = item.value("continued", false);
        }
        records.push_back(std::move(record));
    }
    std::vector<RawOutputRecord> fresh;
    try {
        fresh = store_.insertRawOutput(records, unixMillisNow());
    } catch (const ProblemError& e) {
        if (e.problem().code == "run_not_found") throw ApiError(404, e.problem());
        throw;
    }
    std::map<std::string, std::vector<RawOutputRecord>> byRun;
    for (auto& record : fresh) {
        if (record.stream != "stderr") byRun[record.runId].push_back(std::move(record));
    }
    for (auto& [runId, list] : byRun) {
        if (auto active = activeRun(runId)) {
            {
                std::lock_guard lock(active->mutex);
                for (auto& record : list) active->inbox.push_back(std::move(record));
            }
            active->wake.notify_all();
        }
    }
    return {{"accepted", records.size()}, {"new", fresh.size()}};
}

RunRecord RunEngine::requestStop(const std::string& runId) {
    const auto run = store_.findRun(runId);
    if (!run) throw ApiError(404, {"run_not_found", "no run '" + runId + "'", ""});
    if (isTerminal(run->status)) {
        throw ApiError(409, {"run_finished", "run '" + runId + "' already ended (" + std::string(toString(run->status)) + ")",
                             "only queued or running runs can be stopped"});
    }
    if (!store_.requestStop(runId, unixMillisNow())) {
        throw ApiError(409, {"run_finished", "run '" + runId + "' already ended", ""});
    }
    if (auto active = activeRun(runId)) {
        active->post([this, active] { beginStop(*active, "POST /v1/runs/{rid}/stop"); });
    }
    wake_.notify_all();
    return *store_.findRun(runId);
}

Json RunEngine::humanReply(const std::string& runId, const Json& body) {
    const auto run = store_.findRun(runId);
    if (!run) throw ApiError(404, {"run_not_found", "no run '" + runId + "'", ""});
    const auto provider = providers_.find(run->provider);
    if (provider && (provider->capabilities & capabilityBit("human_loop")) == 0) {
        throw ApiError(422, {"capability_missing",
                             "provider '" + run->provider + "' has no HUMAN_LOOP capability: its runs never ask",
                             "runs of this provider use approval_mode \"auto\"; nothing waits for a reply"});
    }
    const std::string requestId = body.value("request_id", std::string());
    const std::string decision = body.value("decision", std::string());
    if (requestId.empty() || (decision != "allow" && decision != "deny")) {
        throw ApiError(400, {"invalid_reply", "send {\"request_id\", \"decision\": \"allow\"|\"deny\", \"message\"?}",
                             "request ids are in the run's human.request events"});
    }
    const auto request = store_.humanRequest(runId, requestId);
    if (!request || request->status != "pending") {
        throw ApiError(409, {"request_not_pending",
                             request ? "request '" + requestId + "' is already " + request->status
                                     : "run '" + runId + "' has no request '" + requestId + "'",
                             "GET /v1/runs/" + runId + "/events lists the pending human.request events"});
    }
    auto active = activeRun(runId);
    if (!active) {
        throw ApiError(409, {"run_not_active", "run '" + runId + "' is not running on this host",
                             "retry shortly; the run may be starting or handled by another host"});
    }
    auto done = std::make_shared<std::promise<Json>>();
    auto answer = done->get_future();
    const std::string message = body.value("message", std::string());
    const Json answers = body.value("answers", Json(nullptr));
    active->post([this, active, requestId, decision, message, answers, done] {
        try {
            const auto current = store_.humanRequest(active->run.runId, requestId);
            if (!current || current->status != "pending") {
                throw ApiError(409, {"request_not_pending", "request '" + requestId + "' is no longer pending", ""});
            }
            answerHuman(*active, *current, decision, message, answers, "user");
            done->set_value({{"run_id", active->run.runId}, {"request_id", requestId}, {"decision", decision}});
        } catch (...) {
            done->set_exception(std::current_exception());
        }
    });
    if (answer.wait_for(options_.providerCallTimeout + std::chrono::seconds(5)) != std::future_status::ready) {
        throw ApiError(503, {"reply_pending", "the run did not take the reply in time", "retry the reply"});
    }
    return answer.get();
}

}  // namespace aw
