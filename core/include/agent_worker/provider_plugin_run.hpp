// provider_plugin_run.hpp: what a plugin's Run class is written with, part of the C++ plugin
// kit of the Agent Worker provider SDK (provider_plugin.hpp includes it; start there).
//
//   - InvalidInput and Unsupported, the failures a Run throws;
//   - tolerant JSON access for CLI lines that may hold anything (stringAt, countAt, ...);
//   - the documents a run exchanges with the host: RunRequest (the input of open_run) and
//     Output (what feed, exit and reply return);
//   - JsonLines, which reads a JSON-lines stdout and counts what it skips; UnfinishedTools
//     and terminalData for the events that end a run.
//
// Nothing here touches the C ABI (provider_abi.h gives it constants only), so a plugin's
// translation can be unit-tested with this header, event_types.h and provider_abi.h alone.
// Inline, header-only C++17, hidden on GCC and Clang; needs nlohmann/json.hpp (3.11).
#ifndef AGENT_WORKER_PROVIDER_PLUGIN_RUN_HPP
#define AGENT_WORKER_PROVIDER_PLUGIN_RUN_HPP

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "event_types.h"
#include "provider_abi.h"

#if defined(__GNUC__)
#pragma GCC visibility push(hidden)
#endif

namespace aw::plugin {

using Json = nlohmann::json;

// ---------------------------------------------------------------------------------------------
// Failures: throw these from a Run; the table maps them to a status and a message.

//! Input the plugin refuses: mapped to AW_ERR_INVALID_INPUT at the ABI.
struct InvalidInput : std::runtime_error {
    using std::runtime_error::runtime_error;
};

//! An operation this provider does not offer: mapped to AW_ERR_UNSUPPORTED at the ABI.
struct Unsupported : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// ---------------------------------------------------------------------------------------------
// Tolerant JSON access: a CLI line may hold anything, so no helper throws on a wrong type.

//! Copying, comparing and serialising a JSON value recurse once per nesting level, so a line
//! nested deeper than any CLI writes is refused before it is parsed.
inline constexpr int kMaxNesting = 256;

//! Whether `text` opens more than kMaxNesting arrays or objects at once (strings skipped).
inline bool nestedTooDeep(std::string_view text) {
    int depth = 0;
    bool inString = false;
    bool escaped = false;
    for (const char c : text) {
        if (inString) {
            if (escaped) {
                escaped = false;
            } else if (c == '\\') {
                escaped = true;
            } else if (c == '"') {
                inString = false;
            }
        } else if (c == '"') {
            inString = true;
        } else if (c == '[' || c == '{') {
            if (++depth > kMaxNesting) return true;
        } else if (c == ']' || c == '}') {
            --depth;
        }
    }
    return false;
}

//! Parses without throwing: a discarded value for invalid or too deeply nested JSON.
inline Json parseJson(std::string_view text) {
    if (nestedTooDeep(text)) return Json(Json::value_t::discarded);
    return Json::parse(text.begin(), text.end(), nullptr, false);
}

//! The member `key` of `object`, or nullptr when `object` is not an object or lacks it.
inline const Json* member(const Json& object, const char* key) {
    if (!object.is_object()) return nullptr;
    auto it = object.find(key);
    return it == object.end() ? nullptr : &*it;
}

//! The string member `key`, or "" when it is missing or not a string.
inline std::string stringAt(const Json& object, const char* key) {
    const Json* value = member(object, key);
    return value && value->is_string() ? value->get<std::string>() : std::string();
}

//! The number member `key`, or nullopt when it is missing or not a number.
inline std::optional<double> numberAt(const Json& object, const char* key) {
    const Json* value = member(object, key);
    if (!value || !value->is_number()) return std::nullopt;
    return value->get<double>();
}

//! The number member `key` as an integer (clamped to int64), or `fallback` when it is missing
//! or not a number.
inline int64_t integerAt(const Json& object, const char* key, int64_t fallback = 0) {
    const Json* value = member(object, key);
    if (!value || !value->is_number()) return fallback;
    if (value->is_number_float()) {
        // Casting a double outside int64's range is undefined: clamp first.
        const double number = value->get<double>();
        if (!(number > -9.0e18)) return number < 0 ? INT64_MIN : fallback;
        return number < 9.0e18 ? static_cast<int64_t>(number) : INT64_MAX;
    }
    if (value->is_number_unsigned()) {
        const auto unsignedValue = value->get<uint64_t>();
        return unsignedValue > static_cast<uint64_t>(INT64_MAX)
                   ? INT64_MAX
                   : static_cast<int64_t>(unsignedValue);
    }
    return value->get<int64_t>();
}

//! A token count: never negative and far below int64's range, so sums and differences of
//! counts from hostile lines cannot overflow.
inline int64_t countAt(const Json& object, const char* key) {
    constexpr int64_t kMaxCount = 1'000'000'000'000;
    const int64_t count = integerAt(object, key);
    return count < 0 ? 0 : (count > kMaxCount ? kMaxCount : count);
}

//! The boolean member `key`, or `fallback` when it is missing or not a boolean.
inline bool boolAt(const Json& object, const char* key, bool fallback = false) {
    const Json* value = member(object, key);
    return value && value->is_boolean() ? value->get<bool>() : fallback;
}

//! Serialises without throwing on invalid UTF-8 (replaced by U+FFFD).
inline std::string dumpJson(const Json& value) {
    return value.dump(-1, ' ', false, Json::error_handler_t::replace);
}

// ---------------------------------------------------------------------------------------------
// The documents a run exchanges with the host (docs/plugin-sdk.md, "The JSON documents").

//! What one feed/exit/reply call hands back: events, bytes for the CLI's stdin, and whether
//! the host should close that stdin afterwards.
struct Output {
    Json events = Json::array();
    std::string stdinBytes;
    bool closeStdin = false;

    //! Appends the event {"type": type, "data": data}; `type` is one of the AW_EVENT_* names.
    void add(const char* type, Json data) {
        events.push_back(Json{{"type", type}, {"data", std::move(data)}});
    }
    //! {"events": [...], "stdin"?: ..., "close_stdin"?: true}
    Json document() const {
        Json doc{{"events", events}};
        if (!stdinBytes.empty()) doc["stdin"] = stdinBytes;
        if (closeStdin) doc["close_stdin"] = true;
        return doc;
    }
};

//! The host's run request (the input of open_run), checked field by field.
struct RunRequest {
    std::string prompt;
    std::string workspace;
    std::string model;                   // empty: the CLI's default
    std::string approvalMode;            // "auto" | "ask" ("auto" when the request has none)
    std::string providerSessionId;       // empty: a new CLI session
    Json previousUsage;                  // null when the host has none
    std::string binary;                  // settings.binary, empty for the CLI's default binary
    std::vector<std::string> extraArgs;  // settings.args
    std::vector<std::pair<std::string, std::string>> extraEnv;  // settings.env, in order

    //! Whether a human answers the CLI's questions (approval_mode "ask").
    bool asksHuman() const { return approvalMode == "ask"; }
    //! Whether the run continues the CLI session providerSessionId.
    bool resumes() const { return !providerSessionId.empty(); }
    //! Whether the prompt can be one argument of the CLI's command line; a longer one must
    //! go on its stdin (and the plugin declare AW_CAP_LONG_PROMPT).
    bool promptFitsArgument() const { return prompt.size() <= AW_MAX_ARGUMENT_BYTES; }

    //! Throws InvalidInput with a message naming the offending field. With `askRefusal`,
    //! approval_mode "ask" throws Unsupported(askRefusal), checked right after the mode itself
    //! (open_run passes Provider::kAskRefusal for providers without AW_CAP_HUMAN_LOOP).
    static RunRequest parse(std::string_view text, const char* askRefusal = nullptr);
};

namespace detail {

inline std::string requiredString(const Json& object, const char* key) {
    const Json* value = member(object, key);
    if (!value || !value->is_string() || value->get<std::string>().empty()) {
        throw InvalidInput(std::string("request.") + key + " must be a non-empty string");
    }
    return value->get<std::string>();
}

inline std::string optionalString(const Json& object, const char* key) {
    const Json* value = member(object, key);
    if (!value || value->is_null()) return {};
    if (!value->is_string())
        throw InvalidInput(std::string("request.") + key + " must be a string");
    return value->get<std::string>();
}

inline void readSettings(const Json& settings, RunRequest& request) {
    if (settings.is_null()) return;
    if (!settings.is_object()) throw InvalidInput("request.settings must be an object");
    request.binary = optionalString(settings, "binary");
    if (const Json* args = member(settings, "args"); args && !args->is_null()) {
        if (!args->is_array())
            throw InvalidInput("request.settings.args must be a list of strings");
        for (const Json& arg : *args) {
            if (!arg.is_string())
                throw InvalidInput("request.settings.args must hold strings only");
            request.extraArgs.push_back(arg.get<std::string>());
        }
    }
    if (const Json* env = member(settings, "env"); env && !env->is_null()) {
        if (!env->is_object()) throw InvalidInput("request.settings.env must be an object");
        for (const auto& [name, value] : env->items()) {
            if (!value.is_string()) {
                throw InvalidInput("request.settings.env." + name + " must be a string");
            }
            request.extraEnv.emplace_back(name, value.get<std::string>());
        }
    }
}

}  // namespace detail

inline RunRequest RunRequest::parse(std::string_view text, const char* askRefusal) {
    Json json = parseJson(text);
    if (json.is_discarded() || !json.is_object()) {
        throw InvalidInput("the run request is not a JSON object (of at most " +
                           std::to_string(kMaxNesting) + " levels)");
    }
    RunRequest request;
    request.prompt = detail::requiredString(json, "prompt");
    request.workspace = detail::requiredString(json, "workspace");
    request.model = detail::optionalString(json, "model");
    request.approvalMode = detail::optionalString(json, "approval_mode");
    if (request.approvalMode.empty()) request.approvalMode = "auto";
    if (askRefusal && request.asksHuman()) throw Unsupported(askRefusal);
    if (request.approvalMode != "auto" && !request.asksHuman()) {
        throw InvalidInput("request.approval_mode must be \"auto\" or \"ask\", not \"" +
                           request.approvalMode + "\"");
    }
    request.providerSessionId = detail::optionalString(json, "provider_session_id");
    if (const Json* previous = member(json, "previous_usage")) request.previousUsage = *previous;
    if (const Json* settings = member(json, "settings")) detail::readSettings(*settings, request);
    return request;
}

// ---------------------------------------------------------------------------------------------
// Reading a JSON-lines stdout (docs/events.md: unusable lines never fail a run).

//! Turns each stdout line of a JSON-lines CLI into a JSON object for the plugin's dispatch,
//! and counts the lines it cannot use for the terminal event's "ignored_lines".
class JsonLines {
public:
    //! Strips the line end and skips blank lines; counts lines nested too deep (malformed)
    //! and lines that are not JSON (keeping the last as a hint); counts JSON that is not an
    //! object as unknown; calls `dispatch(const Json& object, Output& out)` for the rest. When
    //! dispatch throws a Json::exception (a known type of an unexpected shape), the line is
    //! counted as malformed and gives no events.
    template <class Dispatch>
    Output read(std::string_view line, Dispatch&& dispatch) {
        Output out;
        while (!line.empty() && (line.back() == '\r' || line.back() == '\n')) {
            line.remove_suffix(1);
        }
        if (line.find_first_not_of(" \t") == std::string_view::npos) return out;
        if (nestedTooDeep(line)) {
            ++malformed_;
            return out;
        }
        Json json = Json::parse(line.begin(), line.end(), nullptr, false);
        if (json.is_discarded()) {
            ++nonJson_;
            lastNoise_ = std::string(line.substr(0, kNoiseHintBytes));
            return out;
        }
        if (!json.is_object()) {
            countUnknown("(not an object)");
            return out;
        }
        try {
            dispatch(static_cast<const Json&>(json), out);
        } catch (const Json::exception&) {
            // A known type with an unexpected shape: skip the line, keep the run.
            ++malformed_;
            return Output{};
        }
        return out;
    }

    //! A JSON object of a type the plugin does not know (the first few types are named).
    void countUnknown(const std::string& type) {
        ++unknown_;
        if (unknownTypes_.size() < kUnknownTypesKept &&
            std::find(unknownTypes_.begin(), unknownTypes_.end(), type) == unknownTypes_.end()) {
            unknownTypes_.push_back(type);
        }
    }
    //! A line of a known type with an unexpected shape.
    void countMalformed() { ++malformed_; }

    //! {"non_json", "unknown", "malformed", "unknown_types"} for the terminal event.
    Json ignoredLines() const {
        return {{"non_json", nonJson_},
                {"unknown", unknown_},
                {"malformed", malformed_},
                {"unknown_types", unknownTypes_}};
    }
    //! The start of the last line that was not JSON ("" if none): a hint for failures.
    const std::string& lastNoise() const { return lastNoise_; }

    static constexpr size_t kNoiseHintBytes = 300;
    static constexpr size_t kUnknownTypesKept = 8;

private:
    int64_t nonJson_ = 0;
    int64_t unknown_ = 0;
    int64_t malformed_ = 0;
    std::vector<std::string> unknownTypes_;
    std::string lastNoise_;
};

//! The data every terminal event carries: exit_code (null after a signal), signal (null
//! after an exit) and ignored_lines (docs/events.md).
inline Json terminalData(int32_t exitCode, int32_t signal, const JsonLines& lines) {
    return {{"exit_code", exitCode >= 0 ? Json(exitCode) : Json()},
            {"signal", signal != 0 ? Json(signal) : Json()},
            {"ignored_lines", lines.ignoredLines()}};
}

//! The tools a run started and has no result for yet, in order: exit_run closes each with an
//! unfinished tool.result (docs/events.md: every tool.start gets a tool.result).
class UnfinishedTools {
public:
    void started(const std::string& toolCallId, const std::string& name) {
        open_.emplace_back(toolCallId, name);
    }
    void finished(const std::string& toolCallId) {
        open_.erase(std::remove_if(open_.begin(), open_.end(),
                                   [&](const auto& tool) { return tool.first == toolCallId; }),
                    open_.end());
    }
    //! Adds {"tool_call_id","name","output":"","is_error":true,"unfinished":true} for each.
    void close(Output& out) {
        for (const auto& [toolCallId, name] : open_) {
            out.add(AW_EVENT_TOOL_RESULT, {{"tool_call_id", toolCallId},
                                           {"name", name},
                                           {"output", ""},
                                           {"is_error", true},
                                           {"unfinished", true}});
        }
        open_.clear();
    }

private:
    std::vector<std::pair<std::string, std::string>> open_;  // tool call id, name
};

}  // namespace aw::plugin

#if defined(__GNUC__)
#pragma GCC visibility pop
#endif

#endif  // AGENT_WORKER_PROVIDER_PLUGIN_RUN_HPP
