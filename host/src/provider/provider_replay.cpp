#include "provider/provider_replay.h"

#include "agent_worker/core/random_id.h"

namespace aw {
namespace {

void collect(const nlohmann::json& output, ReplayResult& result) {
    for (const auto& event : output.value("events", nlohmann::json::array())) {
        result.events.push_back(event);
    }
    if (output.contains("stdin")) result.stdinWrites.push_back(output["stdin"]);
}

}  // namespace

ReplayResult replayThroughProvider(ProviderProcess& provider, const ReplayInput& input) {
    const std::string run = newRandomId("replay-");
    ReplayResult result;
    result.invocation = provider.call("open", {{"run", run}, {"request", input.request}},
                                      input.requestTimeout)["invocation"];
    if (result.invocation.contains("stdin")) result.stdinWrites.push_back(result.invocation["stdin"]);
    struct Closer {
        ProviderProcess& provider;
        const std::string& run;
        std::chrono::milliseconds timeout;
        ~Closer() {
            try {
                provider.call("close", {{"run", run}}, timeout);
            } catch (const std::exception&) {
                // The process is failing anyway; its runs go with it.
            }
        }
    } closer{provider, run, input.requestTimeout};

    const std::size_t batch = std::max<std::size_t>(1, input.batchLines);
    for (std::size_t start = 0; start < input.lines.size(); start += batch) {
        const auto end = std::min(input.lines.size(), start + batch);
        nlohmann::json lines = nlohmann::json::array();
        for (std::size_t i = start; i < end; ++i) lines.push_back(input.lines[i]);
        const auto fed = provider.call("feed", {{"run", run}, {"lines", lines}}, input.requestTimeout);
        const auto& outputs = fed.value("outputs", nlohmann::json::array());
        for (std::size_t i = 0; i < outputs.size(); ++i) {
            nlohmann::json error;
            if (outputs[i].contains("error")) {
                error = outputs[i]["error"];
            } else {
                // The provider-host forwards plugin output as is: it is validated here.
                try {
                    validateOutputDocument(outputs[i], input.maxEventsPerLine);
                    collect(outputs[i], result);
                } catch (const PluginCallError& e) {
                    error = {{"code", e.problem().code},
                             {"message", e.problem().message},
                             {"hint", e.problem().hint}};
                }
            }
            if (!error.is_null()) result.lineErrors.push_back({{"line", start + i + 1}, {"error", error}});
        }
    }
    auto exited = provider.call("exit",
                          {{"run", run},
                           {"exit_code", input.exitCode},
                           {"signal", input.signal},
                           {"stop_requested", input.stopRequested}},
                          input.requestTimeout);
    try {
        validateOutputDocument(exited, input.maxEventsPerLine);
    } catch (const PluginCallError& e) {
        throw ProviderCallError(e.problem());
    }
    collect(exited, result);
    return result;
}

}  // namespace aw
