// Step 4 of a run: the plugin's view of the run, a session in the provider's own process.
// Lines go to the plugin in chunks; when its process crashes mid-run, a new session is
// opened in the restarted process and fed the lines it had already translated (their
// outputs dropped, so nothing is written to the CLI twice); a line that keeps crashing a
// fresh plugin is quarantined instead of retried forever.
#pragma once

#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "agent_worker/core/provider_registry.h"
#include "agent_worker/core/run_store.h"
#include "agent_worker/core/runs/output_assembly.h"

namespace aw {

struct PluginSessionOptions {
    std::chrono::milliseconds providerWait{30000};  //!< for a restarting provider
    int quarantineAfter = 2;                         //!< crashes of a line fed alone
    std::size_t feedChunk = 64;                      //!< lines per feed request
};

class PluginSession {
public:
    //! A chunk the plugin answered: `outputs[i]` belongs to `lines[i]`.
    using Translated =
        std::function<void(const std::vector<AssembledLine>& lines, const nlohmann::json& outputs)>;
    //! A line skipped after crashing a fresh plugin `crashes` times.
    using Quarantined = std::function<void(const AssembledLine& line, int crashes, const std::string& why)>;

    //! `stopping` (may be null) ends the wait for a restarting provider early.
    PluginSession(PluginSessionOptions options, ProviderRegistry& providers, RunStore& store,
                  std::string runId, std::string provider, const std::atomic<bool>* stopping = nullptr);
    ~PluginSession();

    //! Waits up to providerWait for a process that serves the provider. Throws
    //! RunAttemptFailure `provider_unavailable` (retryable).
    void acquire();
    std::uint64_t capabilities() const;
    const nlohmann::json& facts() const;

    //! Opens the run with `request`; returns the plugin's answer ({invocation}). Throws
    //! ProviderCallError.
    nlohmann::json open(nlohmann::json request);
    //! Opens the run with `request` as another session (host) left it: the lines before
    //! `replayBefore` rebuild the plugin's state, their outputs dropped, since their events
    //! are stored and their effects had. Throws ProviderCallError, RunAttemptFailure.
    void resume(nlohmann::json request, std::int64_t replayBefore);
    //! Feeds `lines` in chunks, pipelined: the next chunks are sent before an answered
    //! chunk goes to `translated`, so the plugin translates them meanwhile. Chunks reach
    //! `translated` in order, each once, and all of them before feed returns; the store
    //! marks each translated before a later crash replays. When a chunk fails with its
    //! process, what the chunks after it answered is dropped: after the replay the failed
    //! chunk is fed line by line, and the later chunks are sent again. `replayBefore`: the
    //! stdout seq up to which the store's translated lines rebuild a new session.
    void feed(const std::vector<AssembledLine>& lines, std::int64_t replayBefore,
              const Translated& translated, const Quarantined& quarantined);
    //! The plugin's final output for the CLI's exit; {"error": {code, message}} when the
    //! plugin refused the call or keeps crashing on it.
    nlohmann::json exit(const CliExit& exit, bool stopRequested, std::int64_t replayBefore);
    //! Bytes for the CLI's stdin for a human's answer. Throws ProviderCallError.
    nlohmann::json reply(const nlohmann::json& reply);
    //! How to interrupt the CLI gracefully: {signal} or {stdin}. Throws ProviderCallError.
    nlohmann::json interrupt();

private:
    //! Lines [start, end) of a feed, sent to the plugin and not yet answered.
    struct SubmittedChunk {
        std::size_t start = 0;
        std::size_t end = 0;
        std::unique_ptr<PendingPluginCall> call;
        std::optional<ProviderCallError> error;  //!< why it could not be sent
        //! The plugin's answer; throws the chunk's ProviderCallError.
        nlohmann::json await();
    };

    nlohmann::json call(const std::string& op, nlohmann::json params);
    SubmittedChunk submitChunk(const std::vector<AssembledLine>& lines, std::size_t start,
                               std::size_t end);
    //! Waits out the chunks in flight and drops their answers.
    static void abandon(std::deque<SubmittedChunk>& inFlight) noexcept;
    //! Feeds a chunk that crashed the plugin one line at a time; quarantines a line once it
    //! crashed a fresh plugin quarantineAfter times.
    void feedAlone(const std::vector<AssembledLine>& chunk, std::int64_t replayBefore,
                   const Translated& translated, const Quarantined& quarantined);
    void feedChunk(const std::vector<AssembledLine>& chunk, const Translated& translated);
    //! Opens a new session in a restarted process and replays the translated lines.
    void recover(const std::string& why, std::int64_t replayBefore);
    //! Opens a new session in the current process and replays the translated lines before
    //! `replayBefore`. Throws ProviderCallError.
    void openAndReplay(std::int64_t replayBefore);
    std::shared_ptr<PluginProcess> waitForProcess(const void* notThis);
    void close() noexcept;

    PluginSessionOptions options_;
    ProviderRegistry& providers_;
    RunStore& store_;
    std::string runId_;
    std::string provider_;
    const std::atomic<bool>* stopping_;
    std::shared_ptr<PluginProcess> process_;
    std::string key_;  //!< the provider-host's name for the session: `<run>#<generation>`
    int generation_ = 0;
    nlohmann::json request_;                  //!< the open request, for re-opening
    std::map<std::string, int> lineCrashes_;  //!< last raw id of a line -> crashes alone
};

}  // namespace aw
