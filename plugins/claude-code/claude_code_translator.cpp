// Claude Code stream-json -> unified events. Field paths follow the observed CLI output
// (fixtures/providers/FACTS.md, section 1); anything else is counted and skipped.
#include "claude_code_translator.h"

#include <agent_worker/event_types.h>

#include <algorithm>

#include "claude_code_answers.h"
#include "claude_code_notice.h"

namespace aw::claude_code {
namespace {

//! The unified todo status; `cancelled` is set for states the unified model has no name for.
std::string unifiedStatus(const std::string& status, bool& cancelled) {
    cancelled = false;
    if (status == "in_progress" || status == "in-progress" || status == "inProgress") {
        return "in_progress";
    }
    if (status == "completed" || status == "done" || status == "complete") return "completed";
    if (status == "cancelled" || status == "canceled") {
        cancelled = true;
        return "completed";
    }
    return "pending";
}

Json todoItem(const std::string& id, const std::string& content, const std::string& status) {
    bool cancelled = false;
    Json item{{"id", id}, {"content", content}, {"status", unifiedStatus(status, cancelled)}};
    if (cancelled) item["cancelled"] = true;
    return item;
}

//! A member that may be a string or a number (task ids), as a string.
std::string idAt(const Json& object, const char* key) {
    const Json* value = member(object, key);
    if (!value) return {};
    if (value->is_string()) return value->get<std::string>();
    if (value->is_number_integer()) return value->dump();
    return {};
}

//! tool_result content is a string or a list of content blocks.
std::string toolResultText(const Json* content) {
    if (!content) return {};
    if (content->is_string()) return content->get<std::string>();
    if (!content->is_array()) return content->is_null() ? std::string() : dumpJson(*content);
    std::string text;
    for (const Json& block : *content) {
        if (!text.empty()) text += "\n";
        const std::string type = stringAt(block, "type");
        text += type == "text" ? stringAt(block, "text") : "[" + type + "]";
    }
    return text;
}

Json withParent(Json data, const Json* parent) {
    if (parent && parent->is_string()) data["parent_tool_call_id"] = *parent;
    return data;
}

}  // namespace

Translator::Translator(RunRequest request) : request_(std::move(request)) {}

Output Translator::feed(std::string_view line) {
    return lines_.read(line, [this](const Json& json, Output& out) { dispatch(json, out); });
}

void Translator::dispatch(const Json& line, Output& out) {
    noteSession(line, out);
    const std::string type = stringAt(line, "type");
    if (type == "system") {
        onSystem(line, out);
    } else if (type == "assistant") {
        onAssistant(line, out);
    } else if (type == "user") {
        onUser(line, out);
    } else if (type == "stream_event") {
        onStreamEvent(line, out);
    } else if (type == "result") {
        onResult(line, out);
    } else if (type == "control_request") {
        onControlRequest(line, out);
    } else if (type == "control_cancel_request") {
        onControlCancel(line, out);
    } else if (type == "control_response") {
        // Answers to our own initialize/interrupt requests: nothing to report.
    } else {
        lines_.countUnknown(type.empty() ? "(no type)" : type);
    }
}

void Translator::noteSession(const Json& line, Output& out) {
    const std::string id = stringAt(line, "session_id");
    if (id.empty() || id == sessionId_) return;
    sessionId_ = id;
    Json data{{"provider_session_id", id}};
    if (stringAt(line, "subtype") == "init") {
        if (auto model = stringAt(line, "model"); !model.empty()) data["model"] = model;
        if (auto cwd = stringAt(line, "cwd"); !cwd.empty()) data["cwd"] = cwd;
    }
    out.add(AW_EVENT_PROVIDER_SESSION, std::move(data));
}

void Translator::onSystem(const Json& line, Output& out) {
    const std::string subtype = stringAt(line, "subtype");
    if (subtype == "api_retry") {
        // Shown while the CLI waits; remembered so a run that dies while retrying says why.
        out.add(AW_EVENT_PROVIDER_NOTICE, apiRetryNotice(line));
        lastApiError_ = "API retry " + std::to_string(integerAt(line, "attempt")) + "/" +
                        std::to_string(integerAt(line, "max_retries")) + ": " +
                        stringAt(line, "error");
        lastApiErrorStatus_ = integerAt(line, "error_status", lastApiErrorStatus_);
    } else if (subtype != "init" && subtype != "status" && subtype != "thinking_tokens" &&
               subtype != "permission_denied") {
        lines_.countUnknown("system/" + subtype);
    }
}

void Translator::onAssistant(const Json& line, Output& out) {
    const Json* message = member(line, "message");
    const Json* content = message ? member(*message, "content") : nullptr;
    if (!content || !content->is_array()) {
        lines_.countMalformed();
        return;
    }
    if (boolAt(line, "is_api_error_message") || stringAt(*message, "model") == "<synthetic>") {
        // The CLI's own error text dressed as a reply: it belongs to run.failed, not the chat.
        std::string text;
        for (const Json& block : *content) text += stringAt(block, "text");
        if (!text.empty()) lastApiError_ = text;
        lastApiErrorStatus_ = integerAt(line, "api_error_status", lastApiErrorStatus_);
        return;
    }
    const Json* parent = member(line, "parent_tool_use_id");
    const std::string apiMessageId = stringAt(*message, "id");
    for (const Json& block : *content) {
        const std::string type = stringAt(block, "type");
        if (type == "text") {
            emitBlockText(apiMessageId, "text", stringAt(block, "text"), parent ? *parent : Json(),
                          out);
        } else if (type == "thinking") {
            emitBlockText(apiMessageId, "reasoning", stringAt(block, "thinking"),
                          parent ? *parent : Json(), out);
        } else if (type == "tool_use" || type == "server_tool_use" || type == "mcp_tool_use") {
            onToolUse(block, parent ? *parent : Json(), out);
        } else if (type.size() > 12 && type.ends_with("_tool_result")) {
            onToolResult(block, Json(), parent ? *parent : Json(), out);
        }
    }
}

std::string Translator::newMessageId(const std::string& apiMessageId) {
    const int ordinal = ++blocksPerApiMessage_[apiMessageId];
    return (apiMessageId.empty() ? std::string("claude") : apiMessageId) + "#" +
           std::to_string(ordinal);
}

void Translator::emitBlockText(const std::string& apiMessageId, const std::string& kind,
                               const std::string& text, const Json& parent, Output& out) {
    // With --include-partial-messages the block was already started and streamed; its
    // complete copy closes it.
    auto streamed = std::find_if(streamed_.begin(), streamed_.end(), [&](const StreamedBlock& b) {
        return b.apiMessageId == apiMessageId && b.kind == kind;
    });
    if (streamed != streamed_.end()) {
        // Whatever the deltas missed still reaches the client as a delta, so that they add
        // up to the stop text.
        if (text.size() > streamed->text.size() && text.starts_with(streamed->text)) {
            out.add(AW_EVENT_MESSAGE_DELTA,
                    withParent({{"message_id", streamed->messageId},
                                {"kind", kind},
                                {"text", text.substr(streamed->text.size())}},
                               &parent));
        }
        out.add(AW_EVENT_MESSAGE_STOP,
                withParent({{"message_id", streamed->messageId}, {"kind", kind}, {"text", text}},
                           &parent));
        streamed_.erase(streamed);
        return;
    }
    if (text.empty()) return;
    const std::string id = newMessageId(apiMessageId);
    out.add(AW_EVENT_MESSAGE_START,
            withParent({{"message_id", id}, {"kind", kind}, {"role", "assistant"}}, &parent));
    out.add(AW_EVENT_MESSAGE_DELTA,
            withParent({{"message_id", id}, {"kind", kind}, {"text", text}}, &parent));
    out.add(AW_EVENT_MESSAGE_STOP,
            withParent({{"message_id", id}, {"kind", kind}, {"text", text}}, &parent));
}

void Translator::onToolUse(const Json& block, const Json& parent, Output& out) {
    const std::string id = stringAt(block, "id");
    if (id.empty()) {
        lines_.countMalformed();
        return;
    }
    if (tools_.count(id)) return;  // the same block reported twice
    const Json* input = member(block, "input");
    // tool.start's input is an object (docs/events.md): anything else is not the CLI's input.
    ToolCall call{stringAt(block, "name"), input && input->is_object() ? *input : Json::object()};
    out.add(
        AW_EVENT_TOOL_START,
        withParent({{"tool_call_id", id}, {"name", call.name}, {"input", call.input}}, &parent));
    unfinishedTools_.started(id, call.name);
    tools_[id] = std::move(call);
}

void Translator::onUser(const Json& line, Output& out) {
    const Json* message = member(line, "message");
    const Json* content = message ? member(*message, "content") : nullptr;
    if (!content) {
        lines_.countMalformed();
        return;
    }
    if (!content->is_array()) return;  // an echoed user prompt
    const Json* parent = member(line, "parent_tool_use_id");
    for (const Json& block : *content) {
        const std::string type = stringAt(block, "type");
        if (type == "tool_result") {
            onToolResult(block, line, parent ? *parent : Json(), out);
        } else if (type == "text" && stringAt(block, "text").starts_with("[Request interrupted")) {
            interruptedMarker_ = true;
        }
    }
}

void Translator::onToolResult(const Json& block, const Json& line, const Json& parent,
                              Output& out) {
    const std::string id = stringAt(block, "tool_use_id");
    if (id.empty()) {
        lines_.countMalformed();
        return;
    }
    const bool isError = boolAt(block, "is_error");
    auto call = tools_.find(id);
    const std::string name = call == tools_.end() ? std::string() : call->second.name;
    out.add(AW_EVENT_TOOL_RESULT, withParent({{"tool_call_id", id},
                                              {"name", name},
                                              {"output", toolResultText(member(block, "content"))},
                                              {"is_error", isError}},
                                             &parent));
    unfinishedTools_.finished(id);
    if (!isError && call != tools_.end()) {
        const Json* structured = member(line, "tool_use_result");
        updateTodos(name, call->second.input, structured ? *structured : Json(), out);
    }
}

void Translator::updateTodos(const std::string& tool, const Json& input, const Json& toolUseResult,
                             Output& out) {
    if (tool == "TodoWrite") {
        const Json* todos = member(toolUseResult, "newTodos");
        if (!todos || !todos->is_array()) todos = member(input, "todos");
        if (!todos || !todos->is_array()) return;
        Json list = Json::array();
        for (size_t i = 0; i < todos->size(); ++i) {
            const Json& todo = (*todos)[i];
            std::string id = idAt(todo, "id");
            list.push_back(todoItem(id.empty() ? std::to_string(i + 1) : id,
                                    stringAt(todo, "content"), stringAt(todo, "status")));
        }
        out.add(AW_EVENT_TODO_UPDATE, {{"todos", std::move(list)}, {"source", tool}});
        return;
    }
    if (tool == "TaskCreate") {
        const Json* task = member(toolUseResult, "task");
        std::string id = task ? idAt(*task, "id") : std::string();
        if (id.empty()) id = std::to_string(tasks_.size() + 1);
        std::string subject = task ? stringAt(*task, "subject") : std::string();
        if (subject.empty()) subject = stringAt(input, "subject");
        tasks_.push_back({id, subject, "pending"});
    } else if (tool == "TaskUpdate") {
        if (!boolAt(toolUseResult, "success", true)) return;
        std::string id = idAt(input, "taskId");
        if (id.empty()) id = idAt(toolUseResult, "taskId");
        std::string status = stringAt(input, "status");
        if (const Json* change = member(toolUseResult, "statusChange"); status.empty() && change) {
            status = stringAt(*change, "to");
        }
        auto task =
            std::find_if(tasks_.begin(), tasks_.end(), [&](const Task& t) { return t.id == id; });
        if (status == "deleted") {
            if (task != tasks_.end()) tasks_.erase(task);
        } else {
            if (task == tasks_.end()) {
                // Created in an earlier run of the session: known only from now on.
                tasks_.push_back({id, "Task " + id, "pending"});
                task = tasks_.end() - 1;
            }
            if (!status.empty()) task->status = status;
            if (auto subject = stringAt(input, "subject"); !subject.empty()) {
                task->content = subject;
            }
        }
    } else {
        return;
    }
    Json list = Json::array();
    for (const Task& task : tasks_) list.push_back(todoItem(task.id, task.content, task.status));
    out.add(AW_EVENT_TODO_UPDATE, {{"todos", std::move(list)}, {"source", tool}});
}

void Translator::onStreamEvent(const Json& line, Output& out) {
    const Json* event = member(line, "event");
    if (!event || !event->is_object()) {
        lines_.countMalformed();
        return;
    }
    const std::string type = stringAt(*event, "type");
    if (type == "message_start") {
        if (const Json* message = member(*event, "message")) {
            streamApiMessageId_ = stringAt(*message, "id");
        }
        return;
    }
    std::string apiMessageId = stringAt(line, "api_message_id");
    if (apiMessageId.empty()) apiMessageId = streamApiMessageId_;
    const int64_t index = integerAt(*event, "index");
    const Json* parentMember = member(line, "parent_tool_use_id");
    const Json parent = parentMember ? *parentMember : Json();
    auto open = [&](const std::string& kind) -> StreamedBlock& {
        StreamedBlock block{apiMessageId, index, newMessageId(apiMessageId), kind, ""};
        out.add(AW_EVENT_MESSAGE_START,
                withParent({{"message_id", block.messageId}, {"kind", kind}, {"role", "assistant"}},
                           &parent));
        streamed_.push_back(std::move(block));
        return streamed_.back();
    };
    if (type == "content_block_start") {
        const Json* block = member(*event, "content_block");
        const std::string blockType = block ? stringAt(*block, "type") : std::string();
        if (blockType == "text") open("text");
        if (blockType == "thinking") open("reasoning");
    } else if (type == "content_block_delta") {
        const Json* delta = member(*event, "delta");
        const std::string deltaType = delta ? stringAt(*delta, "type") : std::string();
        if (deltaType != "text_delta" && deltaType != "thinking_delta") return;
        const std::string kind = deltaType == "text_delta" ? "text" : "reasoning";
        const std::string piece = stringAt(*delta, kind == "text" ? "text" : "thinking");
        auto found = std::find_if(streamed_.begin(), streamed_.end(), [&](const StreamedBlock& b) {
            return b.apiMessageId == apiMessageId && b.index == index;
        });
        StreamedBlock& block = found != streamed_.end() ? *found : open(kind);
        block.text += piece;
        out.add(AW_EVENT_MESSAGE_DELTA,
                withParent({{"message_id", block.messageId}, {"kind", kind}, {"text", piece}},
                           &parent));
    }
}

std::optional<double> Translator::previousTotal(const char* key) const {
    // Previous figures describe the session being resumed, not a new or forked one.
    if (!request_.resumes() || (!sessionId_.empty() && sessionId_ != request_.providerSessionId)) {
        return std::nullopt;
    }
    const Json* totals = member(request_.previousUsage, "session_totals");
    return numberAt(totals ? *totals : request_.previousUsage, key);
}

Json Translator::usageOf(const Json& result) const {
    const Json* reported = member(result, "usage");
    const Json& usage = reported ? *reported : Json::object();
    // result.usage is this invocation's own; cost and modelUsage are the session's.
    Json data{{"input_tokens", countAt(usage, "input_tokens")},
              {"output_tokens", countAt(usage, "output_tokens")},
              {"cache_read_tokens", countAt(usage, "cache_read_input_tokens")},
              {"cache_write_tokens", countAt(usage, "cache_creation_input_tokens")}};
    if (const Json* details = member(usage, "output_tokens_details");
        details && member(*details, "thinking_tokens")) {
        data["reasoning_tokens"] = countAt(*details, "thinking_tokens");
    }
    Json totals = Json::object();
    const std::optional<double> totalCost = numberAt(result, "total_cost_usd");
    if (totalCost) totals["cost_usd"] = *totalCost;
    if (const Json* models = member(result, "modelUsage"); models && models->is_object()) {
        int64_t input = 0, output = 0, cacheRead = 0, cacheWrite = 0;
        for (const auto& [model, figures] : models->items()) {
            input += countAt(figures, "inputTokens");
            output += countAt(figures, "outputTokens");
            cacheRead += countAt(figures, "cacheReadInputTokens");
            cacheWrite += countAt(figures, "cacheCreationInputTokens");
        }
        if (!models->empty()) {
            totals["input_tokens"] = input;
            totals["output_tokens"] = output;
            totals["cache_read_tokens"] = cacheRead;
            totals["cache_write_tokens"] = cacheWrite;
        }
    }
    std::optional<double> cost;
    const std::optional<double> previousCost = previousTotal("cost_usd");
    if (totalCost && previousCost && *totalCost >= *previousCost) {
        cost = *totalCost - *previousCost;
    } else if (const Json* since = member(result, "model_usage_since_last_result");
               since && since->is_object() && !since->empty()) {
        double sum = 0;
        for (const auto& [model, figures] : since->items()) {
            sum += numberAt(figures, "costUSD").value_or(0.0);
        }
        cost = sum;
    } else {
        cost = totalCost;
    }
    if (cost) data["cost_usd"] = *cost;
    if (!totals.empty()) data["session_totals"] = std::move(totals);
    return data;
}

void Translator::onResult(const Json& line, Output& out) {
    result_ = line;
    usage_ = usageOf(line);
    out.add(AW_EVENT_USAGE, usage_);
    // In stdio mode the CLI waits for the next user turn until its stdin closes.
    if (protocolMode(request_)) out.closeStdin = true;
}

void Translator::onControlRequest(const Json& line, Output& out) {
    const std::string requestId = stringAt(line, "request_id");
    const Json* request = member(line, "request");
    if (requestId.empty() || !request || !request->is_object()) {
        lines_.countMalformed();
        return;
    }
    const std::string subtype = stringAt(*request, "subtype");
    if (subtype != "can_use_tool") {
        // Unanswered, the CLI would wait forever.
        out.stdinBytes += protocolLine(
            {{"type", "control_response"},
             {"response",
              {{"subtype", "error"},
               {"request_id", requestId},
               {"error", "agent-worker's claude-code plugin does not handle control request '" +
                             subtype + "'"}}}});
        return;
    }
    const Json* inputMember = member(*request, "input");
    PendingHumanRequest pending{
        stringAt(*request, "tool_name"),
        inputMember && inputMember->is_object() ? *inputMember : Json::object(), false};
    pending.question = pending.tool == "AskUserQuestion";
    Json data{{"request_id", requestId},
              {"kind", pending.question ? "question" : "permission"},
              {"tool", pending.tool},
              {"tool_call_id", stringAt(*request, "tool_use_id")},
              {"input", pending.input}};
    if (pending.question) {
        const Json* questions = member(pending.input, "questions");
        data["questions"] = questions && questions->is_array() ? *questions : Json::array();
    } else {
        data["options"] = Json::array({"allow", "deny"});
        for (const char* key : {"description", "blocked_path"}) {
            if (auto value = stringAt(*request, key); !value.empty()) data[key] = value;
        }
    }
    pendingHuman_[requestId] = std::move(pending);
    out.add(AW_EVENT_HUMAN_REQUEST, std::move(data));
}

void Translator::onControlCancel(const Json& line, Output& out) {
    const std::string requestId = stringAt(line, "request_id");
    if (pendingHuman_.erase(requestId) == 0) return;
    out.add(AW_EVENT_HUMAN_RESPONSE,
            {{"request_id", requestId}, {"decision", "cancelled"}, {"by", "provider"}});
}

Output Translator::reply(std::string_view text) {
    if (!protocolMode(request_)) {
        throw Unsupported(
            "this run has approval_mode \"auto\": Claude Code runs without prompts, nothing "
            "waits for a reply");
    }
    Json reply = parseJson(text);
    if (reply.is_discarded() || !reply.is_object()) {
        throw InvalidInput("the reply is not a JSON object (of at most " +
                           std::to_string(kMaxNesting) + " levels)");
    }
    const std::string requestId = stringAt(reply, "request_id");
    auto pending = pendingHuman_.find(requestId);
    if (pending == pendingHuman_.end()) {
        throw InvalidInput("no pending human request '" + requestId + "' in this run");
    }
    const std::string decision = stringAt(reply, "decision");
    Json response;
    if (decision == "allow") {
        Json updatedInput = pending->second.input;
        if (pending->second.question) {
            const Json* answers = member(reply, "answers");
            if (!answers) throw InvalidInput("a question needs reply.answers");
            updatedInput["answers"] = answersFor(*answers, pending->second.input);
        }
        response = {{"behavior", "allow"}, {"updatedInput", std::move(updatedInput)}};
    } else if (decision == "deny") {
        std::string message = stringAt(reply, "message");
        if (message.empty()) message = "The user denied this tool call.";
        response = {{"behavior", "deny"}, {"message", message}};
    } else {
        throw InvalidInput("reply.decision must be \"allow\" or \"deny\"");
    }
    Output out;
    out.stdinBytes = protocolLine(
        {{"type", "control_response"},
         {"response",
          {{"subtype", "success"}, {"request_id", requestId}, {"response", std::move(response)}}}});
    pendingHuman_.erase(pending);
    return out;
}

Json Translator::interrupt() {
    if (!protocolMode(request_)) return {{"signal", "INT"}};
    // The CLI aborts the turn, reports a result and stays alive for the next turn.
    return {{"stdin",
             protocolLine({{"type", "control_request"},
                           {"request_id", "aw_interrupt_" + std::to_string(++interruptRequests_)},
                           {"request", {{"subtype", "interrupt"}}}})}};
}

void Translator::closeDangling(Output& out) {
    for (const StreamedBlock& block : streamed_) {
        out.add(AW_EVENT_MESSAGE_STOP, {{"message_id", block.messageId},
                                        {"kind", block.kind},
                                        {"text", block.text},
                                        {"incomplete", true}});
    }
    streamed_.clear();
    unfinishedTools_.close(out);
}

Output Translator::exit(int32_t exitCode, int32_t signal, bool stopRequested) {
    Output out;
    closeDangling(out);

    Json data = terminalData(exitCode, signal, lines_);
    if (!usage_.is_null()) data["usage"] = usage_;
    auto stopped = [&] {
        data["reason"] = "cancelled";
        out.add(AW_EVENT_RUN_STOPPED, std::move(data));
    };
    auto failed = [&](const std::string& errorClass, const std::string& message) {
        data["error"] = {{"class", errorClass}, {"message", message}};
        if (lastApiErrorStatus_ > 0) data["error"]["http_status"] = lastApiErrorStatus_;
        out.add(AW_EVENT_RUN_FAILED, std::move(data));
    };

    if (!result_.is_null()) {
        const std::string reason = stringAt(result_, "terminal_reason");
        const std::string subtype = stringAt(result_, "subtype");
        const bool aborted = reason.starts_with("aborted") ||
                             (subtype == "error_during_execution" && interruptedMarker_);
        if (aborted) {
            if (stopRequested) {
                stopped();
            } else {
                failed("interrupted", "Claude Code aborted the turn (" + reason +
                                          ") although no stop was requested");
            }
            return out;
        }
        if (boolAt(result_, "is_error") || subtype != "success") {
            lastApiErrorStatus_ = integerAt(result_, "api_error_status", lastApiErrorStatus_);
            std::string message = stringAt(result_, "result");
            if (const Json* errors = member(result_, "errors");
                message.empty() && errors && errors->is_array()) {
                for (const Json& error : *errors) {
                    if (!message.empty()) message += "; ";
                    message += error.is_string() ? error.get<std::string>() : dumpJson(error);
                }
            }
            if (message.empty()) message = "Claude Code reported " + subtype;
            const Json* apiStatus = member(result_, "api_error_status");
            const bool apiError = reason == "api_error" || (apiStatus && !apiStatus->is_null());
            failed(apiError ? "api_error" : "agent_error", message);
            return out;
        }
        data["result"] = stringAt(result_, "result");
        out.add(AW_EVENT_RUN_COMPLETED, std::move(data));
        return out;
    }
    if (stopRequested) {
        stopped();
        return out;
    }
    std::string message = signal != 0 ? "claude was killed by signal " + std::to_string(signal)
                                      : "claude exited with code " + std::to_string(exitCode);
    message += " before reporting a result";
    if (!lastApiError_.empty()) {
        message += ": " + lastApiError_;
    } else if (!lines_.lastNoise().empty()) {
        message += ": " + lines_.lastNoise();
    }
    failed(lastApiError_.empty() ? "process_error" : "api_error", message);
    return out;
}

}  // namespace aw::claude_code
