// The event type table and the check of plugin output against it. The table follows
// docs/events.md and what the shipped plugins emit; keep the three in step.
#include "agent_worker/core/plugin_output_check.h"

#include <stdexcept>

namespace aw {
namespace {

using Json = nlohmann::json;

FieldRule required(std::string_view path, FieldKind kind,
                   std::vector<std::string_view> oneOf = {}) {
    return {path, kind, true, std::move(oneOf)};
}
FieldRule optional(std::string_view path, FieldKind kind) {
    return {path, kind, false, {}};
}

// Fields every terminal event has: the CLI's end as exit_run was told it.
std::vector<FieldRule> terminalFields(std::vector<FieldRule> own) {
    std::vector<FieldRule> fields{required("exit_code", FieldKind::IntegerOrNull),
                                  required("signal", FieldKind::IntegerOrNull),
                                  optional("usage", FieldKind::Object),
                                  optional("ignored_lines", FieldKind::Object)};
    fields.insert(fields.end(), own.begin(), own.end());
    return fields;
}

std::vector<EventRule> buildRules() {
    using K = FieldKind;
    const std::vector<std::string_view> kMessageKinds{"text", "reasoning"};
    const FieldRule kParent = optional("parent_tool_call_id", K::String);
    // One row per type reads best as a table.
    // clang-format off
    return {
        {EventType::RunQueued, EventEmitter::Host, {}},
        {EventType::RunStarted, EventEmitter::Host, {}},
        {EventType::RunWaitingHuman, EventEmitter::Host, {}},
        {EventType::RunResumed, EventEmitter::Host, {}},
        {EventType::RunCompleted, EventEmitter::Both,
         terminalFields({optional("result", K::String)})},
        {EventType::RunFailed, EventEmitter::Both,
         terminalFields({required("error", K::Object), required("error.class", K::String),
                         required("error.message", K::String),
                         optional("error.http_status", K::Integer)})},
        {EventType::RunStopped, EventEmitter::Both,
         terminalFields({required("reason", K::String, {"cancelled"})})},
        {EventType::MessageStart, EventEmitter::Plugin,
         {required("message_id", K::NonEmptyString), required("kind", K::String, kMessageKinds),
          required("role", K::String, {"assistant"}), kParent}},
        {EventType::MessageDelta, EventEmitter::Plugin,
         {required("message_id", K::NonEmptyString), required("kind", K::String, kMessageKinds),
          required("text", K::String), kParent}},
        {EventType::MessageStop, EventEmitter::Plugin,
         {required("message_id", K::NonEmptyString), required("kind", K::String, kMessageKinds),
          required("text", K::String), optional("incomplete", K::Boolean), kParent}},
        {EventType::ToolStart, EventEmitter::Plugin,
         {required("tool_call_id", K::NonEmptyString), required("name", K::String),
          required("input", K::Object), kParent}},
        {EventType::ToolResult, EventEmitter::Plugin,
         {required("tool_call_id", K::NonEmptyString), required("name", K::String),
          required("output", K::String), required("is_error", K::Boolean),
          optional("exit_code", K::Integer), optional("status", K::String),
          optional("unfinished", K::Boolean), kParent}},
        {EventType::TodoUpdate, EventEmitter::Plugin,
         {required("todos", K::Array), required("todos[]", K::Object),
          required("todos[].id", K::String), required("todos[].content", K::String),
          required("todos[].status", K::String, {"pending", "in_progress", "completed"}),
          optional("todos[].cancelled", K::Boolean), optional("todos[].priority", K::String),
          required("source", K::String)}},
        {EventType::HumanRequest, EventEmitter::Plugin,
         {required("request_id", K::NonEmptyString),
          required("kind", K::String, {"permission", "question"}), required("tool", K::String),
          required("tool_call_id", K::String), required("input", K::Object),
          optional("options", K::Array), optional("questions", K::Array),
          optional("description", K::String), optional("blocked_path", K::String)}},
        // From a plugin only the CLI's own withdrawal: answers are the host's to record.
        {EventType::HumanResponse, EventEmitter::Both,
         {required("request_id", K::NonEmptyString), required("decision", K::String, {"cancelled"}),
          required("by", K::String, {"provider"}), optional("message", K::String)}},
        {EventType::WorkspaceRestore, EventEmitter::Host, {}},
        {EventType::WorkspaceSync, EventEmitter::Host, {}},
        {EventType::Usage, EventEmitter::Plugin,
         {required("input_tokens", K::Integer), required("output_tokens", K::Integer),
          required("cache_read_tokens", K::Integer), required("cache_write_tokens", K::Integer),
          optional("reasoning_tokens", K::Integer), optional("cost_usd", K::Number),
          optional("model_calls", K::Integer), optional("session_totals", K::Object)}},
        {EventType::ProviderSession, EventEmitter::Plugin,
         {required("provider_session_id", K::NonEmptyString), optional("model", K::String),
          optional("cwd", K::String)}},
        {EventType::ProviderQuarantine, EventEmitter::Host, {}},
        {EventType::ProviderNotice, EventEmitter::Plugin,
         {required("kind", K::NonEmptyString), required("message", K::String),
          optional("attempt", K::Integer), optional("max_attempts", K::Integer),
          optional("http_status", K::Integer)}},
        {EventType::ProviderLineError, EventEmitter::Host, {}},
    };
    // clang-format on
}

// Errors a single output collects before the rest are summarised: one is enough to reject
// it, a few help the plugin's author, thousands would only bloat the log.
constexpr std::size_t kMaxErrorsKept = 10;

//! A type name as a plugin wrote it, cut short: it may be anything, of any length.
std::string shown(std::string_view text) {
    constexpr std::size_t kMax = 64;
    return "'" + std::string(text.substr(0, kMax)) + (text.size() > kMax ? "...'" : "'");
}

std::string kindName(FieldKind kind) {
    switch (kind) {
        case FieldKind::String:
            return "a string";
        case FieldKind::NonEmptyString:
            return "a non-empty string";
        case FieldKind::Integer:
            return "an integer";
        case FieldKind::IntegerOrNull:
            return "an integer or null";
        case FieldKind::Number:
            return "a number";
        case FieldKind::Boolean:
            return "a boolean";
        case FieldKind::Object:
            return "an object";
        case FieldKind::Array:
            return "a list";
    }
    return "?";
}

//! What a value is, for messages that say what was expected instead.
std::string describe(const Json& value) {
    switch (value.type()) {
        case Json::value_t::null:
            return "null";
        case Json::value_t::boolean:
            return "a boolean";
        case Json::value_t::number_integer:
        case Json::value_t::number_unsigned:
            return "an integer";
        case Json::value_t::number_float:
            return "a fractional number";
        case Json::value_t::string:
            return "a string";
        case Json::value_t::array:
            return "a list";
        case Json::value_t::object:
            return "an object";
        default:
            return "something else";
    }
}

bool hasKind(const Json& value, FieldKind kind) {
    switch (kind) {
        case FieldKind::String:
            return value.is_string();
        case FieldKind::NonEmptyString:
            return value.is_string() && !value.get_ref<const std::string&>().empty();
        case FieldKind::Integer:
            return value.is_number_integer();
        case FieldKind::IntegerOrNull:
            return value.is_number_integer() || value.is_null();
        case FieldKind::Number:
            return value.is_number();
        case FieldKind::Boolean:
            return value.is_boolean();
        case FieldKind::Object:
            return value.is_object();
        case FieldKind::Array:
            return value.is_array();
    }
    return false;
}

// Problems found in one event's data, as "data.<path> ..." texts.
using Problems = std::vector<std::string>;

void checkValue(const Json& value, const std::string& where, const FieldRule& rule,
                Problems& problems) {
    if (!hasKind(value, rule.kind)) {
        const bool empty = value.is_string() && rule.kind == FieldKind::NonEmptyString;
        problems.push_back(where + " must be " + kindName(rule.kind) + ", not " +
                           (empty ? std::string("empty") : describe(value)));
        return;
    }
    if (rule.oneOf.empty() || !value.is_string()) return;
    const auto& text = value.get_ref<const std::string&>();
    for (const auto allowed : rule.oneOf) {
        if (text == allowed) return;
    }
    std::string choices;
    for (const auto allowed : rule.oneOf) {
        choices += (choices.empty() ? "\"" : ", \"") + std::string(allowed) + "\"";
    }
    problems.push_back(where + " must be " + (rule.oneOf.size() > 1 ? "one of " : "") + choices +
                       ", not " + shown(text));
}

//! Checks what `path` names below the object `node` (`where` is how the walk got there).
void checkAt(const Json& node, std::string_view path, const std::string& where,
             const FieldRule& rule, Problems& problems) {
    const auto dot = path.find('.');
    std::string_view head = path.substr(0, dot);
    const std::string_view rest = dot == std::string_view::npos ? "" : path.substr(dot + 1);
    const bool eachItem = head.ends_with("[]");
    if (eachItem) head.remove_suffix(2);
    const std::string here = where + "." + std::string(head);
    const auto found = node.find(head);
    const bool absent =
        found == node.end() || (found->is_null() && rule.kind != FieldKind::IntegerOrNull);
    if (absent) {
        // A missing list or container is its own rule's to report, once.
        if (rest.empty() && !eachItem && rule.required) problems.push_back(here + " is missing");
        return;
    }
    if (!eachItem) {
        if (rest.empty()) {
            checkValue(*found, here, rule, problems);
        } else if (found->is_object()) {
            checkAt(*found, rest, here, rule, problems);
        }
        return;
    }
    if (!found->is_array()) return;
    for (std::size_t i = 0; i < found->size(); ++i) {
        const Json& item = (*found)[i];
        const std::string itemWhere = here + "[" + std::to_string(i) + "]";
        if (rest.empty()) {
            checkValue(item, itemWhere, rule, problems);
        } else if (item.is_object()) {
            checkAt(item, rest, itemWhere, rule, problems);
        }
    }
}

class Checker {
public:
    Checker(PluginCall call, std::size_t maxEvents) : call_(call), maxEvents_(maxEvents) {}

    CheckedOutput run(const Json& output) {
        if (!output.is_object()) {
            fail(std::nullopt, "the output is not a JSON object");
            return std::move(result_);
        }
        checkStdin(output);
        const auto events = output.find("events");
        std::size_t terminals = 0;
        if (events != output.end() && !events->is_array()) {
            fail(std::nullopt, "\"events\" is not a list");
        } else if (events != output.end() && events->size() > maxEvents_) {
            fail(std::nullopt, "it holds " + std::to_string(events->size()) +
                                   " events, over the limit of " + std::to_string(maxEvents_) +
                                   " per call");
        } else if (events != output.end()) {
            for (std::size_t i = 0; i < events->size(); ++i) {
                terminals += checkEvent(i, (*events)[i]) ? 1 : 0;
            }
        }
        if (call_ == PluginCall::Exit && terminals != 1) {
            fail(std::nullopt,
                 "exit_run must return exactly one terminal event (run.completed, run.failed "
                 "or run.stopped), not " +
                     std::to_string(terminals));
        }
        if (!result_.accepted()) result_.events = Json::array();
        return std::move(result_);
    }

private:
    void fail(std::optional<std::size_t> eventIndex, std::string reason) {
        if (result_.errors.size() < kMaxErrorsKept) {
            result_.errors.push_back({eventIndex, std::move(reason)});
        } else if (result_.errors.size() == kMaxErrorsKept) {
            result_.errors.push_back({std::nullopt, "and more"});
        }
    }

    void checkStdin(const Json& output) {
        if (const auto bytes = output.find("stdin"); bytes != output.end()) {
            if (bytes->is_string()) {
                result_.stdinBytes = bytes->get<std::string>();
            } else {
                fail(std::nullopt, "\"stdin\" is not a string");
            }
        }
        if (const auto close = output.find("close_stdin"); close != output.end()) {
            if (close->is_boolean()) {
                result_.closeStdin = close->get<bool>();
            } else {
                fail(std::nullopt, "\"close_stdin\" is not a boolean");
            }
        }
    }

    //! Checks event `index`, keeps it when it passes; returns whether it is terminal.
    bool checkEvent(std::size_t index, const Json& event) {
        const std::string at = "event " + std::to_string(index);
        const auto typeMember = event.is_object() ? event.find("type") : event.end();
        if (!event.is_object() || typeMember == event.end() || !typeMember->is_string()) {
            fail(index, at + " has no string \"type\"");
            return false;
        }
        const auto& typeName = typeMember->get_ref<const std::string&>();
        const auto type = parseEventType(typeName);
        if (!type) {
            fail(index, at + " has the unknown type " + shown(typeName));
            return false;
        }
        const std::string where = at + " (" + typeName + ")";
        const EventRule& rule = eventRule(*type);
        if (rule.emitter == EventEmitter::Host) {
            fail(index, where + ": only the host emits " + typeName);
            return false;
        }
        const bool terminal = isTerminal(*type);
        if (terminal && call_ != PluginCall::Exit) {
            fail(index, where + ": only exit_run returns a terminal event");
        }
        const auto data = event.find("data");
        if (data == event.end() || !data->is_object()) {
            fail(index,
                 where + ": \"data\" is " + (data == event.end() ? "missing" : "not an object"));
            return terminal;
        }
        Problems problems;
        for (const FieldRule& field : rule.fields)
            checkAt(*data, field.path, "data", field, problems);
        for (auto& problem : problems) fail(index, where + ": " + problem);
        if (problems.empty()) result_.events.push_back({{"type", typeName}, {"data", *data}});
        return terminal;
    }

    PluginCall call_;
    std::size_t maxEvents_;
    CheckedOutput result_;
};

}  // namespace

const std::vector<EventRule>& eventRules() {
    static const std::vector<EventRule> rules = buildRules();
    return rules;
}

const EventRule& eventRule(EventType type) {
    for (const EventRule& rule : eventRules()) {
        if (rule.type == type) return rule;
    }
    // Every EventType has a row (a unit test walks them all); this is a programming error.
    throw std::logic_error("no event rule for " + std::string(toString(type)));
}

std::string CheckedOutput::reason() const {
    std::string joined;
    for (const auto& error : errors) {
        if (!joined.empty()) joined += "; ";
        joined += error.reason;
    }
    return joined;
}

CheckedOutput checkPluginOutput(const nlohmann::json& output, PluginCall call,
                                std::size_t maxEvents) {
    return Checker(call, maxEvents).run(output);
}

}  // namespace aw
