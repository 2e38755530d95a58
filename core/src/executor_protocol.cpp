#include "agent_worker/core/executor_protocol.h"

#include <algorithm>
#include <limits>

#include "agent_worker/core/identifiers.h"
#include "agent_worker/core/json_access.h"

namespace aw {
namespace {

using Json = nlohmann::json;

constexpr std::string_view kMatchingVersions =
    "agent-host and agent-executor disagree on the executor protocol; run matching versions "
    "(docs/executor.md)";

constexpr JsonDocumentKind kRunSpecDocument{
    "invalid_run",
    "send {\"run_id\", \"argv\": [...], \"env\"?: {}, \"cwd\"?: \"...\", "
    "\"stdin\"?: \"...\", \"keep_stdin_open\"?: false}"};
constexpr JsonDocumentKind kStdinDocument{"invalid_stdin",
                                          "send {\"data\": \"...\", \"close\"?: false}"};
constexpr JsonDocumentKind kSignalDocument{"invalid_signal",
                                           "send {\"signal\": \"INT\" | \"TERM\" | \"KILL\"}"};
constexpr JsonDocumentKind kSyncDocument{
    "invalid_sync", "send {\"mode\": \"full\" | \"incremental\", \"reason\": \"...\"}"};
constexpr JsonDocumentKind kAnswerDocument{"invalid_executor_answer", kMatchingVersions};
constexpr JsonDocumentKind kCallbackDocument{"invalid_callback", kMatchingVersions};

constexpr EnumNameTable<ExecutorRunState, 2> kRunStateNames{{
    {ExecutorRunState::Running, "running"},
    {ExecutorRunState::Exited, "exited"},
}};

constexpr EnumNameTable<RunSignal, 3> kSignalNames{{
    {RunSignal::Int, "INT"},
    {RunSignal::Term, "TERM"},
    {RunSignal::Kill, "KILL"},
}};

constexpr EnumNameTable<OutputStream, 3> kStreamNames{{
    {OutputStream::Stdout, "stdout"},
    {OutputStream::Stderr, "stderr"},
    {OutputStream::Exit, "exit"},
}};

constexpr EnumNameTable<SyncMode, 2> kSyncModeNames{{
    {SyncMode::Full, "full"},
    {SyncMode::Incremental, "incremental"},
}};

//! An integer field that must fit an int (exit codes, signal numbers).
std::optional<int> nullableInt(StrictObject& object, std::string_view key) {
    const auto value = object.nullableInteger(key);
    if (!value) return std::nullopt;
    if (*value < std::numeric_limits<int>::min() || *value > std::numeric_limits<int>::max()) {
        object.fail(object.pathOf(key) + " is out of range");
    }
    return static_cast<int>(*value);
}

Json nullOr(const std::optional<int>& value) {
    return value ? Json(*value) : Json(nullptr);
}

//! The exit's `lost_*` fields, only when the executor gave lines up.
void addLoss(Json& exit, const OutputRecord& record) {
    if (record.lostStdoutLines == 0 && record.lostStderrLines == 0) return;
    exit["lost_stdout_lines"] = record.lostStdoutLines;
    exit["lost_stderr_lines"] = record.lostStderrLines;
    exit["lost_reason"] = record.lostReason;
}

Json countsJson(const SyncCounts& counts) {
    return {{"files", counts.files},
            {"uploaded_files", counts.uploadedFiles},
            {"uploaded_bytes", counts.uploadedBytes},
            {"deleted_files", counts.deletedFiles},
            {"unchanged_files", counts.unchangedFiles}};
}

SyncCounts readCounts(StrictObject& object) {
    SyncCounts counts;
    counts.files = object.requiredInteger("files");
    counts.uploadedFiles = object.requiredInteger("uploaded_files");
    counts.uploadedBytes = object.requiredInteger("uploaded_bytes");
    counts.deletedFiles = object.requiredInteger("deleted_files");
    counts.unchangedFiles = object.requiredInteger("unchanged_files");
    return counts;
}

OutputRecord readOutputRecord(const Json& json, const std::string& path) {
    StrictObject object(kCallbackDocument, json, path);
    OutputRecord record;
    record.runId = object.requiredString("run_id");
    record.stream = object.requiredEnum("stream", kStreamNames);
    record.seq = object.requiredInteger("seq");
    object.optionalString("event_id");  // derived from the fields above, see eventId()
    if (record.stream == OutputStream::Exit) {
        record.exitCode = nullableInt(object, "exit_code");
        record.signal = nullableInt(object, "signal");
        record.stdoutLines = object.optionalInteger("stdout_lines").value_or(0);
        record.stderrLines = object.optionalInteger("stderr_lines").value_or(0);
        record.lostStdoutLines = object.optionalInteger("lost_stdout_lines").value_or(0);
        record.lostStderrLines = object.optionalInteger("lost_stderr_lines").value_or(0);
        record.lostReason = object.optionalString("lost_reason").value_or("");
    } else {
        record.line = object.optionalString("line").value_or("");
        record.continued = object.optionalBool("continued", false);
    }
    // No finish(): unknown fields are ignored on purpose (see OutputRecord::fromJson).
    return record;
}

CallbackBatch readCallbackBatch(const Json& json) {
    StrictObject object(kCallbackDocument, json, "");
    CallbackBatch batch;
    batch.executorId = object.optionalString("executor_id").value_or("");
    batch.sessionId = object.optionalString("session_id").value_or("");
    batch.runId = object.optionalString("run_id").value_or("");
    const Json& events = object.requiredArray("events");
    batch.events.reserve(events.size());
    for (std::size_t i = 0; i < events.size(); ++i) {
        batch.events.push_back(readOutputRecord(events[i], indexedPath("events", i)));
    }
    return batch;
}

}  // namespace

// --- Processes ----------------------------------------------------------------------------

Json ExecutorRunSpec::toJson() const {
    Json json{{"run_id", runId},
              {"argv", argv},
              {"env", env},
              {"cwd", cwd},
              {"keep_stdin_open", keepStdinOpen}};
    if (stdinBytes) json["stdin"] = *stdinBytes;
    return json;
}

ExecutorRunSpec ExecutorRunSpec::fromJson(const Json& json) {
    StrictObject object(kRunSpecDocument, json, "");
    ExecutorRunSpec spec;
    spec.runId = object.requiredString("run_id");
    if (auto problem = checkIdentifier("run", spec.runId)) throw ProblemError(*problem);
    const Json& argv = object.requiredArray("argv");
    if (argv.empty()) object.fail("argv must not be empty");
    for (std::size_t i = 0; i < argv.size(); ++i) {
        if (!argv[i].is_string()) object.fail(indexedPath("argv", i) + " must be a string");
        spec.argv.push_back(argv[i].get<std::string>());
    }
    if (const Json* env = object.optionalObject("env")) {
        for (const auto& [name, value] : env->items()) {
            if (!value.is_string()) object.fail("env." + name + " must be a string");
            spec.env[name] = value.get<std::string>();
        }
    }
    spec.cwd = object.optionalString("cwd").value_or("");
    spec.stdinBytes = object.optionalString("stdin");
    spec.keepStdinOpen = object.optionalBool("keep_stdin_open", false);
    object.finish();
    return spec;
}

std::string_view toString(ExecutorRunState state) {
    return nameIn(kRunStateNames, state);
}

Json ExecutorRunStatus::toJson() const {
    Json json{{"run_id", runId},
              {"pid", pid},
              {"state", std::string(toString(state))},
              {"stdout_lines", stdoutLines}};
    if (state == ExecutorRunState::Exited) {
        json["exit_code"] = nullOr(exitCode);
        json["signal"] = nullOr(signal);
    }
    return json;
}

ExecutorRunStatus ExecutorRunStatus::fromJson(const Json& json) {
    StrictObject object(kAnswerDocument, json, "");
    ExecutorRunStatus status;
    status.runId = object.requiredString("run_id");
    status.pid = object.requiredInteger("pid");
    status.state = object.requiredEnum("state", kRunStateNames);
    status.stdoutLines = object.requiredInteger("stdout_lines");
    status.exitCode = nullableInt(object, "exit_code");
    status.signal = nullableInt(object, "signal");
    object.finish();
    return status;
}

Json StdinWrite::toJson() const {
    return {{"data", data}, {"close", close}};
}

StdinWrite StdinWrite::fromJson(const Json& json) {
    StrictObject object(kStdinDocument, json, "");
    StdinWrite write{object.requiredString("data"), object.optionalBool("close", false)};
    object.finish();
    return write;
}

Json StdinWriteAnswer::toJson() const {
    return {{"written", written}, {"closed", closed}};
}

StdinWriteAnswer StdinWriteAnswer::fromJson(const Json& json) {
    StrictObject object(kAnswerDocument, json, "");
    StdinWriteAnswer answer{object.requiredInteger("written"), object.requiredBool("closed")};
    object.finish();
    return answer;
}

std::string_view toString(RunSignal signal) {
    return nameIn(kSignalNames, signal);
}
std::optional<RunSignal> parseRunSignal(std::string_view name) {
    return parseIn(kSignalNames, name);
}

Json SignalRequest::toJson() const {
    return {{"signal", std::string(toString(signal))}};
}

SignalRequest SignalRequest::fromJson(const Json& json) {
    StrictObject object(kSignalDocument, json, "");
    SignalRequest request{object.requiredEnum("signal", kSignalNames)};
    object.finish();
    return request;
}

Json SignalAnswer::toJson() const {
    return {{"run_id", runId}, {"signal", std::string(toString(signal))}, {"delivered", delivered}};
}

SignalAnswer SignalAnswer::fromJson(const Json& json) {
    StrictObject object(kAnswerDocument, json, "");
    SignalAnswer answer;
    answer.runId = object.requiredString("run_id");
    answer.signal = object.requiredEnum("signal", kSignalNames);
    answer.delivered = object.requiredBool("delivered");
    object.finish();
    return answer;
}

// --- Output -------------------------------------------------------------------------------

std::string_view toString(OutputStream stream) {
    return nameIn(kStreamNames, stream);
}
std::optional<OutputStream> parseOutputStream(std::string_view name) {
    return parseIn(kStreamNames, name);
}

OutputRecord OutputRecord::lineOf(std::string runId, OutputStream stream, std::int64_t seq,
                                  std::string line, bool continued) {
    OutputRecord record;
    record.runId = std::move(runId);
    record.stream = stream;
    record.seq = seq;
    record.line = std::move(line);
    record.continued = continued;
    return record;
}

OutputRecord OutputRecord::exitOf(std::string runId, std::optional<int> exitCode,
                                  std::optional<int> signal, std::int64_t stdoutLines,
                                  std::int64_t stderrLines) {
    OutputRecord record;
    record.runId = std::move(runId);
    record.stream = OutputStream::Exit;
    record.seq = 1;
    record.exitCode = exitCode;
    record.signal = signal;
    record.stdoutLines = stdoutLines;
    record.stderrLines = stderrLines;
    return record;
}

std::string OutputRecord::eventId() const {
    std::string id = runId;
    id += '/';
    id += toString(stream);
    id += '/';
    id += std::to_string(seq);
    return id;
}

Json OutputRecord::toJson() const {
    Json json{{"event_id", eventId()},
              {"run_id", runId},
              {"stream", std::string(toString(stream))},
              {"seq", seq}};
    if (stream == OutputStream::Exit) {
        json["exit_code"] = nullOr(exitCode);
        json["signal"] = nullOr(signal);
        json["stdout_lines"] = stdoutLines;
        json["stderr_lines"] = stderrLines;
        addLoss(json, *this);
    } else {
        json["line"] = line;
        if (continued) json["continued"] = true;
    }
    return json;
}

namespace {

//! `text` as a JSON string, as nlohmann writes it (with invalid UTF-8 replaced).
void appendJsonString(std::string& out, const std::string& text) {
    // Printable ASCII other than the quote and the backslash is written as it is.
    const bool plain = std::all_of(text.begin(), text.end(), [](char c) {
        return c >= 0x20 && c < 0x7f && c != '"' && c != '\\';
    });
    if (!plain) {
        out += Json(text).dump(-1, ' ', false, Json::error_handler_t::replace);
        return;
    }
    out += '"';
    out += text;
    out += '"';
}

}  // namespace

std::string OutputRecord::toText() const {
    if (stream == OutputStream::Exit) {
        return toJson().dump(-1, ' ', false, Json::error_handler_t::replace);
    }
    // toJson()'s keys, in the order it writes them (sorted).
    std::string text = continued ? R"({"continued":true,"event_id":)" : R"({"event_id":)";
    text.reserve(text.size() + 2 * runId.size() + line.size() + 80);
    appendJsonString(text, eventId());
    text += R"(,"line":)";
    appendJsonString(text, line);
    text += R"(,"run_id":)";
    appendJsonString(text, runId);
    text += R"(,"seq":)";
    text += std::to_string(seq);
    text += R"(,"stream":")";
    text += toString(stream);
    text += R"("})";
    return text;
}

OutputRecord OutputRecord::fromJson(const Json& json) {
    return readOutputRecord(json, "");
}

RawOutputRecord toRawOutputRecord(const OutputRecord& record) {
    RawOutputRecord raw;
    raw.eventId = record.eventId();
    raw.runId = record.runId;
    raw.stream = std::string(toString(record.stream));
    raw.seq = record.seq;
    if (record.stream == OutputStream::Exit) {
        Json exit{{"exit_code", nullOr(record.exitCode)},
                  {"signal", nullOr(record.signal)},
                  {"stdout_lines", record.stdoutLines},
                  {"stderr_lines", record.stderrLines}};
        addLoss(exit, record);
        raw.line = exit.dump();
    } else {
        raw.line = record.line;
        raw.continued = record.continued;
    }
    return raw;
}

Json CallbackBatch::toJson() const {
    Json records = Json::array();
    for (const auto& record : events) records.push_back(record.toJson());
    return {{"executor_id", executorId},
            {"session_id", sessionId},
            {"run_id", runId},
            {"events", std::move(records)}};
}

CallbackBatch CallbackBatch::fromJson(const Json& json) {
    return readCallbackBatch(json);
}

std::variant<CallbackBatch, Problem> parseCallbackBatch(const Json& body) {
    try {
        return readCallbackBatch(body);
    } catch (const ProblemError& e) {
        return e.problem();
    }
}

// --- Workspace ----------------------------------------------------------------------------

Json RestoreAnswer::toJson() const {
    return {{"entries", entries},
            {"files", files},
            {"bytes", bytes},
            {"kept", kept},
            {"duration_ms", durationMs}};
}

RestoreAnswer RestoreAnswer::fromJson(const Json& json) {
    StrictObject object(kAnswerDocument, json, "");
    RestoreAnswer answer;
    answer.entries = object.requiredInteger("entries");
    answer.files = object.requiredInteger("files");
    answer.bytes = object.requiredInteger("bytes");
    answer.kept = object.requiredInteger("kept");
    answer.durationMs = object.requiredNumber("duration_ms");
    object.finish();
    return answer;
}

Json LinkAnswer::toJson() const {
    return {{"links", links},
            {"files", files},
            {"bytes", bytes},
            {"kept", kept},
            {"duration_ms", durationMs}};
}

LinkAnswer LinkAnswer::fromJson(const Json& json) {
    StrictObject object(kAnswerDocument, json, "");
    LinkAnswer answer;
    answer.links = object.requiredInteger("links");
    answer.files = object.requiredInteger("files");
    answer.bytes = object.requiredInteger("bytes");
    answer.kept = object.requiredInteger("kept");
    answer.durationMs = object.requiredNumber("duration_ms");
    object.finish();
    return answer;
}

Json ValidateAnswer::toJson() const {
    return aw::toJson(validation());
}

ValidateAnswer ValidateAnswer::fromJson(const Json& json) {
    return {restoreValidationFromJson(json).missingPaths};
}

std::string_view toString(SyncMode mode) {
    return nameIn(kSyncModeNames, mode);
}
std::optional<SyncMode> parseSyncMode(std::string_view name) {
    return parseIn(kSyncModeNames, name);
}

Json SyncRequest::toJson() const {
    return {{"mode", std::string(toString(mode))}, {"reason", reason}};
}

SyncRequest SyncRequest::fromJson(const Json& json) {
    StrictObject object(kSyncDocument, json, "");
    SyncRequest request;
    request.mode = object.requiredEnum("mode", kSyncModeNames);
    request.reason = object.requiredString("reason");
    object.finish();
    return request;
}

SyncCounts& SyncCounts::operator+=(const SyncCounts& other) {
    files += other.files;
    uploadedFiles += other.uploadedFiles;
    uploadedBytes += other.uploadedBytes;
    deletedFiles += other.deletedFiles;
    unchangedFiles += other.unchangedFiles;
    return *this;
}

Json SyncAnswer::toJson() const {
    Json json = countsJson(total);
    json["mode"] = std::string(toString(mode));
    json["reason"] = reason;
    json["workspace"] = countsJson(workspace);
    json["agent_state"] = countsJson(agentState);
    json["agent_state"]["slots"] = slots;
    json["duration_ms"] = durationMs;
    return json;
}

SyncAnswer SyncAnswer::fromJson(const Json& json) {
    StrictObject object(kAnswerDocument, json, "");
    SyncAnswer answer;
    answer.mode = object.requiredEnum("mode", kSyncModeNames);
    answer.reason = object.requiredString("reason");
    answer.total = readCounts(object);
    StrictObject workspace(kAnswerDocument, object.require("workspace"), "workspace");
    answer.workspace = readCounts(workspace);
    workspace.finish();
    StrictObject agentState(kAnswerDocument, object.require("agent_state"), "agent_state");
    answer.agentState = readCounts(agentState);
    answer.slots = agentState.requiredInteger("slots");
    agentState.finish();
    answer.durationMs = object.requiredNumber("duration_ms");
    object.finish();
    return answer;
}

// --- Health -------------------------------------------------------------------------------

Json ExecutorHealth::toJson() const {
    return {{"status", status}, {"executor_id", executorId}};
}

ExecutorHealth ExecutorHealth::fromJson(const Json& json) {
    StrictObject object(kAnswerDocument, json, "");
    ExecutorHealth health{object.requiredString("status"), object.requiredString("executor_id")};
    object.finish();
    return health;
}

}  // namespace aw
