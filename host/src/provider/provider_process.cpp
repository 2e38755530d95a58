#include "provider/provider_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <Poco/Logger.h>

#include <algorithm>
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

// How a feed call is cut into frames: small enough that the provider-host translates the
// next frame while agent-host parses the answer to the previous one, large enough that
// the per-frame cost (two writes, two wake-ups: a quarter of the provider-host's CPU for
// codex's cheap lines at 16 a frame) stays small beside the translations. On the bench, 32
// lines beat 16 and 64 for every shipped plugin at a run's chunk of 64.
constexpr std::size_t kFeedFrameLines = 32;
// The call's last frames are smaller (half of what is left, down to this): nothing overlaps
// agent-host's parse of the last answer, so a short one ends the call sooner.
constexpr std::size_t kFeedTailFrameLines = 8;
constexpr std::size_t kFeedFrameBytes = 256 * 1024;

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

//! `object[key]` when it is a string: what a child answers is not trusted to be well typed.
std::string textOr(const nlohmann::json& object, const char* key, std::string fallback) {
    const auto it = object.find(key);
    return it != object.end() && it->is_string() ? it->get<std::string>() : fallback;
}

//! A feed must be {"run": string, "lines": [string...]}: it goes in a frame, not as JSON.
void checkFeed(const nlohmann::json& params) {
    const auto run = params.find("run");
    const auto lines = params.find("lines");
    const auto isString = [](const nlohmann::json& line) { return line.is_string(); };
    const bool ok = run != params.end() && run->is_string() && lines != params.end() &&
                    lines->is_array() && std::all_of(lines->begin(), lines->end(), isString);
    if (!ok) {
        throw ProviderCallError({"bad_request",
                                 "a feed needs \"run\" (a string) and \"lines\" (strings)",
                                 "see host/src/provider/provider_protocol.h"});
    }
}

}  // namespace

struct ProviderProcess::Pending {
    std::string op;
    std::optional<std::size_t> feedLines;  //!< a feed's: how many outputs its answer holds
    bool done = false;
    bool ok = false;
    nlohmann::json result;
    bool awaited = false;  //!< someone sleeps until it is done: only then is it worth a wake-up
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

bool ProviderProcess::writeFrame(const std::string& frame,
                                 std::chrono::steady_clock::time_point deadline) {
    std::lock_guard lock(writeMutex_);
    const int fd = process_->stdinFd();
    std::size_t written = 0;
    while (written < frame.size()) {
        const auto n = ::write(fd, frame.data() + written, frame.size() - written);
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

std::int64_t ProviderProcess::nextId() {
    std::lock_guard lock(mutex_);
    if (failure_) throw notRunning();
    return ++nextId_;
}

std::string ProviderProcess::feedFrame(std::int64_t id, const nlohmann::json& params,
                                       std::size_t begin, std::size_t end) const {
    FeedFrameBuilder frame(static_cast<std::uint64_t>(id),
                           params["run"].get_ref<const std::string&>());
    const auto& lines = params["lines"];
    for (std::size_t i = begin; i < end; ++i) frame.add(lines[i].get_ref<const std::string&>());
    if (frame.bytes() > kMaxRequestFrameBytes) {
        throw ProviderCallError({"bad_request",
                                 "a feed of " + std::to_string(frame.bytes()) +
                                     " bytes is over the limit of " +
                                     std::to_string(kMaxRequestFrameBytes) + " per frame",
                                 "split the output into shorter lines"});
    }
    return frame.take();
}

ProviderProcess::Ticket ProviderProcess::submit(const std::string& op, nlohmann::json params,
                                                std::chrono::milliseconds timeout) {
    Ticket ticket{{}, std::chrono::steady_clock::now() + timeout, timeout};
    std::string frames;
    if (op != "feed") {
        const auto id = nextId();
        params["id"] = id;
        params["op"] = op;
        frames = encodeFrame(FrameKind::Json,
                             params.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
        ticket.parts.push_back(expect(id, op, std::nullopt));
    } else {
        checkFeed(params);
        // Every frame is built before any is sent: a line over the limit sends nothing.
        const auto& lines = params["lines"];
        std::vector<std::pair<std::int64_t, std::size_t>> cuts;  // id and lines of each frame
        for (std::size_t begin = 0; begin < lines.size();) {
            // Up to kFeedFrameLines lines (half of what is left, toward the end) and
            // kFeedFrameBytes bytes, and at least one line.
            const std::size_t left = lines.size() - begin;
            const std::size_t frameLines =
                left <= kFeedTailFrameLines
                    ? left
                    : std::clamp(left / 2, kFeedTailFrameLines, kFeedFrameLines);
            std::size_t end = begin + 1, bytes = lines[begin].get_ref<const std::string&>().size();
            while (end < lines.size() && end - begin < frameLines &&
                   bytes + lines[end].get_ref<const std::string&>().size() <= kFeedFrameBytes) {
                bytes += lines[end++].get_ref<const std::string&>().size();
            }
            const auto id = nextId();
            frames += feedFrame(id, params, begin, end);
            cuts.emplace_back(id, end - begin);
            begin = end;
        }
        if (cuts.empty()) return ticket;
        for (const auto& [id, count] : cuts) ticket.parts.push_back(expect(id, op, count));
    }
    // One write for all of a feed's frames; the provider-host answers each as it goes.
    if (!writeFrame(frames, ticket.deadline)) {
        fail("could not send `" + op + "` (the process stopped reading its input)",
             provider_error::kHung);
    }
    return ticket;
}

std::shared_ptr<ProviderProcess::Pending> ProviderProcess::expect(
    std::int64_t id, const std::string& op, std::optional<std::size_t> feedLines) {
    auto pending = std::make_shared<Pending>();
    pending->op = op;
    pending->feedLines = feedLines;
    std::lock_guard lock(mutex_);
    if (failure_) throw notRunning();
    pending_[id] = pending;
    return pending;
}

ProviderCallError ProviderProcess::notRunning() const {
    return ProviderCallError({"provider_unavailable",
                              "provider " + tag_ + " is not running: " + *failure_,
                              "it is being restarted; retry shortly"});
}

void ProviderProcess::wait(const Ticket& ticket) {
    if (ticket.parts.empty()) return;
    std::unique_lock lock(mutex_);
    // Answers come in order, so once the last part is answered all are: the caller sleeps
    // once for them, not once per frame.
    const auto& last = ticket.parts.back();
    last->awaited = true;
    if (!changed_.wait_until(lock, ticket.deadline, [&] { return last->done; })) {
        lock.unlock();
        const std::string reason = "no answer to `" + last->op + "` within " +
                                   std::to_string(ticket.timeout.count()) + " ms; killed as hung";
        fail(reason, provider_error::kHung);
        throw ProviderCallError({"provider_timeout", "provider " + tag_ + ": " + reason,
                                 "the provider is being restarted; retry the request"});
    }
}

nlohmann::json ProviderProcess::await(const Ticket& ticket) {
    wait(ticket);
    std::lock_guard lock(mutex_);
    // The first frame that failed knows best why: the later ones were failed with it.
    for (const auto& part : ticket.parts) {
        if (!part->ok) throw ProviderCallError(part->problem);
    }
    if (ticket.parts.size() == 1 && !ticket.parts.front()->feedLines) {
        return std::move(ticket.parts.front()->result);
    }
    nlohmann::json outputs = nlohmann::json::array();
    for (const auto& part : ticket.parts) {
        for (auto& output : part->result["outputs"]) outputs.push_back(std::move(output));
    }
    return {{"outputs", std::move(outputs)}};
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

void ProviderProcess::onHandshakeLine(const std::string& line) {
    std::lock_guard lock(mutex_);
    const auto handshake = parseHandshake(line);
    if (!handshake) {
        handshakeProblem_ =
            Problem{std::string(provider_error::kBadHandshake),
                    tag_ + " did not start with a handshake line but with '" + shorten(line) + "'",
                    "is provider_host_binary really agent-provider-host, of this version?"};
    } else if (handshake->refusal) {
        handshakeProblem_ = *handshake->refusal;
        handshakeRefused_ = true;
    } else {
        info_ = *handshake->info;
        tag_ = info_.name;
        handshakeDone_ = true;
    }
    changed_.notify_all();
}

void ProviderProcess::failProtocol(const std::string& what) {
    fail("broke the protocol: " + what, provider_error::kProtocolError);
}

void ProviderProcess::onFrame(Frame frame) {
    std::optional<FeedAnswer> answer;
    nlohmann::json response, outputs;
    std::int64_t id = 0;
    try {
        if (frame.kind == FrameKind::Outputs) {
            answer = decodeFeedAnswer(frame.payload);
            id = static_cast<std::int64_t>(answer->id);
            outputs = parseFeedOutputs(answer->outputs);
        } else if (frame.kind == FrameKind::Json) {
            response = nlohmann::json::parse(frame.payload, nullptr, false);
            const bool wellFormed = response.is_object() && response.contains("id") &&
                                    response["id"].is_number_integer() && response.contains("ok") &&
                                    response["ok"].is_boolean();
            if (!wellFormed) throw FrameError("sent the response " + quoteBytes(frame.payload));
            id = response["id"].get<std::int64_t>();
        } else {
            throw FrameError("sent a feed frame, which only agent-host sends");
        }
    } catch (const FrameError& e) {
        failProtocol(e.what());
        return;
    }
    std::unique_lock lock(mutex_);
    if (failure_) return;
    const auto it = pending_.find(id);
    std::string lie;
    if (it == pending_.end()) {
        lie = "answered a request it was never sent";
    } else if (answer && !it->second->feedLines) {
        lie = "answered `" + it->second->op + "` with feed outputs";
    } else if (answer && answer->outputs.size() != *it->second->feedLines) {
        lie = "answered a feed of " + std::to_string(*it->second->feedLines) + " lines with " +
              std::to_string(answer->outputs.size()) + " outputs";
    } else if (!answer && it->second->feedLines && response["ok"].get<bool>()) {
        lie = "answered a feed without its outputs";
    }
    if (!lie.empty()) {
        lock.unlock();
        failProtocol(lie);
        return;
    }
    auto pending = it->second;
    pending_.erase(it);
    pending->done = true;
    if (answer) {
        pending->ok = true;
        pending->result = {{"outputs", std::move(outputs)}};
    } else if ((pending->ok = response["ok"].get<bool>())) {
        pending->result =
            response.contains("result") ? std::move(response["result"]) : nlohmann::json::object();
    } else {
        const auto error = response.find("error");
        const auto& fields = error != response.end() ? *error : response;
        pending->problem = {
            textOr(fields, "code", "provider_error"),
            textOr(fields, "message", "the provider rejected `" + pending->op + "`"),
            textOr(fields, "hint", "")};
    }
    // Frames of a pipelined feed nobody waits on yet need no wake-up: the caller sleeps on
    // the last one only.
    if (pending->awaited) changed_.notify_all();
}

void ProviderProcess::readLoop() {
    std::string handshakeBuffer, errBuffer;
    FrameReader frames(options_.maxResponseBytes);
    bool firstLine = true, outOpen = true, errOpen = true;
    std::optional<std::chrono::steady_clock::time_point> failedAt;
    // stdout: the handshake line, then frames (which may come in the same read).
    auto takeStdout = [&](const char* data, std::size_t size) {
        if (failure()) return;  // only drained now, so the child can finish exiting
        if (firstLine) {
            const std::size_t scanFrom = handshakeBuffer.size();
            handshakeBuffer.append(data, size);
            const auto newline = handshakeBuffer.find('\n', scanFrom);
            if (newline == std::string::npos) {
                if (handshakeBuffer.size() > options_.maxResponseBytes) {
                    failProtocol("sent a first line over " +
                                 std::to_string(options_.maxResponseBytes) + " bytes");
                }
                return;
            }
            firstLine = false;
            onHandshakeLine(handshakeBuffer.substr(0, newline));
            if (!handshakeDone_) return;  // a refusal or no handshake: start() fails it
            frames.append(handshakeBuffer.data() + newline + 1,
                          handshakeBuffer.size() - newline - 1);
            handshakeBuffer.clear();
        } else if (handshakeDone_) {
            frames.append(data, size);
        } else {
            return;
        }
        try {
            while (auto frame = frames.next()) onFrame(std::move(*frame));
        } catch (const FrameError& e) {
            failProtocol(e.what());
        }
    };
    auto drain = [&](int fd, bool& open, bool isStdout) {
        char chunk[65536];
        const auto n = ::read(fd, chunk, sizeof chunk);
        if (n < 0 && (errno == EINTR || errno == EAGAIN)) return;
        if (n <= 0) {
            open = false;
            return;
        }
        if (isStdout) {
            takeStdout(chunk, static_cast<std::size_t>(n));
            return;
        }
        // Only the new bytes can hold a newline: a long line is scanned once, not once per chunk.
        const std::size_t scanFrom = errBuffer.size();
        errBuffer.append(chunk, static_cast<std::size_t>(n));
        std::size_t start = 0;
        for (auto newline = errBuffer.find('\n', scanFrom); newline != std::string::npos;
             newline = errBuffer.find('\n', start)) {
            onStderrLine(errBuffer.substr(start, newline - start));
            start = newline + 1;
        }
        errBuffer.erase(0, start);
        if (errBuffer.size() > kMaxStderrLineBytes) {
            onStderrLine(errBuffer);
            errBuffer.clear();
        }
    };
    while (outOpen && !stopping_) {
        pollfd fds[2] = {{process_->stdoutFd(), POLLIN, 0},
                         {errOpen ? process_->stderrFd() : -1, POLLIN, 0}};
        const int ready = ::poll(fds, 2, 100);
        if (ready > 0) {
            if (fds[0].revents) drain(fds[0].fd, outOpen, true);
            if (errOpen && fds[1].revents) drain(fds[1].fd, errOpen, false);
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
        drain(err.fd, errOpen, false);
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
    // What a child dying mid-answer left unsaid: a frame begun and never finished.
    if (frames.pending() > 0) {
        reason += " in the middle of a frame (" + std::to_string(frames.pending()) +
                  " bytes of it received)";
    }
    const std::string tail = [&] {
        std::lock_guard lock(mutex_);
        return recentStderr();
    }();
    if (!tail.empty()) reason += "; last stderr: " + tail;
    fail(reason);
}

}  // namespace aw
