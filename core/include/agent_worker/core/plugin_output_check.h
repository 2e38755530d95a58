// The one check of what a provider plugin returns (the output document of feed, exit_run or
// reply), against the one table of event types: who may emit each type and which data fields
// it must carry (docs/events.md, "Every type at a glance"). Every path that consumes plugin
// output checks it here, so a line is accepted or rejected the same way everywhere.
#pragma once

#include <nlohmann/json.hpp>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "agent_worker/core/event_type.h"

namespace aw {

//! Who may emit an event type.
enum class EventEmitter {
    Plugin,  //!< only plugins (the host stores what they return)
    Host,    //!< only the host: a plugin output holding it is rejected
    Both,    //!< plugins (within the field rules) and the host
};

//! The JSON type a data field must have.
enum class FieldKind {
    String,
    NonEmptyString,  //!< ids: an empty id cannot be matched with anything
    Integer,
    IntegerOrNull,  //!< exit_code and signal: null when the other one ended the CLI
    Number,
    Boolean,
    Object,
    Array,
};

//! One data field of an event type, as a plugin must give it.
struct FieldRule {
    //! Dotted for members of objects ("error.class"); "[]" stands for every item of a list
    //! ("todos[].status"). A rule below a container applies only where the container is
    //! there and of the right type: the container's own rule reports it otherwise.
    std::string_view path;
    FieldKind kind = FieldKind::String;
    //! Required fields must be present and not null; optional ones may be absent or null,
    //! and are checked only when they hold a value.
    bool required = true;
    //! The string values allowed (empty: any).
    std::vector<std::string_view> oneOf;
};

//! An event type's row in the table.
struct EventRule {
    EventType type;
    EventEmitter emitter;
    //! What a plugin's event of this type must carry (host-only types: nothing, they are
    //! rejected before their fields matter). Unlisted fields are allowed and kept.
    std::vector<FieldRule> fields;
};

//! The table: one row per EventType.
const std::vector<EventRule>& eventRules();
const EventRule& eventRule(EventType type);

//! Which plugin function returned the output: only exit_run returns a terminal event, and
//! exactly one.
enum class PluginCall { Feed, Exit, Reply };

//! At most this many events in one output (the host refuses a flood, whatever its types).
inline constexpr std::size_t kMaxEventsPerPluginOutput = 10000;

//! Why an output was rejected.
struct PluginLineError {
    //! The offending event's position in the output's events; nullopt: the document itself.
    std::optional<std::size_t> eventIndex;
    std::string reason;  //!< says where ("event 2 (tool.start): data.name is missing")
};

//! An output after the check. One bad event rejects the line's events as a whole: they
//! belong together (a message's start/delta/stop, a tool.start and the todo.update it
//! caused), their event ids are positions within the line, and a partial line would tell
//! a client a story the CLI never told. The CLI's stdin bytes are kept even then, when
//! they are themselves well formed: withholding an answer to the CLI's protocol would only
//! leave it waiting.
struct CheckedOutput {
    nlohmann::json events = nlohmann::json::array();  //!< [{type, data}]; empty when rejected
    std::string stdinBytes;                           //!< "stdin", when a string
    bool closeStdin = false;                          //!< "close_stdin", when a boolean
    std::vector<PluginLineError> errors;              //!< empty: accepted

    bool accepted() const { return errors.empty(); }
    //! Every error's reason, joined with "; " ("" when accepted).
    std::string reason() const;
};

//! Checks one plugin output document ({events:[{type,data}], stdin?, close_stdin?}) for one
//! line (Feed), the exit (Exit) or a human's reply (Reply). An event of an unknown type, of a
//! host-only type, without a data object, with a required field missing or a field of the
//! wrong JSON type or value; a terminal event outside exit_run, or an exit_run without
//! exactly one; more than `maxEvents` events; a stdin that is not a string: each is a line
//! error, and the whole output's events are rejected. Never throws.
CheckedOutput checkPluginOutput(const nlohmann::json& output, PluginCall call = PluginCall::Feed,
                                std::size_t maxEvents = kMaxEventsPerPluginOutput);

}  // namespace aw
