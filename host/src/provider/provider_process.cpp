#include "provider/provider_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <Poco/Logger.h>

#include <cerrno>
#include <filesystem>
#include <set>

#include "logging/json_formatter.h"
#include "provider/provider_protocol.h"

extern char** environ;

namespace aw {
namespace {

constexpr std::size_t kStderrTailLines = 20;
constexpr std::size_t kMaxStderrLineBytes = 8192;

Poco::Logger& logger() { return Poco::Logger::get("provider"); }

std::string shorten(const std::string& text, std::size_t limit = 200) {
    return text.size() <= limit ? text : text.substr(0, limit) + "...";
}

//! What a provider-host gets of agent-host's environment: where programs, libraries, home
//! and temporary files are, the time zone and the locale. Nothing else: agent-host's own
//! settings hold tokens and database passwords, and a plugin, which only translates, needs
//! no provider's API key either (the CLI gets those with each run's spec, through the
//! executor). /proc/<pid>/environ of a provider-host is readable by anything running as the
//! host's user.
std::map<std::string, std::string> providerHostEnvironment() {
    static const std::set<std::string> kPassed = {"PATH", "LD_LIBRARY_PATH", "HOME", "TMPDIR", "TZ",
                                                  "LANG", "LANGUAGE"};
    std::map<std::string, std::string> env;
    for (char** entry = environ; entry && *entry; ++entry) {
        const std::string item(*entry);
        const auto eq = item.find('=');
        if (eq == std::string::npos) continue;
        const std::string name = item.substr(0, eq);
        if (kPassed.count(name) || name.rfind("LC_", 0) == 0) env[name] = item.substr(eq + 1);
    }
    return env;
}

}  // namespace

struct ProviderProcess::Pending {
    std::string op;
    bool done = false;
    bool ok = false;
    nlohmann::json result;
    Problem problem;
};

ProviderProcess::ProviderProcess(const ProviderProcessOptions& options)
    : options_(options), tag_(std::filesystem::path(options.pluginPath).filename().string()) {
    SubprocessOptions spawn;
    spawn.argv = {options.providerHostBinary, "--plugin", options.pluginPath};
    spawn.inheritEnvironment = false;
    spawn.env = providerHostEnvironment();
    spawn.pipeStdin = true;
    spawn.pipeStdout = true;
    spawn.pipeStderr = true;
    try {
        process_ = std::make_unique<Subprocess>(spawn);
    } catch (const std::system_error& e) {
        throw ProviderStartError({std::string(provider_error::kProviderHostMissing),
                                  "cannot start " + options.providerHostBinary + ": " + e.what(),
                                  "build agent-provider-host (make) or set provider_host_binary"},
                                 true);
    }
    pid_ = process_->pid();
    // Writes must never block past a request's deadline, even into a hung child.
    ::fcntl(process_->stdinFd(), F_SETFL, ::fcntl(process_->stdinFd(), F_GETFL) | O_NONBLOCK);
    reader_ = std::thread([this] { readLoop(); });
}

std::shared_ptr<ProviderProcess> ProviderProcess::start(const ProviderProcessOptions& options) {
    std::shared_ptr<ProviderProcess> process(new ProviderProcess(options));
    std::unique_lock lock(process->mutex_);
    const bool answered = process->changed_.wait_for(lock, options.startTimeout, [&] {
        return process->handshakeDone_ || process->handshakeProblem_ || process->failure_;
    });
    if (!answered) {
        lock.unlock();
        const std::string reason = "no handshake within " +
                                   std::to_string(options.startTimeout.count()) + " ms";
        process->fail(reason, provider_error::kStartTimeout);
        throw ProviderStartError({std::string(provider_error::kStartTimeout), process->tag_ + ": " + reason,
                                  "a plugin that hangs while loading must be fixed; raise "
                                  "supervisor.start_timeout_ms if it is only slow"},
                                 false);
    }
    if (process->handshakeProblem_) {
        Problem problem = *process->handshakeProblem_;
        const bool refused = process->handshakeRefused_;
        lock.unlock();
        process->fail(problem.message);
        throw ProviderStartError(problem, refused);
    }
    if (!process->handshakeDone_) {
        const std::string reason = *process->failure_;
        lock.unlock();
        throw ProviderStartError({std::string(provider_error::kCrashedOnLoad), process->tag_ + " " + reason,
                                  "the plugin crashes while loading; see the provider log lines"},
                                 false);
    }
    return process;
}

ProviderProcess::~ProviderProcess() {
    fail("provider process shut down");
    stopping_ = true;
    if (reader_.joinable()) reader_.join();
    process_->terminate(options_.killGrace);
}

std::size_t ProviderProcess::inFlight() const {
    std::lock_guard lock(mutex_);
    return pending_.size();
}

std::optional<std::string> ProviderProcess::failure() const {
    std::lock_guard lock(mutex_);
    return failure_;
}

std::optional<std::string> ProviderProcess::waitForFailure(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    changed_.wait_for(lock, timeout, [&] { return failure_.has_value(); });
    return failure_;
}

std::string ProviderProcess::failureCode() const {
    std::lock_guard lock(mutex_);
    return failureCode_;
}

void ProviderProcess::fail(const std::string& reason, std::string_view code) {
    std::lock_guard lock(mutex_);
    if (failure_) return;
    failure_ = reason;
    failureCode_ = code;
    for (auto& [id, pending] : pending_) {
        pending->done = true;
        pending->problem = {"provider_crashed",
                            "provider " + tag_ + " failed during `" + pending->op + "`: " + reason,
                            "the provider is being restarted; retry the request"};
    }
    pending_.clear();
    process_->signal(SIGTERM);
    changed_.notify_all();
}

std::string ProviderProcess::recentStderr() const {
    std::string tail;
    for (const auto& line : stderrTail_) tail += (tail.empty() ? "" : " | ") + line;
    return tail;
}

bool ProviderProcess::writeRequest(const std::string& line,
                                   std::chrono::steady_clock::time_point deadline) {
    std::lock_guard lock(writeMutex_);
    const int fd = process_->stdinFd();
    std::size_t written = 0;
    while (written < line.size()) {
        const auto n = ::write(fd, line.data() + written, line.size() - written);
        if (n > 0) {
            written += static_cast<std::size_t>(n);
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno != EAGAIN) return false;
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) return false;
        pollfd out{fd, POLLOUT, 0};
        ::poll(&out, 1, static_cast<int>(left.count()));
    }
    return true;
}

ProviderProcess::Ticket ProviderProcess::submit(const std::string& op, nlohmann::json params,
                                                std::chrono::milliseconds timeout) {
    Ticket ticket{std::make_shared<Pending>(), std::chrono::steady_clock::now() + timeout, timeout};
    ticket.pending->op = op;
    std::int64_t id = 0;
    {
        std::lock_guard lock(mutex_);
        if (failure_) {
            throw ProviderCallError({"provider_unavailable",
                                     "provider " + tag_ + " is not running: " + *failure_,
                                     "it is being restarted; retry shortly"});
        }
        id = ++nextId_;
        pending_[id] = ticket.pending;
    }
    params["id"] = id;
    params["op"] = op;
    const std::string line =
        params.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
    if (!writeRequest(line, ticket.deadline)) {
        fail("could not send `" + op + "` (the process stopped reading its input)", provider_error::kHung);
    }
    return ticket;
}

nlohmann::json ProviderProcess::await(const Ticket& ticket) {
    std::unique_lock lock(mutex_);
    if (!changed_.wait_until(lock, ticket.deadline, [&] { return ticket.pending->done; })) {
        lock.unlock();
        const std::string reason = "no answer to `" + ticket.pending->op + "` within " +
                                   std::to_string(ticket.timeout.count()) + " ms; killed as hung";
        fail(reason, provider_error::kHung);
        throw ProviderCallError({"provider_timeout", "provider " + tag_ + ": " + reason,
                                 "the provider is being restarted; retry the request"});
    }
    if (!ticket.pending->ok) throw ProviderCallError(ticket.pending->problem);
    return std::move(ticket.pending->result);
}

nlohmann::json ProviderProcess::call(const std::string& op, nlohmann::json params,
                                     std::chrono::milliseconds timeout) {
    return await(submit(op, std::move(params), timeout));
}

void ProviderProcess::onStderrLine(const std::string& line) {
    const std::string shown = shorten(line, kMaxStderrLineBytes);
    {
        std::lock_guard lock(mutex_);
        stderrTail_.push_back(shorten(line, 300));
        if (stderrTail_.size() > kStderrTailLines) stderrTail_.pop_front();
    }
    logFields(logger(), Poco::Message::PRIO_INFORMATION, "provider stderr",
              {{"provider", tag_}, {"pid", pid_}, {"line", shown}});
}

void ProviderProcess::onStdoutLine(const std::string& line) {
    std::unique_lock lock(mutex_);
    if (!handshakeDone_ && !handshakeProblem_) {
        const auto handshake = parseHandshake(line);
        if (!handshake) {
            handshakeProblem_ = Problem{std::string(provider_error::kBadHandshake),
                                        tag_ + " did not start with a handshake line but with '" +
                                            shorten(line) + "'",
                                        "is provider_host_binary really agent-provider-host?"};
        } else if (handshake->refusal) {
            handshakeProblem_ = *handshake->refusal;
            handshakeRefused_ = true;
        } else {
            info_ = *handshake->info;
            tag_ = info_.name;
            handshakeDone_ = true;
        }
        changed_.notify_all();
        return;
    }
    if (failure_) return;
    const auto response = nlohmann::json::parse(line, nullptr, false);
    const bool wellFormed = response.is_object() && response.contains("id") &&
                            response["id"].is_number_integer() && response.contains("ok") &&
                            response["ok"].is_boolean();
    const auto it = wellFormed ? pending_.find(response["id"].get<std::int64_t>()) : pending_.end();
    if (it == pending_.end()) {
        lock.unlock();
        fail(wellFormed ? "answered a request it was never sent"
                        : "broke the protocol with the line '" + shorten(line) + "'",
             provider_error::kProtocolError);
        return;
    }
    auto pending = it->second;
    pending_.erase(it);
    pending->done = true;
    pending->ok = response["ok"].get<bool>();
    if (pending->ok) {
        pending->result = response.contains("result") ? response["result"] : nlohmann::json::object();
    } else {
        const auto& error = response.contains("error") ? response["error"] : nlohmann::json::object();
        pending->problem = {error.value("code", "provider_error"),
                            error.value("message", "the provider rejected `" + pending->op + "`"),
                            error.value("hint", "")};
    }
    changed_.notify_all();
}

void ProviderProcess::readLoop() {
    std::string outBuffer, errBuffer;
    bool outOpen = true, errOpen = true;
    std::optional<std::chrono::steady_clock::time_point> failedAt;
    auto drain = [&](int fd, std::string& buffer, bool& open, bool isStdout) {
        char chunk[65536];
        const auto n = ::read(fd, chunk, sizeof chunk);
        if (n < 0 && (errno == EINTR || errno == EAGAIN)) return;
        if (n <= 0) {
            open = false;
            return;
        }
        // Only the new bytes can hold a newline: a long response is scanned once, not
        // once per chunk.
        const std::size_t scanFrom = buffer.size();
        buffer.append(chunk, static_cast<std::size_t>(n));
        std::size_t start = 0;
        for (auto newline = buffer.find('\n', scanFrom); newline != std::string::npos;
             newline = buffer.find('\n', start)) {
            const std::string line = buffer.substr(start, newline - start);
            start = newline + 1;
            isStdout ? onStdoutLine(line) : onStderrLine(line);
        }
        buffer.erase(0, start);
        if (isStdout && buffer.size() > options_.maxResponseBytes) {
            buffer.clear();
            fail("sent a response line over " + std::to_string(options_.maxResponseBytes) + " bytes",
                 provider_error::kProtocolError);
        } else if (!isStdout && buffer.size() > kMaxStderrLineBytes) {
            onStderrLine(buffer);
            buffer.clear();
        }
    };
    while (outOpen && !stopping_) {
        pollfd fds[2] = {{process_->stdoutFd(), POLLIN, 0},
                         {errOpen ? process_->stderrFd() : -1, POLLIN, 0}};
        const int ready = ::poll(fds, 2, 100);
        if (ready > 0) {
            if (fds[0].revents) drain(fds[0].fd, outBuffer, outOpen, true);
            if (errOpen && fds[1].revents) drain(fds[1].fd, errBuffer, errOpen, false);
        }
        // A child that ignores SIGTERM gets SIGKILL after the grace period.
        if (failure() && !failedAt) failedAt = std::chrono::steady_clock::now();
        if (failedAt && std::chrono::steady_clock::now() - *failedAt > options_.killGrace) {
            std::lock_guard lock(mutex_);
            process_->signal(SIGKILL);
        }
    }
    // stdout closed: the child is ending. Keep what it said last on stderr (a crash
    // message, a refusal reason) before deciding how it ended.
    while (errOpen && !stopping_) {
        pollfd err{process_->stderrFd(), POLLIN, 0};
        if (::poll(&err, 1, 200) <= 0) break;
        drain(err.fd, errBuffer, errOpen, false);
    }
    if (!errBuffer.empty()) onStderrLine(errBuffer);
    if (stopping_) return;
    std::optional<ExitStatus> status;
    {
        std::lock_guard lock(mutex_);
        status = process_->waitFor(options_.killGrace);
        if (!status) status = process_->terminate(options_.killGrace);
    }
    std::string reason = "exited with " + status->describe();
    const std::string tail = [&] {
        std::lock_guard lock(mutex_);
        return recentStderr();
    }();
    if (!tail.empty()) reason += "; last stderr: " + tail;
    fail(reason);
}

}  // namespace aw
