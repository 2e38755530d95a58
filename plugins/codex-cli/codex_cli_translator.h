// Turns the JSONL stream of `codex exec --json` (thread/turn/item events) into the unified
// events of docs/events.md.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "codex_cli_request.h"

namespace aw::codex_cli {

//! One run of `codex exec`: the Run class of the plugin kit (provider_plugin.hpp). It has no
//! reply() (no human loop) and no interrupt(): the kit's default, SIGINT, stops the CLI.
class Translator {
public:
    explicit Translator(RunRequest request);

    Json invocation() const { return buildInvocation(request_); }
    //! One stdout line (no newline). Never throws for any line content.
    Output feed(std::string_view line);
    //! The final events, exactly one of them terminal.
    Output exit(int32_t exitCode, int32_t signal, bool stopRequested);

private:
    // An agent_message or reasoning item: text reported so far and its unified kind.
    struct OpenText {
        std::string kind;
        std::string text;
    };

    void dispatch(const Json& line, Output& out);
    void onItem(const std::string& phase, const Json& item, Output& out);
    void onTextItem(const std::string& phase, const std::string& id, const std::string& kind,
                    const std::string& text, Output& out);
    void onTodoList(const Json& item, Output& out);
    void onToolItem(const std::string& phase, const std::string& id, const Json& item, Output& out);
    void onTurnCompleted(const Json& line, Output& out);
    std::optional<int64_t> previousTotal(const char* key) const;
    void closeDangling(Output& out);

    RunRequest request_;
    JsonLines lines_;
    std::string threadId_;
    std::map<std::string, OpenText> openTexts_;
    std::map<std::string, std::string> toolNames_;  // call id -> name, for started tools
    UnfinishedTools unfinishedTools_;
    Json todos_ = Json::array();
    std::string lastAgentText_;
    Json usage_;  // this run's usage, null until turn.completed
    bool turnCompleted_ = false;
    std::string turnFailure_;  // turn.failed error.message
    std::string lastError_;    // the last top-level `error` line (reconnect notices, API errors)
};

}  // namespace aw::codex_cli
