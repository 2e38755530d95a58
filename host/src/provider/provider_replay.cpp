#include "provider/provider_replay.h"

#include "agent_worker/core/plugin_output_gate.h"

namespace aw {
namespace {

using Json = nlohmann::json;

//! Codes of a call the plugin got wrong (its error status, output that broke the rules), as
//! opposed to a provider process that failed: those are the line's, the replay goes on.
bool blamesThePlugin(const std::string& code) {
    return code == "plugin_error" || code == "invalid_plugin_output";
}

Problem problemOf(const Json& error) {
    return {error.value("code", std::string("plugin_error")),
            error.value("message", std::string("the plugin failed the line")),
            error.value("hint", std::string())};
}

std::string runIdOf(const Json& request) {
    const auto id = request.find("run_id");
    return id != request.end() && id->is_string() && !id->get<std::string>().empty()
               ? id->get<std::string>()
               : std::string("replay");
}

//! A rejected line in the provider-host's answer still carries the bytes for the CLI's stdin.
PluginOutputGate::Admitted withStdinOf(const Json& failed, PluginOutputGate::Admitted admitted) {
    if (const auto bytes = failed.find("stdin"); bytes != failed.end() && bytes->is_string()) {
        admitted.stdinBytes = bytes->get<std::string>();
    }
    const auto close = failed.find("close_stdin");
    admitted.closeStdin = close != failed.end() && close->is_boolean() && close->get<bool>();
    return admitted;
}

//! One replay: the gate, what it let through, and who is told.
class Replay {
public:
    Replay(const ReplayInput& input, const std::string& provider, ReplayObserver* observer)
        : input_(input), observer_(observer), runId_(runIdOf(input.request)), gate_(provider) {}

    ReplayResult run(const ReplayCall& call) {
        result_.invocation = call("open", {{"request", input_.request}})["invocation"];
        if (observer_) observer_->opened(result_.invocation);
        if (result_.invocation.contains("stdin")) keepStdin(result_.invocation["stdin"]);
        struct Closer {
            const ReplayCall& call;
            ~Closer() {
                try {
                    call("close", Json::object());
                } catch (const std::exception&) {
                    // The process is failing anyway; its runs go with it.
                }
            }
        } closer{call};

        const std::size_t batch = std::max<std::size_t>(1, input_.batchLines);
        for (std::size_t start = 0; start < input_.lines.size(); start += batch) {
            const auto end = std::min(input_.lines.size(), start + batch);
            Json lines = Json::array();
            for (std::size_t i = start; i < end; ++i) lines.push_back(input_.lines[i]);
            if (observer_) observer_->feeding(start + 1, end);
            const Json fed = call("feed", {{"lines", lines}});
            const Json outputs = fed.value("outputs", Json::array());
            for (std::size_t i = start; i < end; ++i) {
                const Json output = i - start < outputs.size() ? outputs[i - start] : Json();
                takeFeed(i + 1, output);
            }
        }
        takeExit(call);
        return std::move(result_);
    }

private:
    void takeFeed(std::size_t line, const Json& output) {
        const std::string rawId = runId_ + "/stdout/" + std::to_string(line);
        if (output.is_object() && output.contains("error")) {
            const Problem problem = problemOf(output["error"]);
            keep(withStdinOf(output, gate_.reject(rawId, problem.message)), line, rawId, problem);
        } else if (output.is_null()) {
            const Problem problem{"provider_protocol", "the provider answered no output for it",
                                  ""};
            keep(gate_.reject(rawId, problem.message), line, rawId, problem);
        } else {
            keep(gate_.admit(output, rawId, PluginCall::Feed), line, rawId, std::nullopt);
        }
    }

    void takeExit(const ReplayCall& call) {
        const std::string rawId = runId_ + "/exit/1";
        Json exited;
        try {
            exited = call("exit", {{"exit_code", input_.exitCode},
                                   {"signal", input_.signal},
                                   {"stop_requested", input_.stopRequested}});
        } catch (const ProviderCallError& e) {
            if (!blamesThePlugin(e.problem().code)) throw;
            keep(gate_.reject(rawId, e.problem().message), std::nullopt, rawId, e.problem());
            return;
        }
        keep(gate_.admit(exited, rawId, PluginCall::Exit), std::nullopt, rawId, std::nullopt);
    }

    //! Keeps what the gate let through; `failure` is the call's own error, when it failed.
    void keep(PluginOutputGate::Admitted admitted, std::optional<std::size_t> line,
              const std::string& rawId, std::optional<Problem> failure) {
        if (!admitted.accepted()) {
            ReplayLineError error{line, rawId,
                                  failure ? *failure
                                          : Problem{"invalid_plugin_output", admitted.rejection,
                                                    "fix the plugin; docs/events.md lists what "
                                                    "each event type needs"}};
            if (observer_) observer_->lineError(error);
            result_.lineErrors.push_back(std::move(error));
        }
        for (auto& event : admitted.events) {
            if (observer_) observer_->record(event);
            result_.events.push_back(std::move(event));
        }
        if (!admitted.stdinBytes.empty()) keepStdin(admitted.stdinBytes);
    }

    void keepStdin(const Json& bytes) {
        if (observer_) observer_->record({{"stdin", bytes}});
        result_.stdinWrites.push_back(bytes);
    }

    const ReplayInput& input_;
    ReplayObserver* observer_;
    std::string runId_;
    PluginOutputGate gate_;
    ReplayResult result_;
};

}  // namespace

Json ReplayLineError::toJson() const {
    return {{"line", line ? Json(*line) : Json()},
            {"raw_event_id", rawEventId},
            {"error", {{"code", error.code}, {"message", error.message}, {"hint", error.hint}}}};
}

std::string ReplayLineError::describe() const {
    return (line ? "line " + std::to_string(*line) : std::string("exit_run")) + ": " +
           error.message;
}

Json ReplayResult::lineErrorsJson() const {
    Json list = Json::array();
    for (const auto& error : lineErrors) list.push_back(error.toJson());
    return list;
}

ReplayResult replayCapture(const ReplayCall& call, const ReplayInput& input,
                           ReplayObserver* observer) {
    return Replay(input, input.provider, observer).run(call);
}

}  // namespace aw
