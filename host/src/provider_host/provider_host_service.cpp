#include "provider_host/provider_host_service.h"

#include "agent_worker/core/json_access.h"

namespace aw {
namespace {

constexpr JsonDocumentKind kRequest{"bad_request", "see host/src/provider/provider_protocol.h"};

[[noreturn]] void badRequest(std::string message) { throwJsonProblem(kRequest, std::move(message)); }

// A request's fields, read with the one set of JSON helpers (json_access.h).
const nlohmann::json& field(const nlohmann::json& request, const char* name) {
    return StrictObject(kRequest, request, "").require(name);
}

std::string stringField(const nlohmann::json& request, const char* name) {
    return StrictObject(kRequest, request, "").requiredString(name);
}

int intField(const nlohmann::json& request, const char* name, int fallback) {
    const auto value = StrictObject(kRequest, request, "").optionalInteger(name);
    return value ? static_cast<int>(*value) : fallback;
}

nlohmann::json errorResponse(const nlohmann::json& id, const Problem& problem) {
    return {{"id", id},
            {"ok", false},
            {"error", {{"code", problem.code}, {"message", problem.message}, {"hint", problem.hint}}}};
}

}  // namespace

ProviderHostService::~ProviderHostService() {
    for (auto& [key, run] : runs_) provider_.close(run);
}

aw_run* ProviderHostService::runFor(const std::string& key) const {
    const auto it = runs_.find(key);
    if (it == runs_.end()) badRequest("no open run '" + key + "'");
    return it->second;
}

nlohmann::json ProviderHostService::dispatch(const std::string& op, const nlohmann::json& request) {
    if (op == "ping") return {{"pong", true}};
    if (op == "open") {
        const auto key = stringField(request, "run");
        if (runs_.count(key)) badRequest("run '" + key + "' is already open");
        const auto& runRequest = field(request, "request");
        if (!runRequest.is_object()) badRequest("\"request\" is not an object");
        nlohmann::json invocation;
        runs_[key] = provider_.open(runRequest, invocation);
        return {{"invocation", invocation}};
    }
    if (op == "feed") {
        // agent-host feeds in frames (feed()); this form serves the replay mode in process.
        const auto& lines = field(request, "lines");
        if (!lines.is_array()) badRequest("\"lines\" is not an array");
        std::vector<std::string_view> views;
        for (const auto& line : lines) {
            if (!line.is_string()) badRequest("a line is not a string");
            views.push_back(line.get_ref<const std::string&>());
        }
        nlohmann::json outputs = nlohmann::json::array();
        for (const auto& output : feed(stringField(request, "run"), views, true)) {
            outputs.push_back(nlohmann::json::parse(output.text));
        }
        return {{"outputs", std::move(outputs)}};
    }
    const auto run = [&] { return runFor(stringField(request, "run")); };
    if (op == "exit") {
        const auto& stop = request.contains("stop_requested") ? request["stop_requested"] : nlohmann::json(false);
        return provider_.exit(run(), intField(request, "exit_code", -1),
                              intField(request, "signal", 0),
                              stop.is_boolean() && stop.get<bool>());
    }
    if (op == "reply") return provider_.reply(run(), field(request, "reply"));
    if (op == "interrupt") return provider_.interrupt(run());
    if (op == "close") {
        const auto key = stringField(request, "run");
        if (auto it = runs_.find(key); it != runs_.end()) {
            provider_.close(it->second);
            runs_.erase(it);
        }
        return {{"closed", true}};
    }
    badRequest("unknown op '" + op + "'");
}

std::vector<FeedOutput> ProviderHostService::feed(std::string_view run,
                                                  const std::vector<std::string_view>& lines,
                                                  bool checkHere) {
    aw_run* handle = runFor(std::string(run));
    std::vector<FeedOutput> outputs;
    outputs.reserve(lines.size());
    for (const auto line : lines) {
        // One output per line, in order: a line the plugin fails, or whose output the event
        // table rejects, is reported in place and does not stop the lines after it.
        try {
            outputs.push_back({true, checkHere ? provider_.feed(handle, line).dump()
                                               : provider_.feedText(handle, line)});
        } catch (const PluginCallError& e) {
            nlohmann::json failed{{"error",
                                   {{"code", e.problem().code},
                                    {"message", e.problem().message},
                                    {"hint", e.problem().hint}}}};
            // A rejected line's events are dropped; its answer to the CLI still goes out.
            if (const auto* rejected = dynamic_cast<const RejectedOutputError*>(&e)) {
                if (!rejected->stdinBytes().empty()) failed["stdin"] = rejected->stdinBytes();
                if (rejected->closeStdin()) failed["close_stdin"] = true;
            }
            outputs.push_back(
                {false, failed.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)});
        }
    }
    return outputs;
}

std::string ProviderHostService::answerFeed(const FeedRequest& request) {
    try {
        // agent-host checks every output itself (a plugin may lie, and so may the process
        // it runs in): checked here too, each would be parsed twice.
        return encodeFeedAnswer(request.id, feed(request.run, request.lines, false));
    } catch (const ProblemError& e) {
        return encodeFrame(FrameKind::Json, errorResponse(request.id, e.problem()).dump());
    }
}

nlohmann::json ProviderHostService::handle(const nlohmann::json& request) {
    const nlohmann::json id = request.is_object() && request.contains("id") ? request["id"] : nlohmann::json();
    try {
        if (!request.is_object()) badRequest("request is not a JSON object");
        const auto op = stringField(request, "op");
        return {{"id", id}, {"ok", true}, {"result", dispatch(op, request)}};
    } catch (const ProblemError& e) {
        return errorResponse(id, e.problem());
    } catch (const std::exception& e) {
        return errorResponse(id, {"internal_error", e.what(), ""});
    }
}

}  // namespace aw
