// Turns Claude Code's stream-json stdout (print mode and stdio protocol mode) into the unified
// events of docs/events.md, and answers the protocol's control requests.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "claude_code_request.h"

namespace aw::claude_code {

//! One Claude Code run: the Run class of the plugin kit (provider_plugin.hpp).
class Translator {
public:
    explicit Translator(RunRequest request);

    Json invocation() const { return buildInvocation(request_); }
    //! One stdout line (no newline). Never throws for any line content.
    Output feed(std::string_view line);
    //! The final events, exactly one of them terminal.
    Output exit(int32_t exitCode, int32_t signal, bool stopRequested);
    //! A human's answer to a human.request: the control_response for stdin.
    Output reply(std::string_view reply);
    //! {"stdin": interrupt control request} in protocol mode, {"signal":"INT"} otherwise.
    Json interrupt();

private:
    struct ToolCall {
        std::string name;
        Json input;
    };
    // A text or thinking block announced by --include-partial-messages stream events.
    struct StreamedBlock {
        std::string apiMessageId;
        int64_t index = 0;
        std::string messageId;
        std::string kind;
        std::string text;
    };
    struct PendingHumanRequest {
        std::string tool;
        Json input;
        bool question = false;
    };
    struct Task {
        std::string id;
        std::string content;
        std::string status;
    };

    void dispatch(const Json& line, Output& out);
    void noteSession(const Json& line, Output& out);
    void onSystem(const Json& line, Output& out);
    void onAssistant(const Json& line, Output& out);
    void onUser(const Json& line, Output& out);
    void onStreamEvent(const Json& line, Output& out);
    void onResult(const Json& line, Output& out);
    void onControlRequest(const Json& line, Output& out);
    void onControlCancel(const Json& line, Output& out);

    void emitBlockText(const std::string& apiMessageId, const std::string& kind,
                       const std::string& text, const Json& parent, Output& out);
    void onToolUse(const Json& block, const Json& parent, Output& out);
    void onToolResult(const Json& block, const Json& line, const Json& parent, Output& out);
    void updateTodos(const std::string& tool, const Json& input, const Json& toolUseResult,
                     Output& out);
    Json usageOf(const Json& result) const;
    void closeDangling(Output& out);
    std::string newMessageId(const std::string& apiMessageId);
    std::optional<double> previousTotal(const char* key) const;

    RunRequest request_;
    JsonLines lines_;
    std::string sessionId_;
    std::map<std::string, ToolCall> tools_;
    UnfinishedTools unfinishedTools_;
    std::vector<StreamedBlock> streamed_;
    std::string streamApiMessageId_;  // of the last message_start stream event
    std::map<std::string, int> blocksPerApiMessage_;
    std::map<std::string, PendingHumanRequest> pendingHuman_;
    std::vector<Task> tasks_;
    Json result_;  // the last `result` line, null until one arrives
    Json usage_;   // this run's usage from that line
    std::string lastApiError_;
    int64_t lastApiErrorStatus_ = 0;
    bool interruptedMarker_ = false;
    int interruptRequests_ = 0;
};

}  // namespace aw::claude_code
