#include "agent_worker/core/runs/plugin_session.h"

#include <thread>

#include "agent_worker/core/runs/run_failure.h"

namespace aw {
namespace {

using Json = nlohmann::json;
constexpr auto kAcquireRetry = std::chrono::milliseconds(100);
// Feed chunks in flight while this thread handles one chunk's outputs: the plugin
// translates the next, and the one after waits in its input, so the plugin does not idle
// while an answer is handed over and the next chunk sent.
constexpr std::size_t kChunksInFlight = 2;

//! A feed's answer's outputs, moved out: a copy of a chunk's DOMs is not free.
Json outputsOf(Json fed) {
    const auto outputs = fed.find("outputs");
    return outputs != fed.end() ? std::move(*outputs) : Json::array();
}

}  // namespace

PluginSession::PluginSession(PluginSessionOptions options, ProviderRegistry& providers, RunStore& store,
                             std::string runId, std::string provider, const std::atomic<bool>* stopping)
    : options_(options),
      providers_(providers),
      store_(store),
      runId_(std::move(runId)),
      provider_(std::move(provider)),
      stopping_(stopping) {}

PluginSession::~PluginSession() { close(); }

void PluginSession::acquire() { process_ = waitForProcess(nullptr); }

std::uint64_t PluginSession::capabilities() const { return process_ ? process_->capabilities() : 0; }

const Json& PluginSession::facts() const {
    static const Json kNone = Json::object();
    return process_ ? process_->facts() : kNone;
}

std::shared_ptr<PluginProcess> PluginSession::waitForProcess(const void* notThis) {
    const auto deadline = std::chrono::steady_clock::now() + options_.providerWait;
    std::string why = "its process is restarting";
    while (!(stopping_ && stopping_->load())) {
        try {
            auto process = providers_.acquire(provider_);
            if (process && process->identity() != notThis && !process->failed()) return process;
            why = "its process is restarting";
        } catch (const ProblemError& e) {
            why = e.problem().message;
        }
        if (std::chrono::steady_clock::now() >= deadline) break;
        std::this_thread::sleep_for(kAcquireRetry);
    }
    throw RunAttemptFailure({"provider_unavailable", "provider '" + provider_ + "' is not available: " + why,
                             "see GET /admin/providers"},
                            true);
}

Json PluginSession::call(const std::string& op, Json params) {
    params["run"] = key_;
    return process_->call(op, std::move(params));
}

Json PluginSession::open(Json request) {
    request_ = std::move(request);
    key_ = runId_ + "#" + std::to_string(++generation_);
    return process_->call("open", {{"run", key_}, {"request", request_}});
}

void PluginSession::feed(const std::vector<AssembledLine>& lines, std::int64_t replayBefore,
                         const Translated& translated, const Quarantined& quarantined) {
    // Chunks in flight, oldest first: the next ones are submitted before the oldest's
    // outputs are handled, so the plugin translates them while this thread stores those.
    std::deque<SubmittedChunk> inFlight;
    std::size_t nextStart = 0;
    const auto submitAhead = [&] {
        while (inFlight.size() < kChunksInFlight && nextStart < lines.size()) {
            const auto end = std::min(lines.size(), nextStart + options_.feedChunk);
            inFlight.push_back(submitChunk(lines, nextStart, end));
            nextStart = end;
        }
    };
    submitAhead();
    while (!inFlight.empty()) {
        SubmittedChunk chunk = std::move(inFlight.front());
        inFlight.pop_front();
        const std::vector<AssembledLine> chunkLines(
            lines.begin() + static_cast<std::ptrdiff_t>(chunk.start),
            lines.begin() + static_cast<std::ptrdiff_t>(chunk.end));
        Json fed;
        try {
            fed = chunk.await();
        } catch (const ProviderCallError& e) {
            // The chunks after this one went to a plugin that did not translate it: what they
            // answered is dropped, and they go again once this one is done.
            abandon(inFlight);
            nextStart = chunk.end;
            if (!e.processFailed()) throw;
            recover(e.problem().message, replayBefore);
            feedAlone(chunkLines, replayBefore, translated, quarantined);
            submitAhead();
            continue;
        }
        submitAhead();
        translated(chunkLines, outputsOf(std::move(fed)));
    }
}

PluginSession::SubmittedChunk PluginSession::submitChunk(const std::vector<AssembledLine>& lines,
                                                         std::size_t start, std::size_t end) {
    SubmittedChunk chunk{start, end, nullptr, std::nullopt};
    Json texts = Json::array();
    for (auto i = start; i < end; ++i) texts.push_back(lines[i].text);
    try {
        chunk.call = process_->submit("feed", {{"run", key_}, {"lines", std::move(texts)}});
    } catch (const ProviderCallError& e) {
        // Raised in its turn, after the chunks before it are handled.
        chunk.error = e;
    }
    return chunk;
}

Json PluginSession::SubmittedChunk::await() {
    if (error) throw *error;
    return call->await();
}

void PluginSession::abandon(std::deque<SubmittedChunk>& inFlight) noexcept {
    for (auto& chunk : inFlight) {
        try {
            if (chunk.call) chunk.call->await();
        } catch (const std::exception&) {
            // Its error, if any, is the same failure or comes again when it is resent.
        }
    }
    inFlight.clear();
}

void PluginSession::feedAlone(const std::vector<AssembledLine>& chunk, std::int64_t replayBefore,
                              const Translated& translated, const Quarantined& quarantined) {
    for (const auto& line : chunk) {
        for (;;) {
            try {
                feedChunk({line}, translated);
                break;
            } catch (const ProviderCallError& e) {
                if (!e.processFailed()) throw;
                const int crashes = ++lineCrashes_[line.rawIds.back()];
                recover(e.problem().message, replayBefore);
                if (crashes >= options_.quarantineAfter) {
                    quarantined(line, crashes, e.problem().message);
                    break;
                }
            }
        }
    }
}

void PluginSession::feedChunk(const std::vector<AssembledLine>& chunk, const Translated& translated) {
    Json texts = Json::array();
    for (const auto& line : chunk) texts.push_back(line.text);
    translated(chunk, outputsOf(call("feed", {{"lines", std::move(texts)}})));
}

Json PluginSession::exit(const CliExit& exit, bool stopRequested, std::int64_t replayBefore) {
    for (int tries = 0;; ++tries) {
        try {
            return call("exit", {{"exit_code", exit.exitCode.value_or(-1)},
                                 {"signal", exit.signal.value_or(0)},
                                 {"stop_requested", stopRequested}});
        } catch (const ProviderCallError& e) {
            // What the plugin could not say is a rejected output: the run still ends.
            if (!e.processFailed() || tries >= options_.quarantineAfter) {
                return Json{{"error", {{"code", e.problem().code}, {"message", e.problem().message}}}};
            }
            recover(e.problem().message, replayBefore);
        }
    }
}

Json PluginSession::reply(const Json& reply) { return call("reply", {{"reply", reply}}); }

Json PluginSession::interrupt() { return call("interrupt", Json::object()); }

void PluginSession::resume(Json request, std::int64_t replayBefore) {
    request_ = std::move(request);
    try {
        openAndReplay(replayBefore);
    } catch (const ProviderCallError& e) {
        if (!e.processFailed()) throw;
        recover(e.problem().message, replayBefore);
    }
}

void PluginSession::recover(const std::string& why, std::int64_t replayBefore) {
    for (int tries = 0; tries < 3; ++tries) {
        process_ = waitForProcess(process_ ? process_->identity() : nullptr);
        try {
            openAndReplay(replayBefore);
            return;
        } catch (const ProviderCallError& e) {
            if (!e.processFailed()) throw;
        }
    }
    throw RunAttemptFailure({"provider_crashed",
                             "provider '" + provider_ + "' keeps crashing while replaying this run (" + why + ")",
                             "see GET /admin/providers for its last error"},
                            false);
}

void PluginSession::openAndReplay(std::int64_t replayBefore) {
    key_ = runId_ + "#" + std::to_string(++generation_);
    process_->call("open", {{"run", key_}, {"request", request_}});
    // Rebuild the plugin's state from the lines it already translated; their events are
    // stored, so the outputs are dropped (and nothing is written to the CLI again).
    Json batch = Json::array();
    std::string pieces;
    auto flush = [&] {
        if (batch.empty()) return;
        call("feed", {{"lines", batch}});
        batch = Json::array();
    };
    for (const auto& row : store_.rawOutput(runId_, "stdout")) {
        if (row.seq >= replayBefore) break;
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
        if (batch.size() >= options_.feedChunk) flush();
    }
    flush();
}

void PluginSession::close() noexcept {
    if (!process_ || key_.empty()) return;
    try {
        process_->call("close", {{"run", key_}});
    } catch (const std::exception&) {
        // The session dies with the process anyway.
    }
}

}  // namespace aw
