#include "provider_host/run_mode.h"

#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <thread>

#include "agent_worker/core/runs/cli_invocation.h"
#include "agent_worker/core/runs/stop_escalation.h"
#include "agent_worker/event_types.h"
#include "process/process_tree.h"
#include "process/subprocess.h"
#include "provider/provider_protocol.h"
#include "provider_host/provider_host_service.h"

namespace aw {
namespace {

using Json = nlohmann::json;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

volatile std::sig_atomic_t gStopSignals = 0;
extern "C" void onStopSignal(int) {
    gStopSignals = gStopSignals + 1;
}

void say(const std::string& message) {
    std::cerr << "agent-provider-host: " << message << std::endl;
}

double secondsSince(Clock::time_point start) {
    return std::chrono::duration<double>(Clock::now() - start).count();
}

std::string fixed(double value) {
    char text[32];
    std::snprintf(text, sizeof text, "%.1f", value);
    return text;
}

//! The run: one plugin run and the CLI process it describes.
class Runner {
public:
    Runner(const RunModeOptions& options, LoadedProvider& provider, std::FILE* events)
        : options_(options), service_(provider), events_(events) {}

    int run();

private:
    Json call(Json request) {
        request["id"] = ++nextId_;
        request["run"] = "run";
        return service_.handle(request);
    }
    void emit(const Json& event) {
        const std::string line = event.dump(-1, ' ', false, Json::error_handler_t::replace);
        std::fwrite(line.data(), 1, line.size(), events_);
        std::fputc('\n', events_);
    }
    bool loadReplies();
    std::optional<SubprocessOptions> spawnOptions(const Json& request, const Json& invocation);
    void feed(std::vector<std::string>& lines);
    void handleOutput(const Json& output);
    void writeStdin(const std::string& bytes);
    void closeStdin();
    void answer(const Json& humanRequest);
    void interrupt(const std::string& why);
    void escalate();
    void pumpStdout(int timeoutMs);

    const RunModeOptions& options_;
    ProviderHostService service_;
    std::FILE* events_;
    int nextId_ = 0;
    std::deque<Json> replies_;
    std::unique_ptr<Subprocess> cli_;
    bool stdinOpen_ = false;
    bool stdoutEof_ = false;
    std::string pending_;  //!< stdout bytes after the last newline
    bool stopRequested_ = false;
    std::optional<StopEscalation> stop_;  //!< set once the run is interrupted
    Clock::time_point started_;
};

bool Runner::loadReplies() {
    if (options_.repliesFile.empty()) return true;
    std::ifstream in(options_.repliesFile);
    if (!in) {
        say("cannot read the replies file " + options_.repliesFile);
        return false;
    }
    std::string line;
    int number = 0;
    while (std::getline(in, line)) {
        ++number;
        if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
        Json reply = Json::parse(line, nullptr, false);
        if (!reply.is_object()) {
            say(options_.repliesFile + ":" + std::to_string(number) + " is not a JSON object");
            return false;
        }
        replies_.push_back(std::move(reply));
    }
    return true;
}

std::optional<SubprocessOptions> Runner::spawnOptions(const Json& request, const Json& invocation) {
    SubprocessOptions spawn;
    const Json argv = invocation.value("argv", Json::array());
    for (const auto& arg : argv) {
        if (!arg.is_string()) {
            say("the invocation's argv holds a non-string");
            return std::nullopt;
        }
        spawn.argv.push_back(arg.get<std::string>());
    }
    if (spawn.argv.empty()) {
        say("the invocation has no argv");
        return std::nullopt;
    }
    // A developer tool: the CLI inherits this process's environment (agent-host passes only
    // the plugin's facts.env_vars), plus the invocation's env.
    const Json env = invocation.value("env", Json::object());
    for (const auto& [name, value] : env.items()) {
        if (value.is_string()) spawn.env[name] = value.get<std::string>();
    }
    try {
        const auto spec = runSpec("run", invocation, Json::object(), request.value("workspace", std::string(".")));
        spawn.workingDir = std::filesystem::path(spec.cwd).lexically_normal().string();
    } catch (const ProblemError& e) {
        say(e.problem().message);
        return std::nullopt;
    }
    const bool keepOpen = invocation.value("keep_stdin_open", false);
    spawn.pipeStdin = keepOpen || !invocation.value("stdin", std::string()).empty();
    spawn.pipeStdout = true;
    spawn.ownProcessGroup = true;  // the stop escalation reaches the CLI's children too
    return spawn;
}

void Runner::writeStdin(const std::string& bytes) {
    if (bytes.empty()) return;
    if (!stdinOpen_) {
        say("the plugin asked to write " + std::to_string(bytes.size()) +
            " bytes to the CLI's stdin, which is closed; dropped");
        return;
    }
    if (!cli_->writeStdin(bytes))
        say("the CLI closed its stdin; " + std::to_string(bytes.size()) + " bytes dropped");
}

void Runner::closeStdin() {
    if (stdinOpen_) cli_->closeStdin();
    stdinOpen_ = false;
}

void Runner::answer(const Json& humanRequest) {
    const Json data = humanRequest.value("data", Json::object());
    const std::string requestId = data.value("request_id", std::string());
    if (replies_.empty()) {
        say("human.request " + requestId + " (" + data.value("kind", std::string("?")) + ", tool " +
            data.value("tool", std::string("?")) +
            "): no reply left in --replies; it stays unanswered");
        return;
    }
    Json reply = replies_.front();
    replies_.pop_front();
    reply["request_id"] = requestId;
    say("reply to " + requestId + ": " + reply.dump());
    const Json replied = call({{"op", "reply"}, {"reply", reply}});
    if (!replied.value("ok", false)) {
        say("reply failed: " + replied["error"].value("message", std::string("?")));
        return;
    }
    handleOutput(replied["result"]);
}

void Runner::handleOutput(const Json& output) {
    if (output.contains("error")) {
        say("the plugin rejected a line: " + output["error"].value("message", std::string("?")));
        return;
    }
    std::vector<Json> humanRequests;
    bool interruptNow = false;
    for (const auto& event : output.value("events", Json::array())) {
        emit(event);
        const std::string type = event.value("type", std::string());
        if (type == AW_EVENT_HUMAN_REQUEST) humanRequests.push_back(event);
        if (!options_.interruptAfterEvent.empty() && type == options_.interruptAfterEvent) {
            interruptNow = true;
        }
    }
    std::fflush(events_);
    if (output.contains("stdin") && output["stdin"].is_string()) {
        writeStdin(output["stdin"].get<std::string>());
    }
    if (output.value("close_stdin", false)) closeStdin();
    for (const auto& request : humanRequests) answer(request);
    if (interruptNow && !stop_) {
        interrupt("after the first " + options_.interruptAfterEvent + " event");
    }
}

void Runner::feed(std::vector<std::string>& lines) {
    if (lines.empty()) return;
    Json batch = Json::array();
    for (auto& line : lines) batch.push_back(std::move(line));
    lines.clear();
    const Json fed = call({{"op", "feed"}, {"lines", batch}});
    if (!fed.value("ok", false)) {
        say("feed failed: " + fed["error"].value("message", std::string("?")));
        return;
    }
    for (const auto& output : fed["result"]["outputs"]) handleOutput(output);
}

void Runner::interrupt(const std::string& why) {
    if (stop_) return;
    stop_.emplace(milliseconds(options_.graceMs));
    stop_->begin(Clock::now());
    stopRequested_ = true;
    const Json answer = call({{"op", "interrupt"}});
    Json how = answer.value("ok", false) ? answer["result"] : Json::object();
    say("interrupting the run " + why + " (" + fixed(secondsSince(started_)) +
        " s): " + (answer.value("ok", false) ? how.dump() : "interrupt failed, using SIGINT"));
    if (how.contains("stdin") && how["stdin"].is_string()) {
        writeStdin(how["stdin"].get<std::string>());
    } else {
        const std::string name = how.value("signal", std::string("INT"));
        const int sig = name == "TERM" ? SIGTERM : name == "KILL" ? SIGKILL : SIGINT;
        // To the CLI itself, as a user's Ctrl-C would; the escalation goes to its group.
        if (!cli_->poll()) ::kill(cli_->pid(), sig);
    }
}

void Runner::escalate() {
    if (!stop_ || cli_->poll()) return;
    const auto signal = stop_->due(Clock::now());
    if (signal == "TERM") {
        say("the CLI is still running " + fixed(options_.graceMs / 1000.0) +
            " s after the interrupt: SIGTERM to its process group");
        cli_->signal(SIGTERM);
    } else if (signal == "KILL") {
        say("still running: SIGKILL to its process group");
        cli_->signal(SIGKILL);
    }
}

void Runner::pumpStdout(int timeoutMs) {
    if (stdoutEof_ || cli_->stdoutFd() < 0) {
        stdoutEof_ = true;
        if (timeoutMs > 0) ::poll(nullptr, 0, timeoutMs);
        return;
    }
    pollfd fd{cli_->stdoutFd(), POLLIN, 0};
    const int ready = ::poll(&fd, 1, timeoutMs);
    if (ready <= 0) return;  // timeout, or EINTR from a stop signal
    char buffer[65536];
    const auto n = ::read(cli_->stdoutFd(), buffer, sizeof buffer);
    if (n < 0) {
        if (errno != EINTR && errno != EAGAIN) stdoutEof_ = true;
        return;
    }
    if (n == 0) {
        stdoutEof_ = true;
        return;
    }
    pending_.append(buffer, static_cast<std::size_t>(n));
    std::vector<std::string> lines;
    std::size_t start = 0;
    for (std::size_t newline = pending_.find('\n'); newline != std::string::npos;
         newline = pending_.find('\n', start)) {
        lines.push_back(pending_.substr(start, newline - start));
        start = newline + 1;
    }
    pending_.erase(0, start);
    feed(lines);
}

int Runner::run() {
    if (!loadReplies()) return 1;
    const Json request = Json::parse(options_.request, nullptr, false);
    if (!request.is_object()) {
        say("--request is not a JSON object");
        return 1;
    }
    const Json opened = call({{"op", "open"}, {"request", request}});
    if (!opened.value("ok", false)) {
        say("open failed: " + opened["error"].value("message", std::string("?")));
        return 1;
    }
    const Json invocation = opened["result"]["invocation"];
    say("invocation " + invocation.dump());
    auto spawn = spawnOptions(request, invocation);
    auto finish = [&](const ExitStatus& status) {
        const Json exited = call({{"op", "exit"},
                                  {"exit_code", status.code},
                                  {"signal", status.signal},
                                  {"stop_requested", stopRequested_}});
        if (exited.value("ok", false)) {
            handleOutput(exited["result"]);
        } else {
            say("exit failed: " + exited["error"].value("message", std::string("?")));
        }
        call({{"op", "close"}});
        std::fflush(events_);
    };
    if (!spawn) {
        finish(ExitStatus{127, 0});
        return 1;
    }
    try {
        cli_ = std::make_unique<Subprocess>(*spawn);
    } catch (const std::exception& e) {
        say(std::string("cannot start the CLI: ") + e.what());
        finish(ExitStatus{127, 0});
        return 1;
    }
    started_ = Clock::now();
    stdinOpen_ = spawn->pipeStdin;
    writeStdin(invocation.value("stdin", std::string()));
    if (!invocation.value("keep_stdin_open", false)) closeStdin();

    const pid_t owner = ::getppid();
    int signalsSeen = 0;
    std::optional<ExitStatus> status;
    std::optional<Clock::time_point> exitedAt;
    for (;;) {
        pumpStdout(50);
        if (gStopSignals > signalsSeen) {
            signalsSeen = gStopSignals;
            if (!stop_) {
                interrupt("on a stop signal to agent-provider-host");
            } else if (!cli_->poll()) {
                say("second stop signal: SIGKILL to the CLI's process group");
                cli_->signal(SIGKILL);
                stop_->killedEarly();
            }
        }
        if (!stop_ && ::getppid() != owner) interrupt("because our parent went away");
        if (!stop_ && options_.interruptAfterMs >= 0 &&
            Clock::now() - started_ >= milliseconds(options_.interruptAfterMs)) {
            interrupt("after " + std::to_string(options_.interruptAfterMs) + " ms");
        }
        if (!stop_ && options_.timeoutSeconds > 0 &&
            Clock::now() - started_ >= std::chrono::seconds(options_.timeoutSeconds)) {
            interrupt("on the run timeout of " + std::to_string(options_.timeoutSeconds) + " s");
        }
        escalate();
        if (!status) {
            status = cli_->poll();
            if (status) exitedAt = Clock::now();
        }
        // Done when the CLI has ended and its stdout is drained; a leftover child holding the
        // pipe open gets 2 s.
        if (status && (stdoutEof_ || Clock::now() - *exitedAt > milliseconds(2000))) break;
    }
    if (!pending_.empty()) {
        std::vector<std::string> last{std::exchange(pending_, std::string())};
        feed(last);
    }
    // Whatever the CLI left running goes: its process group, then every orphan that was
    // re-parented to us (opencode leaves its tool children running in sessions of their own).
    ::kill(-cli_->pid(), SIGKILL);
    // agent-provider-host is a child subreaper in run mode, so orphans (opencode's tool
    // children live in sessions of their own, out of reach of a group kill) are below it.
    const auto killed = killLeftovers(nullptr, [](pid_t) { return true; });
    if (killed > 0) {
        say("killed " + std::to_string(killed) + " process(es) the CLI left behind");
    }
    say("the CLI ended with " + status->describe() + " after " + fixed(secondsSince(started_)) +
        " s" + (stopRequested_ ? " (stop requested)" : ""));
    finish(*status);
    return 0;
}

}  // namespace

int runMode(const RunModeOptions& options) {
    // Our stdout carries the events only: what the plugin prints goes to stderr.
    std::fflush(stdout);
    const int privateFd = ::dup(STDOUT_FILENO);
    ::dup2(STDERR_FILENO, STDOUT_FILENO);
    std::FILE* events = ::fdopen(privateFd, "w");

    // A CLI that closes its stdin must not kill us: SIGPIPE stays blocked (the child's mask
    // is reset when it starts, and a blocked pending signal is not inherited).
    sigset_t pipe;
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe, nullptr);
    struct sigaction action {};
    action.sa_handler = onStopSignal;
    sigemptyset(&action.sa_mask);
    action.sa_flags = 0;  // no SA_RESTART: poll() returns at once
    sigaction(SIGINT, &action, nullptr);
    sigaction(SIGTERM, &action, nullptr);

    // Orphans of the CLI are re-parented to us, so that none outlives the run.
    ::prctl(PR_SET_CHILD_SUBREAPER, 1);

    std::unique_ptr<LoadedProvider> provider;
    try {
        provider = LoadedProvider::load(options.plugin);
    } catch (const ProblemError& e) {
        say(e.problem().message + " (" + e.problem().hint + ")");
        return kProviderRefusedExitCode;
    }
    Runner runner(options, *provider, events);
    const int code = runner.run();
    std::fflush(events);
    return code;
}

}  // namespace aw
