// What the files of SociRunStore share (internal to db/): the runs row, scalar rows, JSON
// columns, and reading a run by id.
#pragma once

#include <nlohmann/json.hpp>

#include <optional>
#include <string>

#include "agent_worker/core/problem.h"
#include "agent_worker/core/run_store.h"
#include "db/database.h"
#include "db/soci_statements.h"

namespace aw::run_rows {

//! A JSON column's value; `fallback` when the column is empty or not JSON.
inline nlohmann::json parseJson(const std::string& text, nlohmann::json fallback) {
    if (text.empty()) return fallback;
    auto parsed = nlohmann::json::parse(text, nullptr, false);
    return parsed.is_discarded() ? fallback : parsed;
}

//! A nullable text column's value; "" for NULL.
inline std::string textOrEmpty(const std::string& text, soci::indicator ind) {
    return ind == soci::i_ok ? text : std::string();
}

//! One value of type T per row (NULL reads as T{}).
template <typename T>
struct ScalarRow {
    T value{};
    soci::indicator ind = soci::i_ok;
    void bind(soci::details::prepare_temp_type& prep) { prep, soci::into(value, ind); }
    T get() const { return ind == soci::i_ok ? value : T{}; }
};

inline constexpr const char* kRunColumns =
    "run_id, session_id, provider, prompt, model, approval_mode, status, idempotency_key,"
    " attempts, error_code, error_message, usage, provider_session_id, stop_requested_at_ms,"
    " created_at_ms, started_at_ms, finished_at_ms";

//! The variables one runs row is fetched into (kRunColumns, in order).
struct RunRow {
    std::string runId, sessionId, provider, prompt, model, approvalMode, status, idempotencyKey,
        errorCode, errorMessage, usage, providerSessionId;
    soci::indicator modelInd = soci::i_ok, keyInd = soci::i_ok, codeInd = soci::i_ok,
                    messageInd = soci::i_ok, providerSessionInd = soci::i_ok;
    int attempts = 0;
    long long stopRequestedAt = 0, createdAt = 0, startedAt = 0, finishedAt = 0;

    void bind(soci::details::prepare_temp_type& prep) {
        prep, soci::into(runId), soci::into(sessionId), soci::into(provider), soci::into(prompt),
            soci::into(model, modelInd), soci::into(approvalMode), soci::into(status),
            soci::into(idempotencyKey, keyInd), soci::into(attempts),
            soci::into(errorCode, codeInd), soci::into(errorMessage, messageInd),
            soci::into(usage), soci::into(providerSessionId, providerSessionInd),
            soci::into(stopRequestedAt), soci::into(createdAt), soci::into(startedAt),
            soci::into(finishedAt);
    }

    RunRecord get() const {
        RunRecord run;
        run.runId = runId;
        run.sessionId = sessionId;
        run.provider = provider;
        run.prompt = prompt;
        run.model = textOrEmpty(model, modelInd);
        run.approvalMode = approvalMode;
        run.status = parseRunStatus(status).value_or(RunStatus::Failed);  // CHECK keeps it valid
        run.idempotencyKey = textOrEmpty(idempotencyKey, keyInd);
        run.attempts = attempts;
        run.errorCode = textOrEmpty(errorCode, codeInd);
        run.errorMessage = textOrEmpty(errorMessage, messageInd);
        run.usage = parseJson(usage, nlohmann::json::object());
        run.providerSessionId = textOrEmpty(providerSessionId, providerSessionInd);
        run.stopRequestedAtMs = stopRequestedAt;
        run.createdAtMs = createdAt;
        run.startedAtMs = startedAt;
        run.finishedAtMs = finishedAt;
        return run;
    }
};

//! A row lock that serialises writers of the row without blocking inserts that only
//! reference it (a foreign key check takes KEY SHARE, which NO KEY UPDATE lets through).
//! SQLite needs none: BEGIN IMMEDIATE already serialises every writer.
inline std::string rowLock(Dialect dialect) {
    return dialect == Dialect::Postgresql ? " FOR NO KEY UPDATE" : "";
}

//! The dialect of a pooled connection: statements prepared once per connection
//! (Database::withPrepared) choose their text by it.
inline Dialect dialectOf(soci::session& sql) {
    return sql.get_backend_name() == "postgresql" ? Dialect::Postgresql : Dialect::Sqlite;
}

//! The run `runId`, read with `lock` (rowLock() to lock its row) appended to the query.
inline std::optional<RunRecord> loadRun(soci::session& sql, const std::string& runId,
                                        const std::string& lock = "") {
    return stmt::selectOne<RunRow>(
        sql, std::string("SELECT ") + kRunColumns + " FROM runs WHERE run_id = :rid" + lock, runId);
}

//! The problem of a run id that names no run.
inline Problem runNotFound(const std::string& runId) {
    return {"run_not_found", "run '" + runId + "' does not exist",
            "check the run id; runs are created by POST /v1/sessions/{sid}/messages"};
}

}  // namespace aw::run_rows
