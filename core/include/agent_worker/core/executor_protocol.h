// The executor protocol: the documents agent-host and agent-executor exchange over HTTP
// (docs/executor.md), as typed structs with one JSON reading and writing for both sides,
// so a field renamed on one side fails loudly instead of silently becoming a default.
//
// fromJson() is strict: a missing required field, a wrong type, an unknown enum name or an
// unknown field throws ProblemError naming the field (`invalid_run`, `invalid_stdin`,
// `invalid_signal`, `invalid_sync`, `invalid_executor_answer`), never a JSON library
// exception. The one exception to "unknown field" is the callback output record: see
// OutputRecord::fromJson.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "agent_worker/core/problem.h"
#include "agent_worker/core/restore_plan.h"
#include "agent_worker/core/run_store.h"

namespace aw {

// --- Processes: POST /runs, GET /runs/{id}, /stdin, /signal ------------------------------

//! `POST /runs`: the process to start for a run. A repeated run id is the same run.
struct ExecutorRunSpec {
    std::string runId;              //!< a valid identifier (it names the run's spool files)
    std::vector<std::string> argv;  //!< the command and its arguments; never empty
    std::map<std::string, std::string> env;  //!< added to the executor's environment
    std::string cwd;                         //!< empty: the executor's own directory
    std::optional<std::string> stdinBytes;   //!< `stdin`: written as soon as it starts
    bool keepStdinOpen = false;              //!< false closes stdin after `stdinBytes`

    nlohmann::json toJson() const;
    //! Throws ProblemError `invalid_run` (also for an invalid run id).
    static ExecutorRunSpec fromJson(const nlohmann::json& json);

    bool operator==(const ExecutorRunSpec&) const = default;
};

enum class ExecutorRunState { Running, Exited };
std::string_view toString(ExecutorRunState state);

//! The answer of `POST /runs` and `GET /runs/{id}`.
struct ExecutorRunStatus {
    std::string runId;
    std::int64_t pid = 0;
    ExecutorRunState state = ExecutorRunState::Running;
    std::int64_t stdoutLines = 0;  //!< stdout lines read so far
    //! Once exited, exactly one is set: the exit code, or the signal that ended it.
    std::optional<int> exitCode;
    std::optional<int> signal;

    nlohmann::json toJson() const;
    //! Throws ProblemError `invalid_executor_answer`.
    static ExecutorRunStatus fromJson(const nlohmann::json& json);

    bool operator==(const ExecutorRunStatus&) const = default;
};

//! `POST /runs/{id}/stdin`.
struct StdinWrite {
    std::string data;
    bool close = false;  //!< close the process's stdin after `data`

    nlohmann::json toJson() const;
    //! Throws ProblemError `invalid_stdin`.
    static StdinWrite fromJson(const nlohmann::json& json);

    bool operator==(const StdinWrite&) const = default;
};

struct StdinWriteAnswer {
    std::int64_t written = 0;  //!< bytes
    bool closed = false;

    nlohmann::json toJson() const;
    static StdinWriteAnswer fromJson(const nlohmann::json& json);

    bool operator==(const StdinWriteAnswer&) const = default;
};

//! The signals a run's process group can be sent.
enum class RunSignal { Int, Term, Kill };
std::string_view toString(RunSignal signal);  //!< INT, TERM, KILL
std::optional<RunSignal> parseRunSignal(std::string_view name);

//! `POST /runs/{id}/signal`.
struct SignalRequest {
    RunSignal signal = RunSignal::Term;

    nlohmann::json toJson() const;
    //! Throws ProblemError `invalid_signal`.
    static SignalRequest fromJson(const nlohmann::json& json);

    bool operator==(const SignalRequest&) const = default;
};

struct SignalAnswer {
    std::string runId;
    RunSignal signal = RunSignal::Term;
    bool delivered = false;  //!< false when the run had already exited

    nlohmann::json toJson() const;
    static SignalAnswer fromJson(const nlohmann::json& json);

    bool operator==(const SignalAnswer&) const = default;
};

// --- Output: POST <callback url> ----------------------------------------------------------

enum class OutputStream { Stdout, Stderr, Exit };
std::string_view toString(OutputStream stream);
std::optional<OutputStream> parseOutputStream(std::string_view name);

//! One delivered unit: a line of stdout or stderr, or the exit of the process. Which fields
//! apply depends on `stream`.
struct OutputRecord {
    std::string runId;
    OutputStream stream = OutputStream::Stdout;
    std::int64_t seq = 0;  //!< dense per run and stream, from 1 (the exit record is 1)
    // stdout and stderr:
    std::string line;        //!< without its newline
    bool continued = false;  //!< a piece of a line too long for one callback; the next piece follows
    // exit:
    std::optional<int> exitCode;  //!< unset when a signal ended the process
    std::optional<int> signal;
    std::int64_t stdoutLines = 0;
    std::int64_t stderrLines = 0;
    //! Lines the executor gave up because the host refused them for good (a permanent
    //! 4xx): always the last ones of their stream, so the host has the first
    //! `stdoutLines - lostStdoutLines`. On the wire only when some were lost.
    std::int64_t lostStdoutLines = 0;
    std::int64_t lostStderrLines = 0;
    std::string lostReason;  //!< why, e.g. "host answered 400 invalid_callback: ..."

    //! A stdout or stderr line.
    static OutputRecord lineOf(std::string runId, OutputStream stream, std::int64_t seq,
                               std::string line, bool continued);
    //! The exit record: last of its run, after every line.
    static OutputRecord exitOf(std::string runId, std::optional<int> exitCode,
                               std::optional<int> signal, std::int64_t stdoutLines,
                               std::int64_t stderrLines);

    //! `<run id>/<stream>/<seq>`: the same record always has the same id, so the host
    //! drops duplicates of a batch it acknowledged but the executor sent again.
    std::string eventId() const;
    //! With `event_id`; `continued` only when true; the exit's `exit_code` and `signal`
    //! are null when unset.
    nlohmann::json toJson() const;
    //! toJson() as compact text, invalid UTF-8 replaced (U+FFFD): the form the executor's
    //! spool keeps and its callbacks carry. A line, the bulk of a run's output, is written
    //! without building a JSON object.
    std::string toText() const;
    //! Requires `run_id`, `stream` and an integer `seq`; checks the types of the fields of
    //! its stream, which are optional. Unknown fields are ignored and `event_id` is derived,
    //! not read: the executor resends a refused batch for ever, so refusing a record for
    //! a field this host does not know would stall the run's output. Throws ProblemError
    //! `invalid_callback` naming the field.
    static OutputRecord fromJson(const nlohmann::json& json);

    bool operator==(const OutputRecord&) const = default;
};

//! The record as the run store keeps it: lines as text, the exit as its JSON body
//! (`{"exit_code","signal","stdout_lines","stderr_lines"}`).
RawOutputRecord toRawOutputRecord(const OutputRecord& record);

//! `POST <callback url>`: one batch of records (the executor sends one run's records per
//! batch, in order, at most 256).
struct CallbackBatch {
    std::string executorId;
    std::string sessionId;
    std::string runId;
    std::vector<OutputRecord> events;

    nlohmann::json toJson() const;
    //! Throws ProblemError `invalid_callback`; see parseCallbackBatch().
    static CallbackBatch fromJson(const nlohmann::json& json);

    bool operator==(const CallbackBatch&) const = default;
};

//! Reads a callback body: an object with an `events` array of output records (see
//! OutputRecord::fromJson); `executor_id`, `session_id` and `run_id` are optional strings.
//! Returns the batch, or the Problem (`invalid_callback`, naming the field) to answer
//! with 400.
std::variant<CallbackBatch, Problem> parseCallbackBatch(const nlohmann::json& body);

// --- Workspace: /workspace/restore, /link, /validate, /sync -------------------------------

//! `POST /workspace/restore`: what the plan's `copy` entries brought.
struct RestoreAnswer {
    std::int64_t entries = 0;  //!< copy entries restored
    std::int64_t files = 0;    //!< files written
    std::int64_t bytes = 0;
    std::int64_t kept = 0;  //!< existing files left as they were (keep_session)
    double durationMs = 0;

    nlohmann::json toJson() const;
    static RestoreAnswer fromJson(const nlohmann::json& json);

    bool operator==(const RestoreAnswer&) const = default;
};

//! `POST /workspace/link`: what the plan's `link` entries brought.
struct LinkAnswer {
    std::int64_t links = 0;  //!< targets made symlinks to their slot
    std::int64_t files = 0;
    std::int64_t bytes = 0;
    std::int64_t kept = 0;
    double durationMs = 0;

    nlohmann::json toJson() const;
    static LinkAnswer fromJson(const nlohmann::json& json);

    bool operator==(const LinkAnswer&) const = default;
};

//! `POST /workspace/validate`: `{"missing_paths": [...]}`, the wire form of
//! RestoreValidation (restore_plan.h), which defines it.
struct ValidateAnswer {
    std::vector<std::string> missingPaths;

    RestoreValidation validation() const { return {missingPaths}; }
    nlohmann::json toJson() const;
    //! Throws ProblemError `invalid_restore_validation`.
    static ValidateAnswer fromJson(const nlohmann::json& json);

    bool operator==(const ValidateAnswer&) const = default;
};

enum class SyncMode { Full, Incremental };
std::string_view toString(SyncMode mode);
std::optional<SyncMode> parseSyncMode(std::string_view name);

//! `POST /workspace/sync`.
struct SyncRequest {
    SyncMode mode = SyncMode::Incremental;
    std::string reason;  //!< e.g. `message.stop`, `idle_stop`; for logs and events

    nlohmann::json toJson() const;
    //! Throws ProblemError `invalid_sync`.
    static SyncRequest fromJson(const nlohmann::json& json);

    bool operator==(const SyncRequest&) const = default;
};

//! What a sync did to one tree (or to all of them).
struct SyncCounts {
    std::int64_t files = 0;  //!< files in the tree
    std::int64_t uploadedFiles = 0;
    std::int64_t uploadedBytes = 0;
    std::int64_t deletedFiles = 0;  //!< deleted in the store
    std::int64_t unchangedFiles = 0;

    SyncCounts& operator+=(const SyncCounts& other);
    bool operator==(const SyncCounts&) const = default;
};

//! The answer of `POST /workspace/sync`: totals at the top level, then the workspace and
//! the agent state (every linked slot) on their own.
struct SyncAnswer {
    SyncMode mode = SyncMode::Incremental;
    std::string reason;
    SyncCounts total;
    SyncCounts workspace;
    SyncCounts agentState;
    std::int64_t slots = 0;  //!< linked state slots synced
    double durationMs = 0;

    nlohmann::json toJson() const;
    static SyncAnswer fromJson(const nlohmann::json& json);

    bool operator==(const SyncAnswer&) const = default;
};

// --- Health -------------------------------------------------------------------------------

//! `GET /health`.
struct ExecutorHealth {
    std::string status = "ok";
    std::string executorId;

    nlohmann::json toJson() const;
    static ExecutorHealth fromJson(const nlohmann::json& json);

    bool operator==(const ExecutorHealth&) const = default;
};

}  // namespace aw
