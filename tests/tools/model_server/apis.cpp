#include "model_server/apis.h"

#include <atomic>
#include <chrono>

namespace aw::model_server {
namespace {

std::string newId(const char* prefix) {
    static std::atomic<unsigned> counter{0};
    const auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
    return std::string(prefix) + std::to_string(now) + "_" + std::to_string(++counter);
}

long long nowSeconds() {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

std::string dump(const Json& value) {
    return value.dump(-1, ' ', false, Json::error_handler_t::replace);
}

std::string sse(const std::string& event, const Json& data) {
    return "event: " + event + "\ndata: " + dump(data) + "\n\n";
}

std::string sseData(const Json& data) {
    return "data: " + dump(data) + "\n\n";
}

//! Pieces of about `size` characters (UTF-8 safe: never splits a multi-byte sequence).
std::vector<std::string> split(const std::string& text, std::size_t size = 16) {
    std::vector<std::string> pieces;
    std::size_t start = 0;
    while (start < text.size()) {
        std::size_t end = std::min(text.size(), start + size);
        while (end < text.size() && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) ++end;
        pieces.push_back(text.substr(start, end - start));
        start = end;
    }
    return pieces;
}

void collectCwd(Conversation& c, const std::string& text) {
    if (c.cwd.empty()) c.cwd = findWorkingDirectory(text);
}

// ---- Anthropic Messages -----------------------------------------------------------------

Conversation parseAnthropic(const Json& body) {
    Conversation c;
    c.stream = body.value("stream", false);
    c.model = body.value("model", "claude-scripted");
    if (body.contains("system")) {
        collectCwd(c, textOf(body["system"]));
        noteDeferredTools(c, textOf(body["system"]));
    }
    for (const auto& tool : body.value("tools", Json::array())) {
        if (!tool.is_object() || !tool.contains("name") || !tool["name"].is_string()) continue;
        const auto name = tool["name"].get<std::string>();
        c.offeredTools.insert(name);
        if (tool.value("defer_loading", false)) c.deferredTools.insert(name);
    }
    const auto messages = body.value("messages", Json::array());
    c.messageCount = messages.size();
    for (const auto& message : messages) {
        if (!message.is_object()) continue;
        const auto role = message.value("role", "");
        const Json content = message.contains("content") ? message["content"] : Json();
        if (role == "user") {
            bool hasToolResult = false;
            std::string prompt;
            if (content.is_string()) {
                if (!isWrapperText(content.get<std::string>())) prompt = content.get<std::string>();
                collectCwd(c, content.get<std::string>());
            }
            for (const auto& block : content.is_array() ? content : Json::array()) {
                if (!block.is_object()) continue;
                const auto type = block.value("type", "");
                if (type == "tool_result") {
                    hasToolResult = true;
                    c.toolResultsThisTurn.push_back(
                        block.contains("content") ? textOf(block["content"]) : "");
                } else if (type == "text" && block.contains("text") && block["text"].is_string()) {
                    const auto text = block["text"].get<std::string>();
                    collectCwd(c, text);
                    if (!isWrapperText(text)) prompt += (prompt.empty() ? "" : "\n") + text;
                }
            }
            if (!hasToolResult && !prompt.empty()) noteUserPrompt(c, prompt);
        } else if (role == "assistant") {
            for (const auto& block : content.is_array() ? content : Json::array()) {
                if (block.is_object() && block.value("type", "") == "tool_use") {
                    noteToolCall(c, block.value("name", ""), block.value("id", ""));
                }
            }
        } else if (role == "system") {  // Claude Code sends its environment this way
            const auto text = textOf(content);
            collectCwd(c, text);
            noteDeferredTools(c, text);
        }
    }
    return c;
}

Json anthropicUsage(const Reply& reply, bool start) {
    return {{"input_tokens", reply.usage.value("input", 0)},
            {"output_tokens", start ? 1 : reply.usage.value("output", 0)},
            {"cache_read_input_tokens", reply.usage.value("cache_read", 0)},
            {"cache_creation_input_tokens", reply.usage.value("cache_write", 0)}};
}

Rendered renderAnthropic(const Conversation& c, const Reply& reply) {
    Rendered out;
    if (reply.httpStatus != 200) {
        out.status = reply.httpStatus;
        out.pieces.push_back(
            dump({{"type", "error"},
                  {"error",
                   {{"type", reply.httpStatus >= 500 ? "api_error" : "invalid_request_error"},
                    {"message", reply.errorMessage}}}}));
        return out;
    }
    const std::string id = newId("msg_aw_");
    const std::string stopReason = reply.toolCalls.empty() ? "end_turn" : "tool_use";
    Json blocks = Json::array();
    if (!reply.reasoning.empty()) {
        blocks.push_back(
            {{"type", "thinking"}, {"thinking", reply.reasoning}, {"signature", "c2NyaXB0ZWQ="}});
    }
    if (!reply.text.empty()) blocks.push_back({{"type", "text"}, {"text", reply.text}});
    for (const auto& call : reply.toolCalls) {
        blocks.push_back({{"type", "tool_use"},
                          {"id", call.callId},
                          {"name", call.name},
                          {"input", call.input}});
    }
    if (!c.stream) {
        out.pieces.push_back(dump({{"id", id},
                                   {"type", "message"},
                                   {"role", "assistant"},
                                   {"model", c.model},
                                   {"content", blocks},
                                   {"stop_reason", stopReason},
                                   {"stop_sequence", nullptr},
                                   {"usage", anthropicUsage(reply, false)}}));
        return out;
    }
    out.contentType = "text/event-stream";
    out.pieces.push_back(sse("message_start", {{"type", "message_start"},
                                               {"message",
                                                {{"id", id},
                                                 {"type", "message"},
                                                 {"role", "assistant"},
                                                 {"model", c.model},
                                                 {"content", Json::array()},
                                                 {"stop_reason", nullptr},
                                                 {"stop_sequence", nullptr},
                                                 {"usage", anthropicUsage(reply, true)}}}}));
    int index = 0;
    for (const auto& block : blocks) {
        const auto type = block["type"].get<std::string>();
        Json start = block;
        if (type == "thinking") {
            start["thinking"] = "";
            start["signature"] = "";
        } else if (type == "text") {
            start["text"] = "";
        } else {
            start["input"] = Json::object();
        }
        out.pieces.push_back(
            sse("content_block_start",
                {{"type", "content_block_start"}, {"index", index}, {"content_block", start}}));
        auto delta = [&](const Json& d) {
            out.pieces.push_back(
                sse("content_block_delta",
                    {{"type", "content_block_delta"}, {"index", index}, {"delta", d}}));
        };
        if (type == "thinking") {
            for (const auto& piece : split(block["thinking"].get<std::string>())) {
                delta({{"type", "thinking_delta"}, {"thinking", piece}});
            }
            delta({{"type", "signature_delta"}, {"signature", block["signature"]}});
        } else if (type == "text") {
            for (const auto& piece : split(block["text"].get<std::string>())) {
                delta({{"type", "text_delta"}, {"text", piece}});
            }
        } else {
            for (const auto& piece : split(dump(block["input"]), 24)) {
                delta({{"type", "input_json_delta"}, {"partial_json", piece}});
            }
        }
        out.pieces.push_back(
            sse("content_block_stop", {{"type", "content_block_stop"}, {"index", index}}));
        ++index;
    }
    out.pieces.push_back(
        sse("message_delta", {{"type", "message_delta"},
                              {"delta", {{"stop_reason", stopReason}, {"stop_sequence", nullptr}}},
                              {"usage", anthropicUsage(reply, false)}}));
    out.pieces.push_back(sse("message_stop", {{"type", "message_stop"}}));
    return out;
}

// ---- OpenAI Responses -------------------------------------------------------------------

Conversation parseResponses(const Json& body) {
    Conversation c;
    c.stream = body.value("stream", false);
    c.model = body.value("model", "gpt-scripted");
    if (body.contains("instructions")) collectCwd(c, textOf(body["instructions"]));
    for (const auto& tool : body.value("tools", Json::array())) {
        if (!tool.is_object()) continue;
        if (tool.contains("name") && tool["name"].is_string()) {
            c.offeredTools.insert(tool["name"].get<std::string>());
        } else if (tool.contains("type") && tool["type"].is_string()) {
            c.offeredTools.insert(tool["type"].get<std::string>());  // e.g. web_search
        }
    }
    Json input = body.contains("input") ? body["input"] : Json::array();
    if (input.is_string()) {
        input = Json::array({{{"type", "message"}, {"role", "user"}, {"content", input}}});
    }
    c.messageCount = input.is_array() ? input.size() : 0;
    for (const auto& item : input.is_array() ? input : Json::array()) {
        if (!item.is_object()) continue;
        const auto type = item.value("type", "message");
        if (type == "message") {
            const auto text = item.contains("content") ? textOf(item["content"]) : "";
            collectCwd(c, text);
            if (item.value("role", "") == "user") {
                std::string prompt;
                for (const auto& part : item.contains("content") && item["content"].is_array()
                                            ? item["content"]
                                            : Json::array()) {
                    const auto partText = textOf(Json::array({part}));
                    if (!isWrapperText(partText)) prompt += (prompt.empty() ? "" : "\n") + partText;
                }
                if (item.contains("content") && item["content"].is_string() &&
                    !isWrapperText(text)) {
                    prompt = text;
                }
                if (!prompt.empty()) noteUserPrompt(c, prompt);
            }
        } else if (type == "function_call" || type == "custom_tool_call" ||
                   type == "local_shell_call") {
            noteToolCall(c, item.value("name", type), item.value("call_id", ""));
        } else if (type == "function_call_output" || type == "custom_tool_call_output" ||
                   type == "local_shell_call_output") {
            const Json output = item.contains("output") ? item["output"] : Json();
            c.toolResultsThisTurn.push_back(output.is_string() ? output.get<std::string>()
                                                               : textOf(output));
        }
    }
    return c;
}

Json responsesUsage(const Reply& reply) {
    const int input = reply.usage.value("input", 0) + reply.usage.value("cache_read", 0);
    const int output = reply.usage.value("output", 0);
    return {{"input_tokens", input},
            {"input_tokens_details", {{"cached_tokens", reply.usage.value("cache_read", 0)}}},
            {"output_tokens", output},
            {"output_tokens_details", {{"reasoning_tokens", reply.usage.value("reasoning", 0)}}},
            {"total_tokens", input + output}};
}

Rendered renderResponses(const Conversation& c, const Reply& reply) {
    Rendered out;
    if (reply.httpStatus != 200) {
        out.status = reply.httpStatus;
        out.pieces.push_back(
            dump({{"error",
                   {{"message", reply.errorMessage},
                    {"type", reply.httpStatus >= 500 ? "server_error" : "invalid_request_error"},
                    {"param", nullptr},
                    {"code", nullptr}}}}));
        return out;
    }
    const std::string responseId = newId("resp_aw_");
    Json items = Json::array();
    if (!reply.reasoning.empty()) {
        items.push_back({{"type", "reasoning"},
                         {"id", newId("rs_aw_")},
                         {"summary", {{{"type", "summary_text"}, {"text", reply.reasoning}}}}});
    }
    if (!reply.text.empty()) {
        items.push_back(
            {{"type", "message"},
             {"id", newId("msg_aw_")},
             {"role", "assistant"},
             {"status", "completed"},
             {"content",
              {{{"type", "output_text"}, {"text", reply.text}, {"annotations", Json::array()}}}}});
    }
    for (const auto& call : reply.toolCalls) {
        if (call.freeform) {
            items.push_back({{"type", "custom_tool_call"},
                             {"id", newId("ctc_aw_")},
                             {"call_id", call.callId},
                             {"name", call.name},
                             {"input", call.text},
                             {"status", "completed"}});
        } else {
            items.push_back({{"type", "function_call"},
                             {"id", newId("fc_aw_")},
                             {"call_id", call.callId},
                             {"name", call.name},
                             {"arguments", dump(call.input)},
                             {"status", "completed"}});
        }
    }
    Json response = {{"id", responseId},
                     {"object", "response"},
                     {"created_at", nowSeconds()},
                     {"model", c.model},
                     {"status", "completed"},
                     {"output", items},
                     {"usage", responsesUsage(reply)}};
    if (!c.stream) {
        out.pieces.push_back(dump(response));
        return out;
    }
    out.contentType = "text/event-stream";
    int sequence = 0;
    auto event = [&](const std::string& type, Json data) {
        data["type"] = type;
        data["sequence_number"] = sequence++;
        out.pieces.push_back(sse(type, data));
    };
    Json created = response;
    created["status"] = "in_progress";
    created["output"] = Json::array();
    created.erase("usage");
    event("response.created", {{"response", created}});
    event("response.in_progress", {{"response", created}});
    int index = 0;
    for (const auto& item : items) {
        const auto type = item["type"].get<std::string>();
        const auto itemId = item["id"].get<std::string>();
        Json added = item;
        if (type == "message") added["content"] = Json::array();
        if (type == "reasoning") added["summary"] = Json::array();
        if (type == "function_call") added["arguments"] = "";
        if (type == "custom_tool_call") added["input"] = "";
        added["status"] = "in_progress";
        if (type == "reasoning") added.erase("status");
        event("response.output_item.added", {{"output_index", index}, {"item", added}});
        if (type == "message") {
            const auto text = item["content"][0]["text"].get<std::string>();
            event("response.content_part.added",
                  {{"item_id", itemId},
                   {"output_index", index},
                   {"content_index", 0},
                   {"part",
                    {{"type", "output_text"}, {"text", ""}, {"annotations", Json::array()}}}});
            for (const auto& piece : split(text)) {
                event("response.output_text.delta", {{"item_id", itemId},
                                                     {"output_index", index},
                                                     {"content_index", 0},
                                                     {"delta", piece}});
            }
            event("response.output_text.done", {{"item_id", itemId},
                                                {"output_index", index},
                                                {"content_index", 0},
                                                {"text", text}});
            event("response.content_part.done", {{"item_id", itemId},
                                                 {"output_index", index},
                                                 {"content_index", 0},
                                                 {"part", item["content"][0]}});
        } else if (type == "reasoning") {
            const auto text = item["summary"][0]["text"].get<std::string>();
            event("response.reasoning_summary_part.added",
                  {{"item_id", itemId},
                   {"output_index", index},
                   {"summary_index", 0},
                   {"part", {{"type", "summary_text"}, {"text", ""}}}});
            for (const auto& piece : split(text)) {
                event("response.reasoning_summary_text.delta", {{"item_id", itemId},
                                                                {"output_index", index},
                                                                {"summary_index", 0},
                                                                {"delta", piece}});
            }
            event("response.reasoning_summary_text.done", {{"item_id", itemId},
                                                           {"output_index", index},
                                                           {"summary_index", 0},
                                                           {"text", text}});
        } else if (type == "function_call") {
            event("response.function_call_arguments.delta",
                  {{"item_id", itemId}, {"output_index", index}, {"delta", item["arguments"]}});
            event("response.function_call_arguments.done",
                  {{"item_id", itemId}, {"output_index", index}, {"arguments", item["arguments"]}});
        } else if (type == "custom_tool_call") {
            event("response.custom_tool_call_input.delta",
                  {{"item_id", itemId}, {"output_index", index}, {"delta", item["input"]}});
            event("response.custom_tool_call_input.done",
                  {{"item_id", itemId}, {"output_index", index}, {"input", item["input"]}});
        }
        event("response.output_item.done", {{"output_index", index}, {"item", item}});
        ++index;
    }
    event("response.completed", {{"response", response}});
    return out;
}

// ---- OpenAI Chat Completions ------------------------------------------------------------

Conversation parseChat(const Json& body) {
    Conversation c;
    c.stream = body.value("stream", false);
    c.model = body.value("model", "chat-scripted");
    for (const auto& tool : body.value("tools", Json::array())) {
        if (tool.is_object() && tool.contains("function") && tool["function"].is_object() &&
            tool["function"].contains("name") && tool["function"]["name"].is_string()) {
            c.offeredTools.insert(tool["function"]["name"].get<std::string>());
        }
    }
    const auto messages = body.value("messages", Json::array());
    c.messageCount = messages.size();
    for (const auto& message : messages) {
        if (!message.is_object()) continue;
        const auto role = message.value("role", "");
        const Json content = message.contains("content") ? message["content"] : Json();
        const auto text = textOf(content);
        if (role == "system") {
            collectCwd(c, text);
        } else if (role == "user") {
            collectCwd(c, text);
            std::string prompt;
            if (content.is_string()) {
                if (!isWrapperText(text)) prompt = text;
            } else {
                for (const auto& part : content.is_array() ? content : Json::array()) {
                    const auto partText = textOf(Json::array({part}));
                    if (!isWrapperText(partText)) prompt += (prompt.empty() ? "" : "\n") + partText;
                }
            }
            if (!prompt.empty()) noteUserPrompt(c, prompt);
        } else if (role == "assistant") {
            for (const auto& call : message.value("tool_calls", Json::array())) {
                if (call.is_object() && call.contains("function") && call["function"].is_object()) {
                    noteToolCall(c, call["function"].value("name", ""), call.value("id", ""));
                }
            }
        } else if (role == "tool") {
            c.toolResultsThisTurn.push_back(text);
        }
    }
    return c;
}

Json chatUsage(const Reply& reply) {
    const int prompt = reply.usage.value("input", 0) + reply.usage.value("cache_read", 0);
    const int completion = reply.usage.value("output", 0);
    return {
        {"prompt_tokens", prompt},
        {"completion_tokens", completion},
        {"total_tokens", prompt + completion},
        {"prompt_tokens_details", {{"cached_tokens", reply.usage.value("cache_read", 0)}}},
        {"completion_tokens_details", {{"reasoning_tokens", reply.usage.value("reasoning", 0)}}}};
}

Rendered renderChat(const Conversation& c, const Reply& reply) {
    Rendered out;
    if (reply.httpStatus != 200) {
        out.status = reply.httpStatus;
        out.pieces.push_back(
            dump({{"error",
                   {{"message", reply.errorMessage},
                    {"type", reply.httpStatus >= 500 ? "server_error" : "invalid_request_error"},
                    {"param", nullptr},
                    {"code", nullptr}}}}));
        return out;
    }
    const std::string id = newId("chatcmpl_aw_");
    const auto created = nowSeconds();
    const std::string finish = reply.toolCalls.empty() ? "stop" : "tool_calls";
    Json toolCalls = Json::array();
    for (const auto& call : reply.toolCalls) {
        toolCalls.push_back({{"id", call.callId},
                             {"type", "function"},
                             {"function", {{"name", call.name}, {"arguments", dump(call.input)}}}});
    }
    if (!c.stream) {
        Json message = {{"role", "assistant"}, {"content", reply.text}};
        if (!reply.reasoning.empty()) message["reasoning_content"] = reply.reasoning;
        if (!toolCalls.empty()) message["tool_calls"] = toolCalls;
        out.pieces.push_back(
            dump({{"id", id},
                  {"object", "chat.completion"},
                  {"created", created},
                  {"model", c.model},
                  {"choices", {{{"index", 0}, {"message", message}, {"finish_reason", finish}}}},
                  {"usage", chatUsage(reply)}}));
        return out;
    }
    out.contentType = "text/event-stream";
    auto chunk = [&](const Json& delta, const Json& finishReason) {
        out.pieces.push_back(sseData(
            {{"id", id},
             {"object", "chat.completion.chunk"},
             {"created", created},
             {"model", c.model},
             {"choices", {{{"index", 0}, {"delta", delta}, {"finish_reason", finishReason}}}}}));
    };
    chunk({{"role", "assistant"}, {"content", ""}}, nullptr);
    for (const auto& piece : split(reply.reasoning)) chunk({{"reasoning_content", piece}}, nullptr);
    for (const auto& piece : split(reply.text)) chunk({{"content", piece}}, nullptr);
    int index = 0;
    for (const auto& call : toolCalls) {
        chunk({{"tool_calls",
                {{{"index", index},
                  {"id", call["id"]},
                  {"type", "function"},
                  {"function", {{"name", call["function"]["name"]}, {"arguments", ""}}}}}}},
              nullptr);
        for (const auto& piece : split(call["function"]["arguments"].get<std::string>(), 24)) {
            chunk({{"tool_calls", {{{"index", index}, {"function", {{"arguments", piece}}}}}}},
                  nullptr);
        }
        ++index;
    }
    chunk(Json::object(), finish);
    out.pieces.push_back(sseData({{"id", id},
                                  {"object", "chat.completion.chunk"},
                                  {"created", created},
                                  {"model", c.model},
                                  {"choices", Json::array()},
                                  {"usage", chatUsage(reply)}}));
    out.pieces.push_back("data: [DONE]\n\n");
    return out;
}

}  // namespace

Conversation parseRequest(Api api, const Json& body) {
    switch (api) {
        case Api::Anthropic:
            return parseAnthropic(body);
        case Api::Responses:
            return parseResponses(body);
        case Api::Chat:
            return parseChat(body);
    }
    return {};
}

Rendered renderReply(Api api, const Conversation& conversation, const Reply& reply) {
    Rendered out;
    switch (api) {
        case Api::Anthropic:
            out = renderAnthropic(conversation, reply);
            break;
        case Api::Responses:
            out = renderResponses(conversation, reply);
            break;
        case Api::Chat:
            out = renderChat(conversation, reply);
            break;
    }
    if (reply.retryAfterMs >= 0) {
        out.headers.emplace_back("retry-after-ms", std::to_string(reply.retryAfterMs));
    }
    return out;
}

}  // namespace aw::model_server
