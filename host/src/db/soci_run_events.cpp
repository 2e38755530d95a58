// SociRunStore, events and the state they derive: appending a run's events (numbered in
// order, replays skipped) applies what each one derives (run status and error, usage,
// provider session, todos, human-loop requests) in the same transaction; and the reads of
// events and of that state.
#include <algorithm>

#include "db/soci_run_rows.h"
#include "db/soci_run_store.h"

namespace aw {
namespace {

using run_rows::loadRun;
using run_rows::parseJson;
using run_rows::rowLock;
using run_rows::runNotFound;
using run_rows::ScalarRow;
using run_rows::textOrEmpty;
using stmt::execute;
using stmt::NullableText;
using stmt::select;
using stmt::selectOne;

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

}  // namespace

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

}  // namespace aw
