// `opencode run --format json` -> unified events. Field paths follow the observed CLI output
// (fixtures/providers/FACTS.md, section 3); anything else is counted and skipped.
#include "opencode_translator.h"

#include <agent_worker/event_types.h>

namespace aw::opencode {
namespace {

//! The unified todo status; opencode's "cancelled" becomes completed + cancelled:true.
Json todoItem(const std::string& id, const Json& todo) {
    const std::string status = stringAt(todo, "status");
    Json item{{"id", id}, {"content", stringAt(todo, "content")}};
    if (status == "in_progress" || status == "in-progress") {
        item["status"] = "in_progress";
    } else if (status == "completed" || status == "done") {
        item["status"] = "completed";
    } else if (status == "cancelled" || status == "canceled") {
        item["status"] = "completed";
        item["cancelled"] = true;
    } else {
        item["status"] = "pending";
    }
    if (auto priority = stringAt(todo, "priority"); !priority.empty()) item["priority"] = priority;
    return item;
}

std::string toolOutput(const Json& state) {
    if (stringAt(state, "status") == "error") return stringAt(state, "error");
    const Json* output = member(state, "output");
    if (!output || output->is_null()) return {};
    return output->is_string() ? output->get<std::string>() : dumpJson(*output);
}

}  // namespace

Translator::Translator(RunRequest request) : request_(std::move(request)) {}

Output Translator::feed(std::string_view line) {
    return lines_.read(line, [this](const Json& json, Output& out) { dispatch(json, out); });
}

void Translator::dispatch(const Json& line, Output& out) {
    noteSession(line, out);
    const std::string type = stringAt(line, "type");
    if (type == "error") {
        onError(line);
        return;
    }
    const Json* part = member(line, "part");
    const bool knownPartType = type == "step_start" || type == "text" || type == "reasoning" ||
                               type == "tool_use" || type == "step_finish";
    if (!knownPartType) {
        lines_.countUnknown(type.empty() ? "(no type)" : type);
        return;
    }
    if (!part || !part->is_object()) {
        lines_.countMalformed();
        return;
    }
    if (type == "text") {
        onText(*part, "text", out);
    } else if (type == "reasoning") {
        onText(*part, "reasoning", out);
    } else if (type == "tool_use") {
        onTool(*part, out);
    } else if (type == "step_finish") {
        onStepFinish(*part, out);
    }
}

void Translator::noteSession(const Json& line, Output& out) {
    std::string id = stringAt(line, "sessionID");
    if (id.empty()) {
        if (const Json* part = member(line, "part")) id = stringAt(*part, "sessionID");
    }
    if (id.empty() || id == sessionId_) return;
    sessionId_ = id;
    out.add(AW_EVENT_PROVIDER_SESSION, {{"provider_session_id", id}});
}

void Translator::onText(const Json& part, const std::string& kind, Output& out) {
    // `run --format json` prints each part once, complete: start, whole text, stop.
    const std::string text = stringAt(part, "text");
    if (text.empty()) return;
    std::string id = stringAt(part, "id");
    if (id.empty()) id = "opencode#" + std::to_string(++anonymousParts_);
    out.add(AW_EVENT_MESSAGE_START, {{"message_id", id}, {"kind", kind}, {"role", "assistant"}});
    out.add(AW_EVENT_MESSAGE_DELTA, {{"message_id", id}, {"kind", kind}, {"text", text}});
    out.add(AW_EVENT_MESSAGE_STOP, {{"message_id", id}, {"kind", kind}, {"text", text}});
    if (kind == "text") lastText_ = text;
}

void Translator::onTool(const Json& part, Output& out) {
    const std::string id = stringAt(part, "callID");
    const Json* state = member(part, "state");
    if (id.empty() || !state || !state->is_object()) {
        lines_.countMalformed();
        return;
    }
    const std::string tool = stringAt(part, "tool");
    const Json* input = member(*state, "input");
    if (!toolNames_.count(id)) {
        // opencode reports a tool once it has finished: its start is reported with it.
        toolNames_[id] = tool;
        out.add(AW_EVENT_TOOL_START,
                {{"tool_call_id", id},
                 {"name", tool},
                 {"input", input && input->is_object() ? *input : Json::object()}});
        unfinishedTools_.started(id, tool);
    }
    const std::string status = stringAt(*state, "status");
    if (status != "completed" && status != "error") return;
    Json data{{"tool_call_id", id},
              {"name", tool},
              {"output", toolOutput(*state)},
              {"is_error", status == "error"}};
    const Json* metadata = member(*state, "metadata");
    if (const Json* exitCode = metadata ? member(*metadata, "exit") : nullptr;
        exitCode && exitCode->is_number()) {
        data["exit_code"] = integerAt(*metadata, "exit");
    }
    out.add(AW_EVENT_TOOL_RESULT, std::move(data));
    unfinishedTools_.finished(id);

    if (tool != "todowrite" || status != "completed") return;
    const Json* todos = input ? member(*input, "todos") : nullptr;
    if (!todos || !todos->is_array()) todos = metadata ? member(*metadata, "todos") : nullptr;
    if (!todos || !todos->is_array()) return;
    Json list = Json::array();
    for (size_t i = 0; i < todos->size(); ++i) {
        std::string todoId = stringAt((*todos)[i], "id");
        list.push_back(todoItem(todoId.empty() ? std::to_string(i + 1) : todoId, (*todos)[i]));
    }
    out.add(AW_EVENT_TODO_UPDATE, {{"todos", std::move(list)}, {"source", tool}});
}

void Translator::onStepFinish(const Json& part, Output& out) {
    const Json* tokens = member(part, "tokens");
    if (!tokens || !tokens->is_object()) return;
    // Each step is one model call: the run's usage is the sum of its steps. opencode's input
    // already excludes cached tokens.
    usage_.input += countAt(*tokens, "input");
    usage_.output += countAt(*tokens, "output");
    usage_.reasoning += countAt(*tokens, "reasoning");
    if (const Json* cache = member(*tokens, "cache")) {
        usage_.cacheRead += countAt(*cache, "read");
        usage_.cacheWrite += countAt(*cache, "write");
    }
    usage_.cost += numberAt(part, "cost").value_or(0.0);
    ++usage_.steps;
    out.add(AW_EVENT_USAGE, usageJson());
}

void Translator::onError(const Json& line) {
    const Json* error = member(line, "error");
    const Json* data = error ? member(*error, "data") : nullptr;
    errorName_ = error ? stringAt(*error, "name") : std::string();
    errorMessage_ = data ? stringAt(*data, "message") : std::string();
    if (errorMessage_.empty() && error) errorMessage_ = stringAt(*error, "message");
    if (errorMessage_.empty()) errorMessage_ = errorName_.empty() ? "opencode error" : errorName_;
    errorStatus_ = data ? integerAt(*data, "statusCode") : 0;
}

Json Translator::usageJson() const {
    return {{"input_tokens", usage_.input},
            {"output_tokens", usage_.output},
            {"cache_read_tokens", usage_.cacheRead},
            {"cache_write_tokens", usage_.cacheWrite},
            {"reasoning_tokens", usage_.reasoning},
            {"cost_usd", usage_.cost},
            {"model_calls", usage_.steps}};
}

Output Translator::exit(int32_t exitCode, int32_t signal, bool stopRequested) {
    Output out;
    unfinishedTools_.close(out);

    Json data = terminalData(exitCode, signal, lines_);
    if (usage_.steps > 0) data["usage"] = usageJson();
    if (!errorMessage_.empty()) {
        data["error"] = {{"class", errorName_ == "APIError" ? "api_error" : "agent_error"},
                         {"message", errorMessage_}};
        if (errorStatus_ > 0) data["error"]["http_status"] = errorStatus_;
        out.add(AW_EVENT_RUN_FAILED, std::move(data));
    } else if (exitCode == 0 && signal == 0) {
        // No run-level result line exists: a clean exit is the completion.
        data["result"] = lastText_;
        out.add(AW_EVENT_RUN_COMPLETED, std::move(data));
    } else if (stopRequested) {
        // SIGINT kills `opencode run` (signal 2) without a final line.
        data["reason"] = "cancelled";
        out.add(AW_EVENT_RUN_STOPPED, std::move(data));
    } else {
        std::string message = signal != 0
                                  ? "opencode was killed by signal " + std::to_string(signal)
                                  : "opencode exited with code " + std::to_string(exitCode);
        if (!lines_.lastNoise().empty()) message += ": " + lines_.lastNoise();
        data["error"] = {{"class", "process_error"}, {"message", message}};
        out.add(AW_EVENT_RUN_FAILED, std::move(data));
    }
    return out;
}

}  // namespace aw::opencode
