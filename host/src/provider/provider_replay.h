// Runs recorded CLI output through a provider plugin: open, feed in batches, exit, close,
// and keeps what a run would keep of it: every output passes the run's PluginOutputGate
// (core/plugin_output_gate.h), so a replay accepts and rejects lines exactly as a run does.
// One routine serves agent-provider-host --replay (in process), POST
// /admin/providers/{name}/replay (through a provider process) and the benchmark.
#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "agent_worker/core/problem.h"
#include "agent_worker/core/provider_registry.h"

namespace aw {

//! One request to the plugin's run: `op` ("open", "feed", "exit", "close") and its parameters
//! without the run key; returns the response's result, throws ProviderCallError.
using ReplayCall = std::function<nlohmann::json(const std::string& op, nlohmann::json params)>;

struct ReplayInput {
    //! The plugin's name, for provider.line_error events (replayThroughProvider: the
    //! process's, when empty).
    std::string provider;
    //! The run request for open; its run_id names the raw records in provider.line_error
    //! events (`<run_id>/stdout/<line>`, `<run_id>/exit/1`, as a run's raw ids read).
    nlohmann::json request = nlohmann::json::object();
    std::vector<std::string> lines;
    int exitCode = 0;
    int signal = 0;
    bool stopRequested = false;
    std::size_t batchLines = 64;  //!< lines per feed request
    std::chrono::milliseconds requestTimeout{30000};
};

//! A line (or the exit) whose output was rejected or whose feed failed.
struct ReplayLineError {
    std::optional<std::size_t> line;  //!< 1-based line of the capture; nullopt: exit_run
    std::string rawEventId;
    Problem error;  //!< `invalid_plugin_output` (rejected), `plugin_error` (the plugin failed)

    //! {"line": n | null, "raw_event_id", "error": {"code", "message", "hint"}}
    nlohmann::json toJson() const;
    //! "line 12: <message>" or "exit_run: <message>", for people.
    std::string describe() const;
};

struct ReplayResult {
    nlohmann::json invocation;
    //! What a run would store: the accepted lines' events, a provider.line_error event in
    //! place of each rejected line's, the terminal event with `line_errors`.
    nlohmann::json events = nlohmann::json::array();
    nlohmann::json stdinWrites = nlohmann::json::array();  //!< bytes for the CLI's stdin
    std::vector<ReplayLineError> lineErrors;

    nlohmann::json lineErrorsJson() const;
};

//! Sees a replay as it happens (agent-provider-host --replay prints from it).
class ReplayObserver {
public:
    virtual ~ReplayObserver() = default;
    virtual void opened(const nlohmann::json& /*invocation*/) {}
    //! Lines first..last (1-based) go to the plugin now.
    virtual void feeding(std::size_t /*first*/, std::size_t /*last*/) {}
    //! An event to store ({type, data}) or bytes for the CLI ({"stdin": "..."}), in order.
    virtual void record(const nlohmann::json& /*eventOrStdin*/) {}
    virtual void lineError(const ReplayLineError& /*error*/) {}
};

//! Replays `input` through `call`. Throws ProviderCallError when open fails, or when the
//! process behind `call` fails (a crash, a timeout); what the plugin gets wrong for a line
//! or the exit is a ReplayLineError and the replay goes on. Closes the run in any case.
ReplayResult replayCapture(const ReplayCall& call, const ReplayInput& input,
                           ReplayObserver* observer = nullptr);

}  // namespace aw
