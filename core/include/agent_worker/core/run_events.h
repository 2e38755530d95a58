// Unified events as the run log keeps them, and the state each one derives: the run's
// status and usage, the session's todo list, human-loop requests, the provider's session
// id. Derived state is a function of the log alone, so replaying the log rebuilds it.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "agent_worker/core/run.h"

namespace aw {

//! An event as stored in run_events and served to clients.
struct StoredEvent {
    std::string eventId;
    std::string runId;
    std::string sessionId;
    std::int64_t seq = 0;
    std::string type;
    std::string provider;
    nlohmann::json data = nlohmann::json::object();
    std::int64_t tsMs = 0;
    //! `data` as the store wrote it (dump()), when an append just did: streams send it as it
    //! is instead of writing it again. Empty otherwise.
    std::string dataText;

    //! {event_id, run_id, session_id, seq, type, ts (ISO UTC), provider, data}
    nlohmann::json toJson() const;
    //! The text of toJson() as dump() writes it, with `dataJson` in place of `data`: the
    //! store keeps data as dump()'s own text, so a stream sends it without parsing it again.
    std::string jsonText(std::string_view dataJson) const;
};

//! An event as an event stream sends it: its seq, type and JSON text (StoredEvent::jsonText).
struct EventText {
    std::int64_t seq = 0;
    std::string type;
    std::string json;
};

//! An event to append; the store gives it the run's next seq.
struct NewEvent {
    std::string eventId;  //!< deterministic, see the helpers below
    std::string type;
    nlohmann::json data = nlohmann::json::object();
    std::int64_t tsMs = 0;
};

//! Id of the `index`-th event translated from raw record `rawEventId` (`<run>/<stream>/<seq>`).
std::string translatedEventId(std::string_view rawEventId, std::size_t index);
//! Id of an event the host itself emits (`run.queued`, `run.started`, `workspace.*`,
//! `human.response`, host-side `run.failed`...): `<run>:host:<name>`. `name` must be unique
//! within the run (e.g. `human.response:<request id>`).
std::string hostEventId(std::string_view runId, std::string_view name);

//! Where a raw output record stands in translation.
enum class RawState {
    Pending = 0,      //!< stored, not yet translated
    Translated = 1,   //!< its events are in run_events
    Quarantined = 2,  //!< crashed the plugin repeatedly: skipped, surfaced as an event
};

//! What an append says of the run's stdout lines. Lines are handed on in seq order, so one
//! number says which are done; only the rare quarantined line is named on its own.
struct RawProgress {
    //! Every stdout record up to this seq is handed on (translated, or quarantined); 0: no news.
    std::int64_t translatedThrough = 0;
    //! Records of a line that crashed the plugin repeatedly (skipped when a session is rebuilt).
    std::vector<std::string> quarantined;
};

//! A pending human-loop request, from a `human.request` event.
struct HumanRequestChange {
    std::string requestId;
    std::string kind;  //!< permission | question
    std::string tool;
    nlohmann::json input = nlohmann::json::object();
    nlohmann::json options = nlohmann::json::array();
};

//! The answer (or end) of a request, from a `human.response` event.
struct HumanResponseChange {
    std::string requestId;
    std::string status;    //!< answered | cancelled | timed_out
    std::string decision;  //!< allow | deny (answered), else empty
    std::string message;
    std::string answeredBy;
};

//! What one event changes besides the log.
struct StateChange {
    //! New run status. Terminal statuses also set finished_at; `running` from `starting`
    //! sets started_at when it is 0.
    std::optional<RunStatus> runStatus;
    //! Only move to runStatus from these (empty: from any non-terminal status). Keeps a
    //! late `run.resumed` from reopening a finished run.
    std::vector<RunStatus> onlyFrom;
    std::optional<std::string> errorCode;
    std::optional<std::string> errorMessage;
    //! Replaces runs.usage: a `usage` event carries the run's figures so far.
    std::optional<nlohmann::json> runUsage;
    //! Settles the run: replaces runs.usage and adds it (addUsage) to the session's
    //! provider_usage[provider], which becomes the next run's `previous_usage`. Set by a
    //! terminal event that carries `usage`.
    std::optional<nlohmann::json> finalUsage;
    //! runs.provider_session_id and session_workers.provider_sessions[provider].
    std::optional<std::string> providerSessionId;
    //! Replaces the session's todo list (`{id, content, status}` items, in order).
    std::optional<nlohmann::json> todos;
    std::optional<HumanRequestChange> humanRequest;
    std::optional<HumanResponseChange> humanResponse;
};

//! The change `type`/`data` makes. Pure: the same event always derives the same change.
StateChange deriveStateChange(std::string_view type, const nlohmann::json& data);

//! Adds `delta`'s numeric fields to `total` (others replace), returning the sum.
nlohmann::json addUsage(const nlohmann::json& total, const nlohmann::json& delta);

}  // namespace aw
