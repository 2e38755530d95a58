// `codex exec --json` -> unified events. Field paths follow the observed CLI output
// (fixtures/providers/FACTS.md, section 2); anything else is counted and skipped.
#include "codex_cli_translator.h"

#include <agent_worker/event_types.h>

#include <algorithm>
#include <cstdlib>

namespace aw::codex_cli {
namespace {

//! Tool input as the CLI describes it: the item without its identity and outcome fields.
Json toolInput(const Json& item) {
    Json input = Json::object();
    for (const auto& [key, value] : item.items()) {
        if (key != "id" && key != "type" && key != "status" && key != "aggregated_output" &&
            key != "exit_code" && key != "result" && key != "error") {
            input[key] = value;
        }
    }
    return input;
}

std::string toolName(const Json& item) {
    const std::string type = stringAt(item, "type");
    if (type == "mcp_tool_call") {
        if (auto tool = stringAt(item, "tool"); !tool.empty()) return tool;
    }
    return type.empty() ? std::string("tool") : type;
}

std::string toolOutput(const Json& item) {
    const std::string type = stringAt(item, "type");
    if (type == "command_execution") return stringAt(item, "aggregated_output");
    if (type == "file_change") {
        std::string summary;
        if (const Json* changes = member(item, "changes"); changes && changes->is_array()) {
            for (const Json& change : *changes) {
                if (!summary.empty()) summary += "\n";
                summary += stringAt(change, "kind") + " " + stringAt(change, "path");
            }
        }
        return summary;
    }
    if (const Json* error = member(item, "error"); error && !error->is_null()) {
        return error->is_object() ? stringAt(*error, "message") : dumpJson(*error);
    }
    if (const Json* result = member(item, "result"); result && !result->is_null()) {
        return result->is_string() ? result->get<std::string>() : dumpJson(*result);
    }
    return {};
}

//! The provider.notice data of a top-level `error` line that announces a retry
//! ("Reconnecting... 2/5 (<why>)", or "Reconnecting... waiting for network (...)" without a
//! count), or null for any other error line. A retry is not the run's failure: only
//! turn.failed (or the CLI's death) decides that.
Json reconnectNotice(const std::string& message) {
    static constexpr std::string_view kPrefix = "Reconnecting...";
    if (!message.starts_with(kPrefix)) return Json();
    Json data{{"kind", "api_retry"}, {"message", message}};
    const char* counts = message.c_str() + kPrefix.size();
    while (*counts == ' ') ++counts;
    char* end = nullptr;
    const long attempt = std::strtol(counts, &end, 10);
    if (end != counts && *end == '/') {
        const char* maxStart = end + 1;
        const long maxAttempts = std::strtol(maxStart, &end, 10);
        if (end != maxStart && attempt > 0 && maxAttempts > 0) {
            data["attempt"] = attempt;
            data["max_attempts"] = maxAttempts;
        }
    }
    return data;
}

bool toolFailed(const Json& item) {
    const std::string status = stringAt(item, "status");
    if (status == "failed" || status == "declined" || status == "error") return true;
    if (const Json* code = member(item, "exit_code"); code && code->is_number()) {
        return integerAt(item, "exit_code") != 0;
    }
    const Json* error = member(item, "error");
    return error && !error->is_null();
}

}  // namespace

Translator::Translator(RunRequest request) : request_(std::move(request)) {}

Output Translator::feed(std::string_view line) {
    return lines_.read(line, [this](const Json& json, Output& out) { dispatch(json, out); });
}

void Translator::dispatch(const Json& line, Output& out) {
    const std::string type = stringAt(line, "type");
    if (type == "thread.started") {
        const std::string id = stringAt(line, "thread_id");
        if (id.empty()) {
            lines_.countMalformed();
        } else if (id != threadId_) {
            threadId_ = id;
            out.add(AW_EVENT_PROVIDER_SESSION, {{"provider_session_id", id}});
        }
    } else if (type == "item.started" || type == "item.updated" || type == "item.completed") {
        const Json* item = member(line, "item");
        if (!item || !item->is_object() || stringAt(*item, "id").empty()) {
            lines_.countMalformed();
            return;
        }
        onItem(type.substr(5), *item, out);
    } else if (type == "turn.completed") {
        onTurnCompleted(line, out);
    } else if (type == "turn.failed") {
        const Json* error = member(line, "error");
        turnFailure_ = error ? stringAt(*error, "message") : std::string();
        if (turnFailure_.empty()) turnFailure_ = "the turn failed";
    } else if (type == "error") {
        lastError_ = stringAt(line, "message");
        if (Json notice = reconnectNotice(lastError_); !notice.is_null()) {
            out.add(AW_EVENT_PROVIDER_NOTICE, std::move(notice));
        }
    } else if (type != "turn.started") {
        lines_.countUnknown(type.empty() ? "(no type)" : type);
    }
}

void Translator::onItem(const std::string& phase, const Json& item, Output& out) {
    const std::string id = stringAt(item, "id");
    const std::string type = stringAt(item, "type");
    if (type == "agent_message") {
        onTextItem(phase, id, "text", stringAt(item, "text"), out);
    } else if (type == "reasoning") {
        onTextItem(phase, id, "reasoning", stringAt(item, "text"), out);
    } else if (type == "todo_list") {
        onTodoList(item, out);
    } else if (type == "error" || type == "user_message") {
        // `error` items are non-fatal warnings; the model sees them, the user need not.
    } else {
        onToolItem(phase, id, item, out);
    }
}

void Translator::onTextItem(const std::string& phase, const std::string& id,
                            const std::string& kind, const std::string& text, Output& out) {
    auto open = openTexts_.find(id);
    if (open == openTexts_.end()) {
        if (phase == "completed" && text.empty()) return;
        out.add(AW_EVENT_MESSAGE_START,
                {{"message_id", id}, {"kind", kind}, {"role", "assistant"}});
        open = openTexts_.emplace(id, OpenText{kind, ""}).first;
    }
    // Items carry their whole text so far: the delta is what is new.
    std::string piece =
        text.starts_with(open->second.text) ? text.substr(open->second.text.size()) : text;
    if (!piece.empty()) {
        out.add(AW_EVENT_MESSAGE_DELTA, {{"message_id", id}, {"kind", kind}, {"text", piece}});
        open->second.text = text;
    }
    if (phase == "completed") {
        out.add(AW_EVENT_MESSAGE_STOP, {{"message_id", id}, {"kind", kind}, {"text", text}});
        if (kind == "text") lastAgentText_ = text;
        openTexts_.erase(open);
    }
}

void Translator::onTodoList(const Json& item, Output& out) {
    const Json* items = member(item, "items");
    if (!items || !items->is_array()) {
        lines_.countMalformed();
        return;
    }
    Json list = Json::array();
    for (size_t i = 0; i < items->size(); ++i) {
        const Json& entry = (*items)[i];
        // Codex reports only done / not done: in-progress steps show as pending.
        list.push_back({{"id", std::to_string(i + 1)},
                        {"content", stringAt(entry, "text")},
                        {"status", boolAt(entry, "completed") ? "completed" : "pending"}});
    }
    // item.completed repeats the last list at the end of the turn.
    if (list == todos_) return;
    todos_ = list;
    out.add(AW_EVENT_TODO_UPDATE, {{"todos", std::move(list)}, {"source", "todo_list"}});
}

void Translator::onToolItem(const std::string& phase, const std::string& id, const Json& item,
                            Output& out) {
    if (!toolNames_.count(id)) {
        toolNames_[id] = toolName(item);
        out.add(AW_EVENT_TOOL_START,
                {{"tool_call_id", id}, {"name", toolNames_[id]}, {"input", toolInput(item)}});
        unfinishedTools_.started(id, toolNames_[id]);
    }
    if (phase != "completed") return;
    Json data{{"tool_call_id", id},
              {"name", toolNames_[id]},
              {"output", toolOutput(item)},
              {"is_error", toolFailed(item)}};
    if (const Json* code = member(item, "exit_code"); code && code->is_number()) {
        data["exit_code"] = integerAt(item, "exit_code");
    }
    if (auto status = stringAt(item, "status"); !status.empty()) data["status"] = status;
    out.add(AW_EVENT_TOOL_RESULT, std::move(data));
    unfinishedTools_.finished(id);
}

std::optional<int64_t> Translator::previousTotal(const char* key) const {
    // Previous figures describe the thread being resumed, not a new one.
    if (!request_.resumes() || (!threadId_.empty() && threadId_ != request_.providerSessionId)) {
        return std::nullopt;
    }
    const Json* totals = member(request_.previousUsage, "session_totals");
    const Json& source = totals ? *totals : request_.previousUsage;
    if (!numberAt(source, key)) return std::nullopt;
    return countAt(source, key);
}

void Translator::onTurnCompleted(const Json& line, Output& out) {
    turnCompleted_ = true;
    const Json* reported = member(line, "usage");
    const Json& usage = reported ? *reported : Json::object();
    const int64_t cached = countAt(usage, "cached_input_tokens");
    // Codex counts cached tokens inside input_tokens; the unified input_tokens excludes them.
    Json totals{{"input_tokens", std::max<int64_t>(0, countAt(usage, "input_tokens") - cached)},
                {"output_tokens", countAt(usage, "output_tokens")},
                {"cache_read_tokens", cached},
                {"cache_write_tokens", countAt(usage, "cache_write_input_tokens")},
                {"reasoning_tokens", countAt(usage, "reasoning_output_tokens")}};
    // After `exec resume` the figures include the thread's earlier turns: subtract what the
    // host recorded for the thread, unless the figures went down (then they are not cumulative).
    Json run = totals;
    bool resumedFigures = false;
    bool cumulative = true;
    for (const auto& [key, value] : totals.items()) {
        const auto previous = previousTotal(key.c_str());
        if (!previous) continue;
        resumedFigures = true;
        if (*previous > value.get<int64_t>()) cumulative = false;
    }
    if (resumedFigures && cumulative) {
        for (auto& [key, value] : run.items()) {
            value = value.get<int64_t>() - previousTotal(key.c_str()).value_or(0);
        }
    }
    run["session_totals"] = std::move(totals);
    usage_ = run;
    out.add(AW_EVENT_USAGE, std::move(run));
}

void Translator::closeDangling(Output& out) {
    for (const auto& [id, open] : openTexts_) {
        out.add(
            AW_EVENT_MESSAGE_STOP,
            {{"message_id", id}, {"kind", open.kind}, {"text", open.text}, {"incomplete", true}});
    }
    openTexts_.clear();
    unfinishedTools_.close(out);
}

Output Translator::exit(int32_t exitCode, int32_t signal, bool stopRequested) {
    Output out;
    closeDangling(out);

    Json data = terminalData(exitCode, signal, lines_);
    if (!usage_.is_null()) data["usage"] = usage_;
    if (!turnFailure_.empty()) {
        // Codex does not classify failures; preceding `error` lines come from the model API.
        data["error"] = {{"class", lastError_.empty() ? "agent_error" : "api_error"},
                         {"message", turnFailure_}};
        out.add(AW_EVENT_RUN_FAILED, std::move(data));
    } else if (turnCompleted_) {
        data["result"] = lastAgentText_;
        out.add(AW_EVENT_RUN_COMPLETED, std::move(data));
    } else if (stopRequested) {
        // SIGINT ends `codex exec` with exit code 1 and no final line.
        data["reason"] = "cancelled";
        out.add(AW_EVENT_RUN_STOPPED, std::move(data));
    } else {
        std::string message = signal != 0 ? "codex was killed by signal " + std::to_string(signal)
                                          : "codex exited with code " + std::to_string(exitCode);
        message += " before finishing the turn";
        if (!lastError_.empty()) {
            message += ": " + lastError_;
        } else if (!lines_.lastNoise().empty()) {
            message += ": " + lines_.lastNoise();
        }
        data["error"] = {{"class", lastError_.empty() ? "process_error" : "api_error"},
                         {"message", message}};
        out.add(AW_EVENT_RUN_FAILED, std::move(data));
    }
    return out;
}

}  // namespace aw::codex_cli
