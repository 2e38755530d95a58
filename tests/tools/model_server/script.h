// The scripted model of aw-model-server: what "the model" answers, chosen by keywords in the
// last user prompt and by what already happened in the conversation (the tools it called
// since that prompt). API-neutral: api_*.cpp turn a request into a Conversation and a Reply
// into the wire format of the Anthropic Messages, OpenAI Responses or Chat Completions API.
#pragma once

#include <nlohmann/json.hpp>

#include <set>
#include <string>
#include <vector>

namespace aw::model_server {

using Json = nlohmann::json;

enum class Api { Anthropic, Responses, Chat };
const char* apiName(Api api);

//! What the scripted model needs to know about a request.
struct Conversation {
    //! Real user turns (not tool results, not <system-reminder>-like wrappers), in order.
    std::vector<std::string> userPrompts;
    //! Names of the tools the model called since the last user prompt, in order.
    std::vector<std::string> toolsCalledThisTurn;
    //! Scripted steps already taken since the last user prompt: the step is encoded in the
    //! call ids this server hands out ("..._s<step>"), which the CLIs send back.
    int stepsThisTurn = 0;
    //! Texts of the tool results since the last user prompt, in order.
    std::vector<std::string> toolResultsThisTurn;
    std::set<std::string> offeredTools;
    std::set<std::string> deferredTools;  //!< Anthropic tool search: defer_loading tools
    std::string cwd;                      //!< from the system prompt, when it names one
    std::size_t messageCount = 0;         //!< messages / input items in the request
    bool stream = false;
    std::string model;

    const std::string& lastPrompt() const;
    bool offers(const std::string& tool) const { return offeredTools.count(tool) > 0; }
    bool called(const std::string& tool) const;
};

struct ToolCall {
    std::string callId;
    std::string name;
    Json input = Json::object();
    bool freeform = false;  //!< Responses custom tool (apply_patch): `text` is the input
    std::string text;
};

struct Reply {
    int httpStatus = 200;  //!< not 200: an error reply with `errorMessage`
    std::string errorMessage;
    int retryAfterMs = -1;  //!< >= 0: a retry-after-ms header on the error reply
    std::string reasoning;  //!< empty: no reasoning block
    std::string text;       //!< empty: no text block
    std::vector<ToolCall> toolCalls;
    std::string scenario;  //!< for the log
    Json usage;            //!< {input, output, cache_read, cache_write, reasoning}
};

//! Keywords (in the last user prompt) and what they do:
//!   FAIL500 / FAIL400      the request fails with that HTTP status; with RETRYAFTER the 500
//!                          carries `retry-after-ms: 100` (clients that honour it retry fast)
//!   TOOLS_AND_TODOS        text + shell command + todo list, then text + file write + todo
//!                          list all completed, then a final text
//!   ASKUSER                the ask-the-user tool (Claude Code AskUserQuestion), then a text
//!                          quoting the answer
//!   SLOWTOOL               a shell command that touches slow.started and sleeps 30 s
//!   RECALL                 a text naming the earlier prompts of the conversation
//!   LONGPROMPT             "Received a prompt of <N> bytes.", N without the whitespace
//!                          around the prompt (what a long prompt on stdin arrives as)
//!   anything else          a short text
//! Requests without tools (titles, summaries) always get a short text.
Reply scriptedReply(const Conversation& conversation, Api api);

//! Records a tool call the model made this turn (its name and, from its id, the step).
void noteToolCall(Conversation& conversation, const std::string& name, const std::string& callId);
//! Starts a new turn: a real user prompt.
void noteUserPrompt(Conversation& conversation, const std::string& prompt);
//! Notes the tools a system text says are deferred behind ToolSearch (Claude Code).
void noteDeferredTools(Conversation& conversation, const std::string& systemText);

//! The text a part list or string holds: strings as is, objects' "text" members joined.
std::string textOf(const Json& content);
//! True for text the CLIs wrap around the user's words (<system-reminder>,
//! <environment_context>...).
bool isWrapperText(const std::string& text);
//! Looks for the working directory named in system text (several CLI phrasings).
std::string findWorkingDirectory(const std::string& text);

}  // namespace aw::model_server
