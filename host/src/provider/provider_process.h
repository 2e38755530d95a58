// One agent-provider-host child, seen from agent-host: handshake, requests in frames
// (provider_protocol.h) multiplexed by id with a deadline each, feeds pipelined, stderr
// forwarded to the log. Anything wrong with the child — exit, signal, silence, garbage,
// malformed or oversized frames, answers it was never asked for — fails it as a whole: it
// is killed (TERM, then KILL) and every request in flight gets a clear error.
#pragma once

#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "agent_worker/core/problem.h"
#include "agent_worker/core/provider_registry.h"
#include "process/subprocess.h"
#include "provider/loaded_provider.h"
#include "provider/provider_errors.h"
#include "provider/provider_protocol.h"

namespace aw {

struct ProviderProcessOptions {
    std::string providerHostBinary;  //!< path of agent-provider-host
    std::string pluginPath;
    std::chrono::milliseconds startTimeout{10000};
    std::chrono::milliseconds killGrace{2000};  //!< between SIGTERM and SIGKILL
    std::size_t maxResponseBytes = 32 * 1024 * 1024;  //!< largest frame accepted from the child
};

//! Why a provider process could not be started.
class ProviderStartError : public ProblemError {
public:
    //! `refused`: the provider-host loaded the file and said no (bad ABI, missing entry...),
    //! which a restart cannot fix; otherwise it crashed or stayed silent. The problem's
    //! code is one of provider_errors.h.
    ProviderStartError(Problem problem, bool refused)
        : ProblemError(std::move(problem)), refused_(refused) {}
    bool refused() const noexcept { return refused_; }

private:
    bool refused_;
};

class ProviderProcess {
public:
    //! Spawns agent-provider-host for the plugin and waits for its handshake.
    static std::shared_ptr<ProviderProcess> start(const ProviderProcessOptions& options);
    ~ProviderProcess();
    ProviderProcess(const ProviderProcess&) = delete;
    ProviderProcess& operator=(const ProviderProcess&) = delete;

    const ProviderInfo& info() const { return info_; }
    pid_t pid() const { return pid_; }
    const std::string& pluginPath() const { return options_.pluginPath; }

    struct Pending;
    //! A request sent and not yet awaited: a feed's frames in order, one otherwise.
    struct Ticket {
        std::vector<std::shared_ptr<Pending>> parts;
        std::chrono::steady_clock::time_point deadline;
        std::chrono::milliseconds timeout;
    };

    //! Sends {"op": op, ...params} without waiting. A feed's "lines" go raw, in frames of a
    //! few lines written at once, so the provider-host translates the next frame while
    //! agent-host parses the answer to the previous one. The provider-host answers requests
    //! in the order sent, so a caller may keep several in flight (pipelining) and await them
    //! in turn. Throws ProviderCallError when the process is not running or a feed is not
    //! {"run": string, "lines": [string]} (then nothing is sent).
    Ticket submit(const std::string& op, nlohmann::json params, std::chrono::milliseconds timeout);
    //! The response's "result" (a feed's: {"outputs": [one per line]}); throws
    //! ProviderCallError. A missed deadline fails the whole process (a hung plugin hangs
    //! everything behind it).
    nlohmann::json await(const Ticket& ticket);
    //! submit() then await().
    nlohmann::json call(const std::string& op, nlohmann::json params,
                        std::chrono::milliseconds timeout);

    //! Requests sent and not yet answered.
    std::size_t inFlight() const;

    //! Empty while the process is fine; otherwise why it failed.
    std::optional<std::string> failure() const;
    //! Waits up to `timeout` for the process to fail; returns the reason if it has.
    std::optional<std::string> waitForFailure(std::chrono::milliseconds timeout);
    //! Why it failed, as a provider_errors.h code (`crashed`, `hung`, `protocol_error`);
    //! empty while it is fine.
    std::string failureCode() const;
    //! Kills the process (TERM, then KILL) and fails what is in flight with `reason`. The
    //! first failure wins; `code` classifies it (provider_errors.h).
    void fail(const std::string& reason, std::string_view code = provider_error::kCrashed);

private:
    explicit ProviderProcess(const ProviderProcessOptions& options);
    void readLoop();
    void onHandshakeLine(const std::string& line);
    void onFrame(Frame frame);
    //! Fails the process for breaking the protocol (`protocol_error`).
    void failProtocol(const std::string& what);
    void onStderrLine(const std::string& line);
    //! The id for the next request; throws ProviderCallError once the process has failed.
    std::int64_t nextId();
    //! Registers request `id`, to be answered; throws ProviderCallError once the process
    //! has failed. `feedLines`: a feed's line count.
    std::shared_ptr<Pending> expect(std::int64_t id, const std::string& op,
                                    std::optional<std::size_t> feedLines);
    //! The error for a request to a failed process; called with mutex_ held.
    ProviderCallError notRunning() const;
    //! Lines [begin, end) of a feed's "lines" as one feed frame.
    std::string feedFrame(std::int64_t id, const nlohmann::json& params, std::size_t begin,
                          std::size_t end) const;
    //! Waits until the ticket is answered; throws ProviderCallError (`provider_timeout`) and
    //! fails the process when its deadline passes first.
    void wait(const Ticket& ticket);
    bool writeFrame(const std::string& frame, std::chrono::steady_clock::time_point deadline);
    std::string recentStderr() const;

    ProviderProcessOptions options_;
    std::string tag_;  //!< plugin file name, until the handshake gives the name
    std::unique_ptr<Subprocess> process_;
    pid_t pid_ = -1;
    ProviderInfo info_;

    mutable std::mutex mutex_;  //!< guards everything below and process_ signalling
    std::condition_variable changed_;
    bool handshakeDone_ = false;
    std::optional<Problem> handshakeProblem_;
    bool handshakeRefused_ = false;
    std::optional<std::string> failure_;
    std::string failureCode_;
    std::map<std::int64_t, std::shared_ptr<Pending>> pending_;
    std::int64_t nextId_ = 0;
    std::deque<std::string> stderrTail_;

    std::mutex writeMutex_;
    std::atomic<bool> stopping_{false};
    std::thread reader_;
};

}  // namespace aw
