// Appends to a run's event log and wakes its readers: the one way the run path writes
// events, so every event gets its seq from the store and every append is published. It
// also carries the run path's notes for operators (the host's structured log).
#pragma once

#include <nlohmann/json.hpp>

#include <functional>
#include <string>
#include <vector>

#include "agent_worker/core/run_store.h"

namespace aw {

class RunLog {
public:
    //! Told the events each append stored (in seq order), when it stored something.
    using Published =
        std::function<void(const std::string& runId, const std::vector<StoredEvent>& stored)>;

    //! An operator-facing note: level (`information`, `warning`, `error`), what, fields.
    using Note = std::function<void(const std::string& level, const std::string& what,
                                    const nlohmann::json& fields)>;

    RunLog(RunStore& store, Published published, Note note = {})
        : store_(store), published_(std::move(published)), note_(std::move(note)) {}

    //! Appends `events` (their derived state and the raw output's `progress` in the same
    //! transaction). Returns what was new, with seq.
    std::vector<StoredEvent> append(const std::string& runId, std::vector<NewEvent> events,
                                    const RawProgress& progress = {});
    //! An event the host emits; `name` makes its id (unique within the run).
    std::vector<StoredEvent> appendHostEvent(const std::string& runId, const std::string& name,
                                             const std::string& type, nlohmann::json data);
    //! The host's `run.failed` with error {class: code, message}.
    void failRun(const std::string& runId, const std::string& code, const std::string& message);

    //! Writes an operator note (nothing when no Note was given).
    void note(const std::string& level, const std::string& what, const nlohmann::json& fields) const {
        if (note_) note_(level, what, fields);
    }

    RunStore& store() { return store_; }

private:
    RunStore& store_;
    Published published_;
    Note note_;
};

}  // namespace aw
