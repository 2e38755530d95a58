#include "agent_executor/run_manager.h"

#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <set>
#include <vector>

#include <Poco/Logger.h>

#include "agent_worker/core/callback_delivery.h"
#include "agent_worker/core/identifiers.h"
#include "agent_worker/core/random_id.h"
#include "http/api_error.h"
#include "logging/json_formatter.h"
#include "process/process_tree.h"

namespace aw {

struct RunManager::Run {
    std::string id;
    std::unique_ptr<Subprocess> process;
    std::mutex mutex;  //!< guards signalling, reaping and the exit fields
    bool exited = false;
    ExitStatus exit;
    //! Writes to stdin may block on a full pipe; they must not hold `mutex`, which the
    //! output pump needs, or a process waiting for its stdout to drain would deadlock.
    std::mutex stdinMutex;
    //! Writes the spec's `stdin` (then closes it unless kept open); joined, under
    //! `stdinMutex`, before any other write and when the run ends.
    std::thread stdinWriter;

    //! With `stdinMutex` held.
    void awaitStdinWriter() {
        if (stdinWriter.joinable()) stdinWriter.join();
    }

    std::atomic<std::int64_t> lines{0};
    std::thread pumpThread;
};

namespace {

using namespace std::chrono_literals;

Poco::Logger& logger() { return Poco::Logger::get("runs"); }

}  // namespace

RunManager::RunManager(OutputSpool& spool, const std::atomic<std::size_t>& callbackBodyBytes)
    : spool_(spool), callbackBodyBytes_(callbackBodyBytes) {
    // Orphans re-parented to the executor die some time after their run; reaped here so
    // that no zombie piles up.
    reaper_ = std::thread([this] {
        std::unique_lock lock(reaperMutex_);
        while (!reaperWake_.wait_for(lock, 2s, [this] { return stopping_; })) {
            lock.unlock();
            reapOrphans();
            lock.lock();
        }
    });
}

RunManager::~RunManager() {
    {
        std::lock_guard lock(reaperMutex_);
        stopping_ = true;
    }
    reaperWake_.notify_all();
    reaper_.join();
    std::lock_guard lock(mutex_);
    for (auto& [id, run] : runs_) {
        {
            std::lock_guard runLock(run->mutex);
            if (!run->exited) ::kill(-run->process->pid(), SIGKILL);
        }
        if (run->pumpThread.joinable()) run->pumpThread.join();
    }
    killLeftovers(std::nullopt);
}

void RunManager::reapOrphans() {
    std::lock_guard lock(processMutex_);
    reapZombieChildren(readProcessTable(), ::getpid(), [this](pid_t pid) { return !live_.count(pid); });
}

std::size_t RunManager::killLeftovers(const std::optional<std::string>& finished) {
    const pid_t self = ::getpid();
    // Spared: a live run's leader, its group, whatever is tagged with a live run's id
    // (orphans of a live run), and everything below those. Called with processMutex_ held.
    auto spared = [&](const ProcessTable& table) {
        std::set<std::string> liveRuns;
        for (const auto& [pid, runId] : live_) liveRuns.insert(runId);
        std::map<pid_t, bool> memo;
        auto isSpared = [&](auto& self_, pid_t pid) -> bool {
            if (pid == self || pid <= 1) return false;
            if (const auto known = memo.find(pid); known != memo.end()) return known->second;
            bool result = false;
            const auto info = table.find(pid);
            if (live_.count(pid)) {
                result = true;
            } else if (info != table.end() && live_.count(info->second.group)) {
                result = true;
            } else if (const auto tag = startEnvironmentValue(pid, kRunIdVariable);
                       tag && tag != finished && liveRuns.count(*tag)) {
                result = true;
            } else if (info != table.end()) {
                result = self_(self_, info->second.parent);
            }
            memo[pid] = result;
            return result;
        };
        std::set<pid_t> keep;
        for (const pid_t pid : descendantsOf(self, table)) {
            if (isSpared(isSpared, pid)) keep.insert(pid);
        }
        return keep;
    };
    const auto killed =
        aw::killLeftovers(spared, [this](pid_t pid) { return !live_.count(pid); }, &processMutex_);
    // The last round's victims may have died since: reap them now rather than in 2 s.
    reapOrphans();
    return killed;
}

std::shared_ptr<RunManager::Run> RunManager::find(const std::string& runId) {
    std::lock_guard lock(mutex_);
    const auto it = runs_.find(runId);
    if (it == runs_.end()) {
        throw ApiError(404, {"run_not_found", "no run '" + runId + "' on this executor",
                             "start it with POST /runs"});
    }
    return it->second;
}

ExecutorRunStatus RunManager::start(const ExecutorRunSpec& spec, const std::string& traceId) {
    // The id names the run's spool files: checked here too, whoever built the spec.
    if (auto problem = checkIdentifier("run", spec.runId)) throw ApiError(400, *problem);
    if (spec.argv.empty()) {
        throw ApiError(400, {"invalid_run", "argv must not be empty", "send the command to run"});
    }
    bool known = false;
    {
        std::lock_guard lock(mutex_);
        known = runs_.count(spec.runId) > 0;
    }
    if (known) return status(spec.runId);
    // Before the process can print anything: its records are delivered under this trace.
    spool_.beginRun(spec.runId, traceId.empty() ? newTraceId() : traceId);
    SubprocessOptions options;
    options.argv = spec.argv;
    options.env = spec.env;
    options.workingDir = spec.cwd;
    // Without anything to write, stdin is /dev/null: the process reads EOF at once.
    options.pipeStdin = spec.stdinBytes || spec.keepStdinOpen;
    options.pipeStdout = true;
    options.pipeStderr = true;
    options.ownProcessGroup = true;
    options.env[kRunIdVariable] = spec.runId;
    auto run = std::make_shared<Run>();
    run->id = spec.runId;
    {
        std::lock_guard lock(processMutex_);
        try {
            run->process = std::make_unique<Subprocess>(options);
        } catch (const std::system_error& e) {
            throw ApiError(422, {"run_start_failed", e.what(),
                                 "check argv[0] is installed in the worker and cwd exists"});
        }
        live_[run->process->pid()] = spec.runId;
    }
    if (spec.stdinBytes) {
        // It may be more than the pipe holds (a long prompt): written by a thread of its own,
        // so that a process that reads it late, or never, does not hold up this call.
        run->stdinWriter =
            std::thread([run, bytes = *spec.stdinBytes, keepOpen = spec.keepStdinOpen] {
                run->process->writeStdin(bytes);
                if (!keepOpen) run->process->closeStdin();
            });
    }
    {
        std::lock_guard lock(mutex_);
        runs_[spec.runId] = run;
    }
    run->pumpThread = std::thread([this, run] { pump(run); });
    return status(spec.runId);
}

void RunManager::pump(std::shared_ptr<Run> run) {
    struct Stream {
        OutputStream name;
        int fd;
        std::string buffer;
        std::int64_t seq = 0;
        bool open = true;
    };
    Stream streams[2] = {{OutputStream::Stdout, run->process->stdoutFd(), {}},
                         {OutputStream::Stderr, run->process->stderrFd(), {}}};
    // The lines of one round of reads, spooled together (group commit): a process printing
    // fast costs one write per read of its pipes, not one per line.
    std::vector<OutputRecord> group;
    auto emit = [&](Stream& stream, std::string line, bool continued) {
        group.push_back(
            OutputRecord::lineOf(run->id, stream.name, ++stream.seq, std::move(line), continued));
    };
    // `text` in pieces that each fit a callback of their own (the host joins them): all but
    // the last are "continued", and the last too when the line goes on after `text`.
    auto emitPieces = [&](Stream& stream, std::string_view text, bool goesOn) {
        const std::size_t pieceBytes = CallbackBodyLimit::linePieceBytes(callbackBodyBytes_.load());
        do {
            const std::size_t length = fittingPrefix(text, pieceBytes);
            emit(stream, std::string(text.substr(0, length)), length < text.size() || goesOn);
            text.remove_prefix(length);
        } while (!text.empty());
    };
    // The run ends when its process does, even if what it started keeps the pipes open
    // (a child in a session of its own): then that is killed, and the pipes drain to EOF.
    bool leaderGone = false;
    auto nextCheck = std::chrono::steady_clock::now() + 100ms;
    while (streams[0].open || streams[1].open) {
        if (const auto now = std::chrono::steady_clock::now(); now >= nextCheck) {
            {
                std::lock_guard lock(run->mutex);
                leaderGone = run->process->poll().has_value();
            }
            nextCheck = now + (leaderGone ? 1000ms : 100ms);
            if (leaderGone) {
                {
                    std::lock_guard lock(processMutex_);
                    live_.erase(run->process->pid());
                }
                ::kill(-run->process->pid(), SIGKILL);
                killLeftovers(run->id);
            }
        }
        pollfd fds[2] = {{streams[0].open ? streams[0].fd : -1, POLLIN, 0},
                         {streams[1].open ? streams[1].fd : -1, POLLIN, 0}};
        if (::poll(fds, 2, 100) < 0 && errno != EINTR) break;
        for (int i = 0; i < 2; ++i) {
            auto& stream = streams[i];
            if (!stream.open || !fds[i].revents) continue;
            char chunk[65536];
            const auto n = ::read(stream.fd, chunk, sizeof chunk);
            if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
            if (n <= 0) {
                stream.open = false;
                if (!stream.buffer.empty())
                    emitPieces(stream, std::exchange(stream.buffer, {}), false);
                continue;
            }
            const std::size_t scanFrom = stream.buffer.size();
            stream.buffer.append(chunk, static_cast<std::size_t>(n));
            std::size_t start = 0;
            for (auto newline = stream.buffer.find('\n', scanFrom); newline != std::string::npos;
                 newline = stream.buffer.find('\n', start)) {
                emitPieces(stream, std::string_view(stream.buffer).substr(start, newline - start),
                           false);
                start = newline + 1;
            }
            stream.buffer.erase(0, start);
            // A line without its end yet is not held for ever: its start goes out now, cut
            // before a character (a UTF-8 continuation byte starts no piece).
            while (stream.buffer.size() > kMaxLineBytes) {
                std::size_t cut = kMaxLineBytes;
                for (int back = 0;
                     back < 3 && (static_cast<unsigned char>(stream.buffer[cut]) & 0xC0) == 0x80;
                     ++back) {
                    --cut;
                }
                emitPieces(stream, std::string_view(stream.buffer).substr(0, cut), true);
                stream.buffer.erase(0, cut);
            }
        }
        spool_.append(group);
        group.clear();
        // Only lines in the spool are counted: what status reports survives a crash.
        run->lines = streams[0].seq;
    }
    // Both streams closed: the exit goes last, after every line, and after what the run
    // left behind is gone.
    ExitStatus exit;
    {
        std::lock_guard lock(run->mutex);
        exit = run->process->waitFor(std::chrono::seconds(5)).value_or(run->process->terminate());
    }
    {
        std::lock_guard lock(processMutex_);
        live_.erase(run->process->pid());
    }
    ::kill(-run->process->pid(), SIGKILL);
    if (const auto killed = killLeftovers(run->id); killed > 0) {
        logFields(logger(), Poco::Message::PRIO_INFORMATION, "killed what the run left behind",
                  {{"run_id", run->id}, {"processes", killed}});
    }
    {
        // Nothing reads the stdin pipe any more: an unfinished write has failed (EPIPE).
        std::lock_guard lock(run->stdinMutex);
        run->awaitStdinWriter();
    }
    {
        std::lock_guard lock(run->mutex);
        run->exit = exit;
        run->exited = true;
    }
    spool_.append(
        {OutputRecord::exitOf(run->id, exit.signal ? std::nullopt : std::optional<int>(exit.code),
                              exit.signal ? std::optional<int>(exit.signal) : std::nullopt,
                              streams[0].seq, streams[1].seq)});
}

StdinWriteAnswer RunManager::writeStdin(const std::string& runId, const StdinWrite& write) {
    auto run = find(runId);
    {
        std::lock_guard lock(run->mutex);
        if (run->exited) throw ApiError(409, {"run_exited", "run '" + runId + "' has exited", ""});
    }
    std::lock_guard lock(run->stdinMutex);
    // After the spec's own stdin, and not while its thread writes to the pipe.
    run->awaitStdinWriter();
    const bool written = write.data.empty() || run->process->writeStdin(write.data);
    if (write.close) run->process->closeStdin();
    if (!written) {
        throw ApiError(409, {"stdin_closed", "run '" + runId + "' no longer reads its input",
                             "the process closed its stdin or was started without keep_stdin_open"});
    }
    return {static_cast<std::int64_t>(write.data.size()), write.close};
}

SignalAnswer RunManager::signal(const std::string& runId, RunSignal signal) {
    static const std::map<RunSignal, int> kSignals{
        {RunSignal::Int, SIGINT}, {RunSignal::Term, SIGTERM}, {RunSignal::Kill, SIGKILL}};
    auto run = find(runId);
    std::lock_guard lock(run->mutex);
    if (!run->exited) run->process->signal(kSignals.at(signal));  // the whole process group
    return {runId, signal, !run->exited};
}

ExecutorRunStatus RunManager::status(const std::string& runId) {
    auto run = find(runId);
    std::lock_guard lock(run->mutex);
    ExecutorRunStatus status{runId, run->process->pid(),
                             run->exited ? ExecutorRunState::Exited : ExecutorRunState::Running,
                             run->lines.load(), std::nullopt, std::nullopt};
    if (run->exited) {
        if (run->exit.signal) {
            status.signal = run->exit.signal;
        } else {
            status.exitCode = run->exit.code;
        }
    }
    return status;
}

}  // namespace aw
