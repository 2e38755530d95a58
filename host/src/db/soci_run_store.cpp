#include "db/soci_run_store.h"

#include <algorithm>
#include <set>
#include <stdexcept>

#include "agent_worker/core/problem.h"
#include "db/soci_statements.h"

namespace aw {
namespace {

using stmt::execute;
using stmt::NullableText;
using stmt::select;
using stmt::selectOne;

nlohmann::json parseJson(const std::string& text, nlohmann::json fallback) {
    if (text.empty()) return fallback;
    auto parsed = nlohmann::json::parse(text, nullptr, false);
    return parsed.is_discarded() ? fallback : parsed;
}

std::string textOrEmpty(const std::string& text, soci::indicator ind) {
    return ind == soci::i_ok ? text : std::string();
}

// ---------------------------------------------------------------------------------------
// Rows.

template <typename T>
struct ScalarRow {
    T value{};
    soci::indicator ind = soci::i_ok;
    void bind(soci::details::prepare_temp_type& prep) { prep, soci::into(value, ind); }
    T get() const { return ind == soci::i_ok ? value : T{}; }
};

constexpr const char* kRunColumns =
    "run_id, session_id, provider, prompt, model, approval_mode, status, idempotency_key,"
    " attempts, error_code, error_message, usage, provider_session_id, stop_requested_at_ms,"
    " created_at_ms, started_at_ms, finished_at_ms";

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

constexpr const char* kQueueColumns =
    "queue_id, enqueue_key, run_id, session_id, status, attempts, max_attempts, available_at_ms,"
    " locked_by, lock_expires_at_ms, last_error, created_at_ms, updated_at_ms";

struct QueueRow {
    long long queueId = 0, availableAt = 0, lockExpiresAt = 0, createdAt = 0, updatedAt = 0;
    std::string enqueueKey, runId, sessionId, status, lockedBy, lastError;
    soci::indicator lockedByInd = soci::i_ok, lastErrorInd = soci::i_ok;
    int attempts = 0, maxAttempts = 0;

    void bind(soci::details::prepare_temp_type& prep) {
        prep, soci::into(queueId), soci::into(enqueueKey), soci::into(runId), soci::into(sessionId),
            soci::into(status), soci::into(attempts), soci::into(maxAttempts),
            soci::into(availableAt), soci::into(lockedBy, lockedByInd), soci::into(lockExpiresAt),
            soci::into(lastError, lastErrorInd), soci::into(createdAt), soci::into(updatedAt);
    }

    QueueEntry get() const {
        QueueEntry entry;
        entry.queueId = queueId;
        entry.enqueueKey = enqueueKey;
        entry.runId = runId;
        entry.sessionId = sessionId;
        entry.status = parseQueueStatus(status).value_or(QueueStatus::FinalFailed);
        entry.attempts = attempts;
        entry.maxAttempts = maxAttempts;
        entry.availableAtMs = availableAt;
        entry.lockedBy = textOrEmpty(lockedBy, lockedByInd);
        entry.lockExpiresAtMs = lockExpiresAt;
        entry.lastError = textOrEmpty(lastError, lastErrorInd);
        entry.createdAtMs = createdAt;
        entry.updatedAtMs = updatedAt;
        return entry;
    }
};

constexpr const char* kEventColumns = "event_id, run_id, session_id, seq, type, provider, data, ts_ms";

struct EventRow {
    std::string eventId, runId, sessionId, type, provider, data;
    long long seq = 0, ts = 0;

    void bind(soci::details::prepare_temp_type& prep) {
        prep, soci::into(eventId), soci::into(runId), soci::into(sessionId), soci::into(seq),
            soci::into(type), soci::into(provider), soci::into(data), soci::into(ts);
    }

    StoredEvent get() const {
        StoredEvent event;
        event.eventId = eventId;
        event.runId = runId;
        event.sessionId = sessionId;
        event.seq = seq;
        event.type = type;
        event.provider = provider;
        event.data = parseJson(data, nlohmann::json::object());
        event.tsMs = ts;
        return event;
    }
};

constexpr const char* kRawColumns = "event_id, run_id, stream, seq, line, continued, translated";

struct RawRow {
    std::string eventId, runId, stream, line;
    long long seq = 0;
    int continued = 0, translated = 0;

    void bind(soci::details::prepare_temp_type& prep) {
        prep, soci::into(eventId), soci::into(runId), soci::into(stream), soci::into(seq),
            soci::into(line), soci::into(continued), soci::into(translated);
    }

    RawOutputRecord get() const {
        RawOutputRecord record;
        record.eventId = eventId;
        record.runId = runId;
        record.stream = stream;
        record.seq = seq;
        record.line = line;
        record.continued = continued != 0;
        record.state = translated == static_cast<int>(RawState::Translated)    ? RawState::Translated
                       : translated == static_cast<int>(RawState::Quarantined) ? RawState::Quarantined
                                                                               : RawState::Pending;
        return record;
    }
};

constexpr const char* kHumanColumns =
    "run_id, request_id, session_id, kind, tool, input, options, status, decision, message,"
    " answered_by, created_at_ms, answered_at_ms";

struct HumanRow {
    std::string runId, requestId, sessionId, kind, tool, input, options, status, decision, message,
        answeredBy;
    soci::indicator toolInd = soci::i_ok, decisionInd = soci::i_ok, messageInd = soci::i_ok,
                    answeredByInd = soci::i_ok;
    long long createdAt = 0, answeredAt = 0;

    void bind(soci::details::prepare_temp_type& prep) {
        prep, soci::into(runId), soci::into(requestId), soci::into(sessionId), soci::into(kind),
            soci::into(tool, toolInd), soci::into(input), soci::into(options), soci::into(status),
            soci::into(decision, decisionInd), soci::into(message, messageInd),
            soci::into(answeredBy, answeredByInd), soci::into(createdAt), soci::into(answeredAt);
    }

    HumanLoopRecord get() const {
        HumanLoopRecord record;
        record.runId = runId;
        record.requestId = requestId;
        record.sessionId = sessionId;
        record.kind = kind;
        record.tool = textOrEmpty(tool, toolInd);
        record.input = parseJson(input, nlohmann::json::object());
        record.options = parseJson(options, nlohmann::json::array());
        record.status = status;
        record.decision = textOrEmpty(decision, decisionInd);
        record.message = textOrEmpty(message, messageInd);
        record.answeredBy = textOrEmpty(answeredBy, answeredByInd);
        record.createdAtMs = createdAt;
        record.answeredAtMs = answeredAt;
        return record;
    }
};

struct TodoRow {
    std::string id, content, status, runId;
    long long updatedAt = 0;

    void bind(soci::details::prepare_temp_type& prep) {
        prep, soci::into(id), soci::into(content), soci::into(status), soci::into(runId),
            soci::into(updatedAt);
    }

    TodoItem get() const { return TodoItem{id, content, status, runId, updatedAt}; }
};

struct StatusRow {
    std::string status;
    void bind(soci::details::prepare_temp_type& prep) { prep, soci::into(status); }
    RunStatus get() const { return parseRunStatus(status).value_or(RunStatus::Failed); }
};

// ---------------------------------------------------------------------------------------

constexpr RunStatus kAllRunStatuses[] = {RunStatus::Queued,    RunStatus::Starting,
                                         RunStatus::Running,   RunStatus::WaitingHuman,
                                         RunStatus::Completed, RunStatus::Failed,
                                         RunStatus::Stopped};

//! `'a','b'` for an IN list; the names come from the enum tables, never from callers.
std::string quotedNames(const std::vector<RunStatus>& statuses) {
    std::string list;
    for (const auto status : statuses) {
        if (!list.empty()) list += ",";
        list += "'" + std::string(toString(status)) + "'";
    }
    return list;
}

std::string terminalNames() {
    std::vector<RunStatus> terminal;
    for (const auto status : kAllRunStatuses) {
        if (isTerminal(status)) terminal.push_back(status);
    }
    return quotedNames(terminal);
}

//! A row lock that serialises writers of the row without blocking inserts that only
//! reference it (a foreign key check takes KEY SHARE, which NO KEY UPDATE lets through).
//! SQLite needs none: BEGIN IMMEDIATE already serialises every writer.
std::string rowLock(Dialect dialect) {
    return dialect == Dialect::Postgresql ? " FOR NO KEY UPDATE" : "";
}

std::optional<RunRecord> loadRun(soci::session& sql, const std::string& runId,
                                 const std::string& lock = "") {
    return selectOne<RunRow>(
        sql, std::string("SELECT ") + kRunColumns + " FROM runs WHERE run_id = :rid" + lock, runId);
}

std::optional<QueueEntry> loadEntry(soci::session& sql, long long queueId) {
    return selectOne<QueueRow>(
        sql, std::string("SELECT ") + kQueueColumns + " FROM run_queue WHERE queue_id = :qid",
        queueId);
}

std::size_t utf8Length(const std::string& text) {
    return static_cast<std::size_t>(std::count_if(text.begin(), text.end(), [](char c) {
        return (static_cast<unsigned char>(c) & 0xC0) != 0x80;
    }));
}

//! Reads a JSON object column of the session's worker record, lets `change` edit it and
//! writes it back (the row locked on PostgreSQL, so concurrent runs of the session add up).
template <typename Change>
void updateSessionJson(soci::session& sql, Dialect dialect, const std::string& sessionId,
                       const std::string& column, Change&& change) {
    const auto current = selectOne<ScalarRow<std::string>>(
        sql, "SELECT " + column + " FROM session_workers WHERE session_id = :sid" + rowLock(dialect),
        sessionId);
    if (!current) return;  // runs always have a worker record (foreign key)
    nlohmann::json value = parseJson(*current, nlohmann::json::object());
    if (!value.is_object()) value = nlohmann::json::object();
    change(value);
    execute(sql, "UPDATE session_workers SET " + column + " = :value WHERE session_id = :sid",
            value.dump(), sessionId);
}

//! Applies what one newly stored event derives. `run` is the run's row as this transaction
//! sees it (locked), kept current as changes are applied.
void applyChange(soci::session& sql, Dialect dialect, RunRecord& run, const StateChange& change,
                 long long now) {
    // A run settles once: a status change the run's state refuses (a late run.resumed, a
    // second terminal event) brings neither its error nor its final usage along, and a
    // settled run's usage stays what its terminal event said.
    bool refused = false;
    if (change.runStatus) {
        const RunStatus target = *change.runStatus;
        const bool allowed =
            !isTerminal(run.status) &&
            (change.onlyFrom.empty() || std::find(change.onlyFrom.begin(), change.onlyFrom.end(),
                                                  run.status) != change.onlyFrom.end());
        if (allowed) {
            if (isTerminal(target)) run.finishedAtMs = now;
            if (target == RunStatus::Running && run.startedAtMs == 0) run.startedAtMs = now;
            run.status = target;
            execute(sql,
                    "UPDATE runs SET status = :status, started_at_ms = :started,"
                    " finished_at_ms = :finished WHERE run_id = :rid",
                    std::string(toString(target)), static_cast<long long>(run.startedAtMs),
                    static_cast<long long>(run.finishedAtMs), run.runId);
        } else {
            refused = true;
        }
    }
    if (!refused && (change.errorCode || change.errorMessage)) {
        run.errorCode = change.errorCode.value_or(run.errorCode);
        run.errorMessage = change.errorMessage.value_or(run.errorMessage);
        execute(sql, "UPDATE runs SET error_code = :code, error_message = :message WHERE run_id = :rid",
                NullableText(run.errorCode), NullableText(run.errorMessage), run.runId);
    }
    if (change.runUsage && !isTerminal(run.status)) {
        run.usage = *change.runUsage;
        execute(sql, "UPDATE runs SET usage = :usage WHERE run_id = :rid", run.usage.dump(), run.runId);
    }
    if (change.finalUsage && !refused) {
        run.usage = *change.finalUsage;
        execute(sql, "UPDATE runs SET usage = :usage WHERE run_id = :rid", run.usage.dump(), run.runId);
        updateSessionJson(sql, dialect, run.sessionId, "provider_usage", [&](nlohmann::json& usage) {
            usage[run.provider] =
                addUsage(usage.value(run.provider, nlohmann::json::object()), *change.finalUsage);
        });
    }
    if (change.providerSessionId) {
        run.providerSessionId = *change.providerSessionId;
        execute(sql, "UPDATE runs SET provider_session_id = :id WHERE run_id = :rid",
                run.providerSessionId, run.runId);
        updateSessionJson(sql, dialect, run.sessionId, "provider_sessions",
                          [&](nlohmann::json& sessions) { sessions[run.provider] = run.providerSessionId; });
    }
    if (change.todos) {
        execute(sql, "DELETE FROM todos WHERE session_id = :sid", run.sessionId);
        long long position = 0;
        for (const auto& item : *change.todos) {
            // A repeated id keeps its first place (todo_id is the key).
            execute(sql,
                    "INSERT INTO todos (session_id, todo_id, position, content, status, run_id,"
                    " updated_at_ms) VALUES (:sid, :id, :position, :content, :status, :rid, :at)"
                    " ON CONFLICT DO NOTHING",
                    run.sessionId, item.value("id", std::string()), position++,
                    item.value("content", std::string()), item.value("status", std::string("pending")),
                    run.runId, now);
        }
    }
    if (change.humanRequest) {
        const auto& request = *change.humanRequest;
        execute(sql,
                "INSERT INTO human_loop (run_id, request_id, session_id, kind, tool, input, options,"
                " status, created_at_ms) VALUES (:rid, :request, :sid, :kind, :tool, :input,"
                " :options, 'pending', :at) ON CONFLICT DO NOTHING",
                run.runId, request.requestId, run.sessionId, request.kind, NullableText(request.tool),
                request.input.dump(), request.options.dump(), now);
    }
    if (change.humanResponse) {
        const auto& response = *change.humanResponse;
        execute(sql,
                "UPDATE human_loop SET status = :status, decision = :decision, message = :message,"
                " answered_by = :by, answered_at_ms = :at"
                " WHERE run_id = :rid AND request_id = :request AND status = 'pending'",
                response.status, NullableText(response.decision), NullableText(response.message),
                NullableText(response.answeredBy), now, run.runId, response.requestId);
    }
}

Problem runNotFound(const std::string& runId) {
    return {"run_not_found", "run '" + runId + "' does not exist",
            "check the run id; runs are created by POST /v1/sessions/{sid}/messages"};
}

// ---------------------------------------------------------------------------------------
// Claims.

//! Transaction-level advisory locks of the claim take (kClaimLockClass, hashtext(session))
//! keys: the two-int key space, apart from the migrator's single bigint key.
constexpr int kClaimLockClass = 0x41575251;  // "AWRQ"

//! True for an entry (alias `a`) a claim may take at `:<p>a`/`:<p>b` (both bound to now):
//! queued or retry_wait and available, or claimed under an expired lease.
std::string readyPredicate(const std::string& a, const std::string& p) {
    return "(((" + a + ".status = 'queued' OR " + a + ".status = 'retry_wait') AND " + a +
           ".available_at_ms <= :" + p + "a) OR (" + a + ".status = 'claimed' AND " + a +
           ".lock_expires_at_ms <= :" + p + "b))";
}

//! True when another entry of the session of `a` is claimed under a live lease (bound: now).
std::string liveSiblingPredicate(const std::string& a, const std::string& p) {
    return "EXISTS (SELECT 1 FROM run_queue o WHERE o.session_id = " + a + ".session_id AND o.queue_id <> " +
           a + ".queue_id AND o.status = 'claimed' AND o.lock_expires_at_ms > :" + p + ")";
}

}  // namespace

// ---------------------------------------------------------------------------------------
// RunStore

CreatedRun SociRunStore::createRun(const NewRun& run) {
    const std::string enqueueKey = run.enqueueKey.empty() ? run.runId : run.enqueueKey;
    const long long now = run.nowMs;
    return database_.withSession([&](soci::session& sql) -> CreatedRun {
        WriteTransaction transaction(sql, database_.dialect());
        execute(sql,
                "INSERT INTO session_workers (session_id, tenant_id, status, desired_status, version,"
                " runtime, workspace_s3_prefix, state_changed_at_ms, created_at_ms, updated_at_ms)"
                " VALUES (:sid, :tenant, 'pending', 'running', 0, :runtime, :prefix, :changed,"
                " :created, :updated) ON CONFLICT DO NOTHING",
                run.sessionId, run.tenantId, run.runtime, run.workspaceS3Prefix, now, now, now);
        // The unique (session_id, idempotency_key) decides; NULL keys never conflict. On
        // PostgreSQL a concurrent insert of the same key makes this wait for that
        // transaction, then do nothing; the SELECT below (a new snapshot) sees its run.
        const long long inserted = execute(
            sql,
            "INSERT INTO runs (run_id, session_id, provider, prompt, model, approval_mode, status,"
            " idempotency_key, attempts, usage, created_at_ms)"
            " VALUES (:rid, :sid, :provider, :prompt, :model, :mode, 'queued', :key, 0, '{}', :created)"
            " ON CONFLICT DO NOTHING",
            run.runId, run.sessionId, run.provider, run.prompt, NullableText(run.model),
            run.approvalMode, NullableText(run.idempotencyKey), now);
        if (inserted == 0) {
            std::optional<RunRecord> existing;
            if (!run.idempotencyKey.empty()) {
                existing = selectOne<RunRow>(sql,
                                             std::string("SELECT ") + kRunColumns +
                                                 " FROM runs WHERE session_id = :sid AND idempotency_key = :key",
                                             run.sessionId, run.idempotencyKey);
            }
            if (!existing) existing = loadRun(sql, run.runId);
            if (!existing) throw std::runtime_error("run insert conflicted with no visible run");
            return CreatedRun{*existing, false};  // nothing of ours is committed
        }
        const long long enqueued = execute(
            sql,
            "INSERT INTO run_queue (enqueue_key, run_id, session_id, status, attempts, max_attempts,"
            " available_at_ms, lock_expires_at_ms, created_at_ms, updated_at_ms)"
            " VALUES (:key, :rid, :sid, 'queued', 0, :max, :available, 0, :created, :updated)"
            " ON CONFLICT DO NOTHING",
            enqueueKey, run.runId, run.sessionId, run.maxAttempts, now, now, now);
        if (enqueued == 0) {
            // The enqueue key names another run: that one is the answer, ours is rolled back.
            const auto owner = selectOne<ScalarRow<std::string>>(
                sql, "SELECT run_id FROM run_queue WHERE enqueue_key = :key", enqueueKey);
            std::optional<RunRecord> existing;
            if (owner) existing = loadRun(sql, *owner);
            if (!existing) throw std::runtime_error("enqueue conflicted with no visible entry");
            return CreatedRun{*existing, false};
        }
        const nlohmann::json data = {{"provider", run.provider},
                                     {"prompt_chars", utf8Length(run.prompt)}};
        execute(sql,
                "INSERT INTO run_events (event_id, run_id, session_id, seq, type, provider, data, ts_ms)"
                " VALUES (:id, :rid, :sid, 1, 'run.queued', :provider, :data, :ts)",
                hostEventId(run.runId, "run.queued"), run.runId, run.sessionId, run.provider,
                data.dump(), now);
        auto created = loadRun(sql, run.runId);
        transaction.commit();
        return CreatedRun{*created, true};
    });
}

std::optional<RunRecord> SociRunStore::findRun(const std::string& runId) {
    return database_.withSession([&](soci::session& sql) { return loadRun(sql, runId); });
}

std::vector<StoredEvent> SociRunStore::events(const std::string& runId, std::int64_t afterSeq,
                                              std::size_t limit) {
    return database_.withSession([&](soci::session& sql) {
        return select<EventRow>(sql,
                                std::string("SELECT ") + kEventColumns +
                                    " FROM run_events WHERE run_id = :rid AND seq > :after"
                                    " ORDER BY seq LIMIT :limit",
                                runId, static_cast<long long>(afterSeq), static_cast<long long>(limit));
    });
}

std::int64_t SociRunStore::lastSeq(const std::string& runId) {
    return database_.withSession([&](soci::session& sql) -> std::int64_t {
        return selectOne<ScalarRow<long long>>(
                   sql, "SELECT COALESCE(MAX(seq), 0) FROM run_events WHERE run_id = :rid", runId)
            .value_or(0);
    });
}

std::vector<StoredEvent> SociRunStore::appendEvents(const std::string& runId,
                                                    const std::vector<NewEvent>& events,
                                                    const std::vector<std::string>& rawEventIds,
                                                    RawState rawState, std::int64_t nowMs) {
    const long long now = nowMs;
    return database_.withSession([&](soci::session& sql) {
        WriteTransaction transaction(sql, database_.dialect());
        // Locking the run's row first makes appenders of one run take turns, so the
        // MAX(seq) below stays the highest until this transaction ends.
        auto run = loadRun(sql, runId, rowLock(database_.dialect()));
        if (!run) throw ProblemError(runNotFound(runId));
        long long seq = selectOne<ScalarRow<long long>>(
                            sql, "SELECT COALESCE(MAX(seq), 0) FROM run_events WHERE run_id = :rid", runId)
                            .value_or(0);
        std::vector<StoredEvent> inserted;
        for (const auto& event : events) {
            StoredEvent stored;
            stored.eventId = event.eventId;
            stored.runId = runId;
            stored.sessionId = run->sessionId;
            stored.seq = seq + 1;
            stored.type = event.type;
            stored.provider = run->provider;
            stored.data = event.data;
            stored.tsMs = event.tsMs > 0 ? event.tsMs : nowMs;
            const long long added = execute(
                sql,
                "INSERT INTO run_events (event_id, run_id, session_id, seq, type, provider, data, ts_ms)"
                " VALUES (:id, :rid, :sid, :seq, :type, :provider, :data, :ts)"
                " ON CONFLICT (event_id) DO NOTHING",
                stored.eventId, runId, stored.sessionId, static_cast<long long>(stored.seq), stored.type,
                stored.provider, stored.data.dump(), static_cast<long long>(stored.tsMs));
            if (added == 0) continue;  // stored before: a replay
            ++seq;
            applyChange(sql, database_.dialect(), *run, deriveStateChange(event.type, event.data), now);
            inserted.push_back(std::move(stored));
        }
        for (const auto& rawId : rawEventIds) {
            execute(sql, "UPDATE raw_output SET translated = :state WHERE event_id = :id",
                    static_cast<int>(rawState), rawId);
        }
        transaction.commit();
        return inserted;
    });
}

std::vector<RawOutputRecord> SociRunStore::insertRawOutput(const std::vector<RawOutputRecord>& records,
                                                           std::int64_t nowMs) {
    const long long now = nowMs;
    return database_.withSession([&](soci::session& sql) {
        WriteTransaction transaction(sql, database_.dialect());
        std::set<std::string> knownRuns;
        std::vector<RawOutputRecord> stored;
        for (const auto& record : records) {
            if (!knownRuns.count(record.runId)) {
                const auto found = selectOne<ScalarRow<int>>(
                    sql, "SELECT COUNT(*) FROM runs WHERE run_id = :rid", record.runId);
                if (found.value_or(0) == 0) throw ProblemError(runNotFound(record.runId));
                knownRuns.insert(record.runId);
            }
            const long long added = execute(
                sql,
                "INSERT INTO raw_output (event_id, run_id, stream, seq, line, continued, translated,"
                " received_at_ms) VALUES (:id, :rid, :stream, :seq, :line, :continued, :state, :at)"
                " ON CONFLICT DO NOTHING",
                record.eventId, record.runId, record.stream, static_cast<long long>(record.seq),
                record.line, record.continued ? 1 : 0, static_cast<int>(record.state), now);
            if (added == 1) stored.push_back(record);
        }
        transaction.commit();
        return stored;
    });
}

std::vector<RawOutputRecord> SociRunStore::rawOutput(const std::string& runId,
                                                     const std::string& stream) {
    return database_.withSession([&](soci::session& sql) {
        return select<RawRow>(sql,
                              std::string("SELECT ") + kRawColumns +
                                  " FROM raw_output WHERE run_id = :rid AND stream = :stream ORDER BY seq",
                              runId, stream);
    });
}

bool SociRunStore::markStarting(const std::string& runId, int attempts, std::int64_t nowMs) {
    const long long now = nowMs;
    return database_.withSession([&](soci::session& sql) {
        return execute(sql,
                       "UPDATE runs SET status = 'starting', attempts = :attempts,"
                       " started_at_ms = CASE WHEN started_at_ms = 0 THEN :now ELSE started_at_ms END"
                       " WHERE run_id = :rid AND status IN ('queued', 'starting')",
                       attempts, now, runId) == 1;
    });
}

bool SociRunStore::requestStop(const std::string& runId, std::int64_t nowMs) {
    const long long now = nowMs;
    return database_.withSession([&](soci::session& sql) {
        return execute(sql,
                       "UPDATE runs SET stop_requested_at_ms = CASE WHEN stop_requested_at_ms = 0"
                       " THEN :now ELSE stop_requested_at_ms END"
                       " WHERE run_id = :rid AND status NOT IN (" +
                           terminalNames() + ")",
                       now, runId) == 1;
    });
}

std::optional<HumanLoopRecord> SociRunStore::humanRequest(const std::string& runId,
                                                          const std::string& requestId) {
    return database_.withSession([&](soci::session& sql) {
        return selectOne<HumanRow>(sql,
                                   std::string("SELECT ") + kHumanColumns +
                                       " FROM human_loop WHERE run_id = :rid AND request_id = :request",
                                   runId, requestId);
    });
}

std::vector<HumanLoopRecord> SociRunStore::pendingHumanRequests(const std::string& runId) {
    return database_.withSession([&](soci::session& sql) {
        return select<HumanRow>(sql,
                                std::string("SELECT ") + kHumanColumns +
                                    " FROM human_loop WHERE run_id = :rid AND status = 'pending'"
                                    " ORDER BY created_at_ms, request_id",
                                runId);
    });
}

std::vector<HumanLoopRecord> SociRunStore::expiredHumanRequests(std::int64_t createdBeforeMs) {
    const long long before = createdBeforeMs;
    return database_.withSession([&](soci::session& sql) {
        return select<HumanRow>(sql,
                                std::string("SELECT ") + kHumanColumns +
                                    " FROM human_loop WHERE status = 'pending' AND created_at_ms < :before"
                                    " ORDER BY created_at_ms, run_id, request_id",
                                before);
    });
}

std::vector<TodoItem> SociRunStore::todos(const std::string& sessionId) {
    return database_.withSession([&](soci::session& sql) {
        return select<TodoRow>(sql,
                               "SELECT todo_id, content, status, run_id, updated_at_ms FROM todos"
                               " WHERE session_id = :sid ORDER BY position",
                               sessionId);
    });
}

std::vector<RunRecord> SociRunStore::runsWithStatus(const std::vector<RunStatus>& statuses,
                                                    std::size_t limit) {
    if (statuses.empty() || limit == 0) return {};
    return database_.withSession([&](soci::session& sql) {
        return select<RunRow>(sql,
                              std::string("SELECT ") + kRunColumns + " FROM runs WHERE status IN (" +
                                  quotedNames(statuses) + ") ORDER BY created_at_ms, run_id LIMIT :limit",
                              static_cast<long long>(limit));
    });
}

std::vector<RunStatus> SociRunStore::unfinishedRunStatuses(const std::string& sessionId) {
    return database_.withSession([&](soci::session& sql) {
        return select<StatusRow>(sql,
                                 "SELECT status FROM runs WHERE session_id = :sid AND status NOT IN (" +
                                     terminalNames() + ") ORDER BY created_at_ms, run_id",
                                 sessionId);
    });
}

// ---------------------------------------------------------------------------------------
// RunQueue
//
// A claim runs in one write transaction:
//  1. Candidates: the oldest unfinished entry of each session, when it is ready and the
//     session has no entry claimed under a live lease, oldest first. On PostgreSQL `FOR UPDATE OF q SKIP LOCKED` locks them, so
//     concurrent claimers pass over each other's candidates instead of queueing on them.
//  2. For each candidate, on PostgreSQL, pg_try_advisory_xact_lock on the session: the
//     candidate query reads a snapshot, so two claimers could still pick two different
//     entries of one session (e.g. their `now` differ and only one sees an older entry as
//     available). The session lock makes at most one transaction claim for a session at a
//     time; whoever fails to get it skips the session this round. A hash collision only
//     makes a session wait a round, never a double claim.
//  3. The UPDATE re-checks readiness and the absence of a live sibling claim. It runs after
//     the session lock is held and, in READ COMMITTED, with a fresh snapshot, so it sees
//     every claim committed by the lock's previous holder.
// On SQLite BEGIN IMMEDIATE serialises the whole claim, so steps 1 and 3 suffice.

std::vector<QueueEntry> SociRunStore::claim(const std::string& holder, std::int64_t nowMs,
                                            std::int64_t leaseMs, std::size_t limit) {
    if (limit == 0) return {};
    const long long now = nowMs;
    const long long expires = nowMs + leaseMs;
    const bool postgres = database_.dialect() == Dialect::Postgresql;
    return database_.withSession([&](soci::session& sql) {
        WriteTransaction transaction(sql, database_.dialect());
        struct Candidate {
            long long queueId = 0;
            std::string sessionId;
        };
        struct CandidateRow {
            long long queueId = 0;
            std::string sessionId;
            void bind(soci::details::prepare_temp_type& prep) {
                prep, soci::into(queueId), soci::into(sessionId);
            }
            Candidate get() const { return Candidate{queueId, sessionId}; }
        };
        const auto candidates = select<CandidateRow>(
            sql,
            "SELECT q.queue_id, q.session_id FROM run_queue q WHERE " + readyPredicate("q", "r") +
                " AND NOT " + liveSiblingPredicate("q", "live") +
                // A session's runs go in order: an older unfinished entry (even one waiting
                // for its retry) holds back the newer ones.
                " AND NOT EXISTS (SELECT 1 FROM run_queue p WHERE p.session_id = q.session_id"
                " AND p.queue_id < q.queue_id AND p.status IN ('queued', 'retry_wait', 'claimed'))"
                " ORDER BY q.queue_id LIMIT :limit" +
                (postgres ? " FOR UPDATE OF q SKIP LOCKED" : ""),
            now, now, now, static_cast<long long>(limit));

        std::set<std::string> sessions;
        std::vector<long long> claimed;
        for (const auto& candidate : candidates) {
            if (!sessions.insert(candidate.sessionId).second) continue;
            if (postgres) {
                const auto locked = selectOne<ScalarRow<int>>(
                    sql,
                    "SELECT CASE WHEN pg_try_advisory_xact_lock(" + std::to_string(kClaimLockClass) +
                        ", hashtext(:sid)) THEN 1 ELSE 0 END",
                    candidate.sessionId);
                if (locked.value_or(0) != 1) continue;
            }
            const long long updated = execute(
                sql,
                "UPDATE run_queue SET status = 'claimed', attempts = attempts + 1, locked_by = :holder,"
                " lock_expires_at_ms = :expires, updated_at_ms = :now WHERE queue_id = :qid AND " +
                    readyPredicate("run_queue", "r") + " AND NOT " +
                    liveSiblingPredicate("run_queue", "live"),
                holder, expires, now, candidate.queueId, now, now, now);
            if (updated == 1) claimed.push_back(candidate.queueId);
        }
        std::vector<QueueEntry> entries;
        for (const long long queueId : claimed) {
            if (auto entry = loadEntry(sql, queueId)) entries.push_back(std::move(*entry));
        }
        transaction.commit();
        return entries;
    });
}

bool SociRunStore::extendLease(std::int64_t queueId, const std::string& holder, std::int64_t untilMs,
                               std::int64_t nowMs) {
    return database_.withSession([&](soci::session& sql) {
        return execute(sql,
                       "UPDATE run_queue SET lock_expires_at_ms = :until, updated_at_ms = :now"
                       " WHERE queue_id = :qid AND locked_by = :holder AND status = 'claimed'",
                       static_cast<long long>(untilMs), static_cast<long long>(nowMs),
                       static_cast<long long>(queueId), holder) == 1;
    });
}

bool SociRunStore::finish(std::int64_t queueId, const std::string& holder, QueueStatus status,
                          const std::string& error, std::int64_t nowMs) {
    if (status != QueueStatus::Succeeded && status != QueueStatus::FinalFailed) {
        throw std::invalid_argument("RunQueue::finish takes succeeded or final_failed, not " +
                                    std::string(toString(status)));
    }
    return database_.withSession([&](soci::session& sql) {
        return execute(sql,
                       "UPDATE run_queue SET status = :status, last_error = COALESCE(:error, last_error),"
                       " updated_at_ms = :now"
                       " WHERE queue_id = :qid AND locked_by = :holder AND status = 'claimed'",
                       std::string(toString(status)), NullableText(error), static_cast<long long>(nowMs),
                       static_cast<long long>(queueId), holder) == 1;
    });
}

std::optional<QueueStatus> SociRunStore::retryLater(std::int64_t queueId, const std::string& holder,
                                                    std::int64_t availableAtMs,
                                                    const std::string& error, std::int64_t nowMs) {
    return database_.withSession([&](soci::session& sql) -> std::optional<QueueStatus> {
        WriteTransaction transaction(sql, database_.dialect());
        const long long updated = execute(
            sql,
            "UPDATE run_queue SET status = CASE WHEN attempts >= max_attempts THEN 'final_failed'"
            " ELSE 'retry_wait' END, available_at_ms = :available, last_error = :error,"
            " updated_at_ms = :now WHERE queue_id = :qid AND locked_by = :holder AND status = 'claimed'",
            static_cast<long long>(availableAtMs), NullableText(error), static_cast<long long>(nowMs),
            static_cast<long long>(queueId), holder);
        if (updated != 1) return std::nullopt;
        const auto entry = loadEntry(sql, queueId);
        transaction.commit();
        if (!entry) return std::nullopt;
        return entry->status;
    });
}

std::optional<QueueEntry> SociRunStore::findByRun(const std::string& runId) {
    return database_.withSession([&](soci::session& sql) {
        return selectOne<QueueRow>(
            sql, std::string("SELECT ") + kQueueColumns + " FROM run_queue WHERE run_id = :rid", runId);
    });
}

std::vector<QueueEntry> SociRunStore::list(std::optional<QueueStatus> status, std::size_t limit) {
    return database_.withSession([&](soci::session& sql) {
        const std::string columns = std::string("SELECT ") + kQueueColumns + " FROM run_queue";
        if (status) {
            return select<QueueRow>(sql, columns + " WHERE status = :status ORDER BY queue_id DESC LIMIT :limit",
                                    std::string(toString(*status)), static_cast<long long>(limit));
        }
        return select<QueueRow>(sql, columns + " ORDER BY queue_id DESC LIMIT :limit",
                                static_cast<long long>(limit));
    });
}

}  // namespace aw
