#include "agent_executor/run_manager.h"

#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>

#include "agent_worker/core/identifiers.h"
#include "http/api_error.h"

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
    std::atomic<std::int64_t> lines{0};
    std::thread pumpThread;
};

RunManager::~RunManager() {
    std::lock_guard lock(mutex_);
    for (auto& [id, run] : runs_) {
        {
            std::lock_guard runLock(run->mutex);
            if (!run->exited) run->process->signal(SIGKILL);
        }
        if (run->pumpThread.joinable()) run->pumpThread.join();
    }
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

nlohmann::json RunManager::start(const nlohmann::json& spec) {
    auto bad = [](const std::string& why) {
        return ApiError(400, {"invalid_run", why,
                              "send {\"run_id\", \"argv\": [...], \"env\"?: {}, \"cwd\"?: \"...\"}"});
    };
    if (!spec.contains("run_id") || !spec["run_id"].is_string()) throw bad("\"run_id\" is missing");
    const std::string runId = spec["run_id"];
    if (auto problem = checkIdentifier("run", runId)) throw ApiError(400, *problem);
    bool known = false;
    {
        std::lock_guard lock(mutex_);
        known = runs_.count(runId) > 0;
    }
    if (known) return status(runId);
    SubprocessOptions options;
    if (!spec.contains("argv") || !spec["argv"].is_array() || spec["argv"].empty()) {
        throw bad("\"argv\" must be a non-empty array of strings");
    }
    for (const auto& arg : spec["argv"]) {
        if (!arg.is_string()) throw bad("\"argv\" must be a non-empty array of strings");
        options.argv.push_back(arg);
    }
    if (spec.contains("env")) {
        if (!spec["env"].is_object()) throw bad("\"env\" must be an object of strings");
        for (const auto& [name, value] : spec["env"].items()) {
            if (!value.is_string()) throw bad("\"env\" must be an object of strings");
            options.env[name] = value;
        }
    }
    options.workingDir = spec.value("cwd", "");
    options.pipeStdin = true;
    options.pipeStdout = true;
    options.pipeStderr = true;
    options.ownProcessGroup = true;
    auto run = std::make_shared<Run>();
    run->id = runId;
    try {
        run->process = std::make_unique<Subprocess>(options);
    } catch (const std::system_error& e) {
        throw ApiError(422, {"run_start_failed", e.what(),
                             "check argv[0] is installed in the worker and cwd exists"});
    }
    if (spec.contains("stdin") && spec["stdin"].is_string()) {
        run->process->writeStdin(spec["stdin"].get<std::string>());
    }
    if (!spec.value("keep_stdin_open", false)) run->process->closeStdin();
    {
        std::lock_guard lock(mutex_);
        runs_[runId] = run;
    }
    run->pumpThread = std::thread([this, run] { pump(run); });
    return status(runId);
}

void RunManager::pump(std::shared_ptr<Run> run) {
    struct Stream {
        const char* name;
        int fd;
        std::string buffer;
        std::int64_t seq = 0;
        bool open = true;
    };
    Stream streams[2] = {{"stdout", run->process->stdoutFd(), {}}, {"stderr", run->process->stderrFd(), {}}};
    auto emit = [&](Stream& stream, std::string line, bool continued) {
        nlohmann::json body{{"line", std::move(line)}};
        if (continued) body["continued"] = true;
        spool_.append({run->id, stream.name, ++stream.seq, std::move(body)});
        if (stream.name[3] == 'o') ++run->lines;
    };
    while (streams[0].open || streams[1].open) {
        pollfd fds[2] = {{streams[0].open ? streams[0].fd : -1, POLLIN, 0},
                         {streams[1].open ? streams[1].fd : -1, POLLIN, 0}};
        if (::poll(fds, 2, 1000) < 0 && errno != EINTR) break;
        for (int i = 0; i < 2; ++i) {
            auto& stream = streams[i];
            if (!stream.open || !fds[i].revents) continue;
            char chunk[65536];
            const auto n = ::read(stream.fd, chunk, sizeof chunk);
            if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
            if (n <= 0) {
                stream.open = false;
                if (!stream.buffer.empty()) emit(stream, std::exchange(stream.buffer, {}), false);
                continue;
            }
            const std::size_t scanFrom = stream.buffer.size();
            stream.buffer.append(chunk, static_cast<std::size_t>(n));
            std::size_t start = 0;
            for (auto newline = stream.buffer.find('\n', scanFrom); newline != std::string::npos;
                 newline = stream.buffer.find('\n', start)) {
                // A line over the limit goes out in pieces; all but the last are "continued".
                for (; newline - start > kMaxLineBytes; start += kMaxLineBytes) {
                    emit(stream, stream.buffer.substr(start, kMaxLineBytes), true);
                }
                emit(stream, stream.buffer.substr(start, newline - start), false);
                start = newline + 1;
            }
            stream.buffer.erase(0, start);
            while (stream.buffer.size() > kMaxLineBytes) {
                emit(stream, stream.buffer.substr(0, kMaxLineBytes), true);
                stream.buffer.erase(0, kMaxLineBytes);
            }
        }
    }
    // Both streams closed: the exit goes last, after every line.
    ExitStatus exit;
    {
        std::lock_guard lock(run->mutex);
        exit = run->process->waitFor(std::chrono::seconds(5)).value_or(run->process->terminate());
        run->exit = exit;
        run->exited = true;
    }
    spool_.append({run->id, "exit", 1,
                   {{"exit_code", exit.signal ? nlohmann::json(nullptr) : nlohmann::json(exit.code)},
                    {"signal", exit.signal ? nlohmann::json(exit.signal) : nlohmann::json(nullptr)},
                    {"stdout_lines", streams[0].seq},
                    {"stderr_lines", streams[1].seq}}});
}

nlohmann::json RunManager::writeStdin(const std::string& runId, const std::string& bytes, bool close) {
    auto run = find(runId);
    {
        std::lock_guard lock(run->mutex);
        if (run->exited) throw ApiError(409, {"run_exited", "run '" + runId + "' has exited", ""});
    }
    std::lock_guard lock(run->stdinMutex);
    const bool written = bytes.empty() || run->process->writeStdin(bytes);
    if (close) run->process->closeStdin();
    if (!written) {
        throw ApiError(409, {"stdin_closed", "run '" + runId + "' no longer reads its input",
                             "the process closed its stdin or was started without keep_stdin_open"});
    }
    return {{"written", bytes.size()}, {"closed", close}};
}

nlohmann::json RunManager::signal(const std::string& runId, const std::string& name) {
    static const std::map<std::string, int> kSignals{{"INT", SIGINT}, {"TERM", SIGTERM}, {"KILL", SIGKILL}};
    const auto it = kSignals.find(name);
    if (it == kSignals.end()) {
        throw ApiError(400, {"invalid_signal", "signal '" + name + "' is not INT, TERM or KILL", ""});
    }
    auto run = find(runId);
    std::lock_guard lock(run->mutex);
    if (!run->exited) run->process->signal(it->second);  // the whole process group
    return {{"run_id", runId}, {"signal", name}, {"delivered", !run->exited}};
}

nlohmann::json RunManager::status(const std::string& runId) {
    auto run = find(runId);
    std::lock_guard lock(run->mutex);
    nlohmann::json out{{"run_id", runId},
                       {"pid", run->process->pid()},
                       {"state", run->exited ? "exited" : "running"},
                       {"stdout_lines", run->lines.load()}};
    if (run->exited) {
        out["exit_code"] = run->exit.signal ? nlohmann::json(nullptr) : nlohmann::json(run->exit.code);
        out["signal"] = run->exit.signal ? nlohmann::json(run->exit.signal) : nlohmann::json(nullptr);
    }
    return out;
}

}  // namespace aw
