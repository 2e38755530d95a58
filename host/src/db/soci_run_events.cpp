// SociRunStore, events and the state they derive: appending a run's events (numbered in
// order, replays skipped) applies what each one derives (run status and error, usage,
// provider session, todos, human-loop requests) in the same transaction; and the reads of
// events and of that state.
#include <algorithm>
#include <optional>
#include <unordered_map>
#include <unordered_set>

#include "db/pg_event_listener.h"
#include "db/soci_run_rows.h"
#include "db/soci_run_store.h"

namespace aw {
namespace {

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
        StoredEvent event = withoutData();
        event.data = parseJson(data, nlohmann::json::object());
        return event;
    }

    //! The event as JSON text; data is already dump()'s text (EventAppend wrote it), so it
    //! is copied, not parsed.
    EventText text() const { return {seq, type, withoutData().jsonText(data)}; }

    //! Every field but data.
    StoredEvent withoutData() const {
        StoredEvent event;
        event.eventId = eventId;
        event.runId = runId;
        event.sessionId = sessionId;
        event.seq = seq;
        event.type = type;
        event.provider = provider;
        event.tsMs = ts;
        return event;
    }
};

constexpr const char* kHumanColumns =
    "run_id, request_id, session_id, kind, tool, input, options, status, decision, message,"
    " answered_by, created_at_ms, answered_at_ms, forwarded_reply, reply_error";

struct HumanRow {
    std::string runId, requestId, sessionId, kind, tool, input, options, status, decision, message,
        answeredBy, forwardedReply, replyError;
    soci::indicator toolInd = soci::i_ok, decisionInd = soci::i_ok, messageInd = soci::i_ok,
                    answeredByInd = soci::i_ok, forwardedReplyInd = soci::i_ok,
                    replyErrorInd = soci::i_ok;
    long long createdAt = 0, answeredAt = 0;

    void bind(soci::details::prepare_temp_type& prep) {
        prep, soci::into(runId), soci::into(requestId), soci::into(sessionId), soci::into(kind),
            soci::into(tool, toolInd), soci::into(input), soci::into(options), soci::into(status),
            soci::into(decision, decisionInd), soci::into(message, messageInd),
            soci::into(answeredBy, answeredByInd), soci::into(createdAt), soci::into(answeredAt),
            soci::into(forwardedReply, forwardedReplyInd), soci::into(replyError, replyErrorInd);
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
        record.forwardedReply = textOrEmpty(forwardedReply, forwardedReplyInd);
        record.replyError = textOrEmpty(replyError, replyErrorInd);
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

//! The reads of a run's log, prepared once per pooled connection: a page of events (each
//! event stream reads one per wake-up) and the last seq.
struct EventReads {
    std::string runId;
    long long after = 0, limit = 0;
    EventRow row;
    soci::statement page;
    long long lastSeq = 0;
    soci::indicator lastSeqInd = soci::i_null;
    soci::statement last;

    explicit EventReads(soci::session& sql) : page(preparePage(sql)), last(prepareLast(sql)) {}

    //! A page of the run's events after `afterSeq`, each row as `convert` makes it.
    template <typename Convert>
    auto read(const std::string& id, std::int64_t afterSeq, std::size_t pageSize, Convert convert) {
        runId = id;
        after = afterSeq;
        limit = static_cast<long long>(pageSize);
        std::vector<decltype(convert(row))> events;
        if (page.execute(true)) {
            do events.push_back(convert(row));
            while (page.fetch());
        }
        return events;
    }

    soci::details::prepare_temp_type preparePage(soci::session& sql) {
        soci::details::prepare_temp_type prep =
            (sql.prepare << std::string("SELECT ") + kEventColumns +
                                " FROM run_events WHERE run_id = :rid AND seq > :after"
                                " ORDER BY seq LIMIT :limit");
        row.bind(prep);
        prep, soci::use(runId), soci::use(after), soci::use(limit);
        return prep;
    }

    soci::details::prepare_temp_type prepareLast(soci::session& sql) {
        // MAX alone keeps SQLite's min/max shortcut over the (run_id, seq) index; NULL is 0.
        return (sql.prepare << "SELECT MAX(seq) FROM run_events WHERE run_id = :rid",
                soci::into(lastSeq, lastSeqInd), soci::use(runId));
    }
};

//! appendEvents' statements, prepared once per pooled connection (Database::withPrepared).
//! An append is: the run's row, locked; its last seq; the events inserted; the run's
//! translated seq moved on. On PostgreSQL the events go in one statement (a JSON array the
//! server unpacks) that also moves the translated seq and sends the notice, so an append is
//! four round trips (begin, lock, insert, commit) whatever its size; SQLite runs in-process
//! and inserts an event at a time.
struct EventAppend {
    soci::session& sql;
    const Dialect dialect;
    const bool postgres;
    std::string runId;
    run_rows::RunRow run;
    soci::statement lockRun;
    long long lastSeq = 0;
    soci::indicator lastSeqInd = soci::i_ok;
    std::optional<soci::statement>
        readLog;  // SQLite (PostgreSQL reads the last seq within its INSERT)
    // PostgreSQL: the events as JSON. SQLite: one event's fields.
    std::string rows, eventId, type, data;
    long long seq = 0, ts = 0;
    long long translatedThrough = 0;
    std::string notice;     // PostgreSQL: the payload of the events' notice
    long long noticed = 0;  // PostgreSQL: 1 once the notice is sent
    soci::statement insert;
    soci::statement recordProgress;
    std::string quarantinedIds;  // a JSON array
    soci::statement markQuarantined;

    explicit EventAppend(soci::session& session)
        : sql(session),
          dialect(run_rows::dialectOf(session)),
          postgres(dialect == Dialect::Postgresql),
          lockRun(prepareLockRun()),
          insert(prepareInsert()),
          recordProgress(prepareRecordProgress()),
          markQuarantined(prepareMarkQuarantined()) {
        if (!postgres) readLog.emplace(prepareReadLog());
    }

    soci::details::prepare_temp_type prepareLockRun() {
        // Locking the run's row first makes appenders of one run take turns, so the last seq
        // read after it stays the highest until this transaction ends.
        soci::details::prepare_temp_type prep =
            (sql.prepare << std::string("SELECT ") + run_rows::kRunColumns +
                                " FROM runs WHERE run_id = :rid" + rowLock(dialect));
        run.bind(prep);
        prep, soci::use(runId);
        return prep;
    }

    soci::details::prepare_temp_type prepareReadLog() {
        // MAX alone (no COALESCE around it) keeps SQLite's min/max index shortcut: NULL is 0.
        // PostgreSQL reads it inside its one INSERT instead.
        return (sql.prepare << "SELECT MAX(seq) FROM run_events WHERE run_id = :rid",
                soci::into(lastSeq, lastSeqInd), soci::use(runId));
    }

    soci::details::prepare_temp_type prepareInsert() {
        if (postgres) {
            return (sql.prepare << SociRunStore::appendStatement(), soci::use(rows),
                    soci::use(runId), soci::use(runId), soci::use(run.sessionId),
                    soci::use(run.provider), soci::use(runId), soci::use(translatedThrough),
                    soci::use(translatedThrough), soci::use(notice), soci::into(eventId),
                    soci::into(seq), soci::into(noticed));
        }
        return (sql.prepare << "INSERT INTO run_events (event_id, run_id, session_id, seq, type,"
                               " provider, data, ts_ms)"
                               " VALUES (:id, :rid, :sid, :seq, :type, :provider, :data, :ts)"
                               " ON CONFLICT (event_id) DO NOTHING",
                soci::use(eventId), soci::use(runId), soci::use(run.sessionId), soci::use(seq),
                soci::use(type), soci::use(run.provider), soci::use(data), soci::use(ts));
    }

    soci::details::prepare_temp_type prepareRecordProgress() {
        // The seq only grows: a replay that hands on earlier lines again leaves it.
        const std::string greatest = postgres ? "GREATEST" : "max";
        return (
            sql.prepare << "INSERT INTO run_translation (run_id, stdout_seq) VALUES (:rid, :seq)"
                           " ON CONFLICT (run_id) DO UPDATE SET stdout_seq = " +
                               greatest + "(run_translation.stdout_seq, excluded.stdout_seq)",
            soci::use(runId), soci::use(translatedThrough));
    }

    soci::details::prepare_temp_type prepareMarkQuarantined() {
        const std::string ids = postgres ? "SELECT json_array_elements_text(CAST(:ids AS json))"
                                         : "SELECT value FROM json_each(:ids)";
        const std::string query = "UPDATE raw_output SET translated = " +
                                  std::to_string(static_cast<int>(RawState::Quarantined)) +
                                  " WHERE event_id IN (" + ids + ")";
        return (sql.prepare << query, soci::use(quarantinedIds));
    }

    //! Appends `events` to the run (see RunStore::appendEvents) inside the caller's
    //! transaction; returns what was new, with seq.
    //! The events' data is moved into what is returned.
    //! `hostId`: on PostgreSQL, new events are announced to the other hosts as this one's
    //! (delivered when the transaction commits).
    std::vector<StoredEvent> append(const std::string& id, std::vector<NewEvent>& events,
                                    const RawProgress& progress, long long now,
                                    const std::string& hostId) {
        runId = id;
        if (!lockRun.execute(true)) throw ProblemError(runNotFound(id));
        stmt::finish(lockRun);
        RunRecord record = run.get();
        translatedThrough = progress.translatedThrough;
        notice = runNotice(hostId, id);
        bool progressRecorded = false;  // PostgreSQL's insert records it, and announces
        auto inserted =
            postgres ? insertAtOnce(events, now, progressRecorded) : insertOneByOne(events, now);
        for (const auto& event : inserted) {
            applyChange(sql, dialect, record, deriveStateChange(event.type, event.data), now);
        }
        if (translatedThrough > 0 && !progressRecorded) recordProgress.execute(true);
        if (!progress.quarantined.empty()) {
            quarantinedIds = nlohmann::json(progress.quarantined).dump();
            markQuarantined.execute(true);
        }
        return inserted;
    }

    StoredEvent toStored(NewEvent& event, long long eventSeq, long long now) const {
        StoredEvent stored;
        stored.eventId = event.eventId;
        stored.runId = runId;
        stored.sessionId = run.sessionId;
        stored.seq = eventSeq;
        stored.type = event.type;
        stored.provider = run.provider;
        stored.data = std::move(event.data);
        stored.tsMs = event.tsMs > 0 ? event.tsMs : now;
        return stored;
    }

    //! SQLite: each event inserted in turn; one already stored changes nothing and takes no seq.
    std::vector<StoredEvent> insertOneByOne(std::vector<NewEvent>& events, long long now) {
        readLog->execute(true);
        stmt::finish(*readLog);
        long long last = lastSeqInd == soci::i_ok ? lastSeq : 0;
        std::vector<StoredEvent> inserted;
        for (auto& event : events) {
            StoredEvent next = toStored(event, last + 1, now);
            eventId = next.eventId;
            seq = next.seq;
            type = next.type;
            data = next.data.dump();
            ts = next.tsMs;
            insert.execute(true);
            if (insert.get_affected_rows() == 0) continue;  // stored before: a replay
            ++last;
            next.dataText = data;
            inserted.push_back(std::move(next));
        }
        return inserted;
    }

    //! PostgreSQL: the batch in one INSERT that leaves out what is stored already (a
    //! replay) and numbers the rest; an event twice in the batch counts as its first copy.
    std::vector<StoredEvent> insertAtOnce(std::vector<NewEvent>& events, long long now,
                                          bool& progressRecorded) {
        std::unordered_set<std::string> batchIds;
        nlohmann::json batch = nlohmann::json::array();
        std::vector<NewEvent*> candidates;
        std::vector<std::string> texts;  // each candidate's data as written
        for (auto& event : events) {
            if (!batchIds.insert(event.eventId).second) continue;
            texts.push_back(event.data.dump());
            batch.push_back({{"n", candidates.size()},
                             {"event_id", event.eventId},
                             {"type", event.type},
                             {"data", texts.back()},
                             {"ts", event.tsMs > 0 ? event.tsMs : now}});
            candidates.push_back(&event);
        }
        if (candidates.empty()) return {};
        rows = batch.dump();
        progressRecorded = true;
        std::unordered_map<std::string, long long> seqOf;
        if (insert.execute(true)) {
            do seqOf.emplace(eventId, seq);
            while (insert.fetch());
        }
        std::vector<StoredEvent> inserted;
        for (std::size_t i = 0; i < candidates.size(); ++i) {
            const auto found = seqOf.find(candidates[i]->eventId);
            if (found == seqOf.end()) continue;
            inserted.push_back(toStored(*candidates[i], found->second, now));
            inserted.back().dataText = std::move(texts[i]);
        }
        return inserted;  // in the batch's order, which is seq order
    }
};

}  // namespace

std::string SociRunStore::appendStatement() {
    // One round trip: the events not stored yet (a replay's are), numbered on from the run's
    // last seq in the batch's order, and each inserted one's seq back; the run's translated
    // seq moved on; and, when any event was new, the notice to the other hosts (once: an
    // uncorrelated subquery is evaluated once, and only for a row to return). The run's row
    // lock keeps the last seq and what is stored unchanged until it commits. What is stored
    // is looked up event by event in a scalar subquery, which PostgreSQL cannot plan as a
    // join: as NOT EXISTS, a young table's statistics made it hash the whole run_events
    // table on every append (half the event path's speed until autovacuum analyzed it).
    return "WITH fresh AS (SELECT e.*, row_number() OVER (ORDER BY e.n) AS k"
           " FROM json_to_recordset(CAST(:rows AS json))"
           " AS e(n bigint, event_id text, type text, data text, ts bigint)"
           " WHERE (SELECT 1 FROM run_events r WHERE r.event_id = e.event_id) IS NULL),"
           " last AS (SELECT COALESCE(MAX(seq), 0) AS seq FROM run_events WHERE run_id = :rid),"
           " ins AS (INSERT INTO run_events (event_id, run_id, session_id, seq,"
           " type, provider, data, ts_ms)"
           " SELECT f.event_id, :rid2, :sid, last.seq + f.k, f.type, :provider,"
           " f.data, f.ts FROM fresh f, last RETURNING event_id, seq),"
           " progress AS (INSERT INTO run_translation (run_id, stdout_seq)"
           " SELECT :rid3, CAST(:through AS bigint)"
           " WHERE CAST(:through2 AS bigint) > 0 ON CONFLICT (run_id) DO UPDATE"
           " SET stdout_seq = GREATEST(run_translation.stdout_seq, excluded.stdout_seq)),"
           " notice AS (SELECT pg_notify('" +
           std::string(kRunEventsChannel) +
           "', :notice) FROM (SELECT 1 FROM ins LIMIT 1) AS stored)"
           " SELECT ins.event_id, ins.seq, (SELECT COUNT(*) FROM notice) FROM ins";
}

std::vector<StoredEvent> SociRunStore::events(const std::string& runId, std::int64_t afterSeq,
                                              std::size_t limit) {
    return database_.withPrepared<EventReads>([&](EventReads& reads) {
        return reads.read(runId, afterSeq, limit, [](const EventRow& row) { return row.get(); });
    });
}

std::vector<EventText> SociRunStore::eventTexts(const std::string& runId, std::int64_t afterSeq,
                                                std::size_t limit) {
    return database_.withPrepared<EventReads>([&](EventReads& reads) {
        return reads.read(runId, afterSeq, limit, [](const EventRow& row) { return row.text(); });
    });
}

std::int64_t SociRunStore::lastSeq(const std::string& runId) {
    return database_.withPrepared<EventReads>([&](EventReads& reads) -> std::int64_t {
        reads.runId = runId;
        reads.last.execute(true);
        stmt::finish(reads.last);
        return reads.lastSeqInd == soci::i_ok ? reads.lastSeq : 0;
    });
}

std::vector<StoredEvent> SociRunStore::appendEvents(const std::string& runId,
                                                    std::vector<NewEvent> events,
                                                    const RawProgress& progress,
                                                    std::int64_t nowMs) {
    return database_.withPrepared<EventAppend>([&](EventAppend& append) {
        WriteTransaction transaction(append.sql, append.dialect);
        auto inserted = append.append(runId, events, progress, nowMs, hostId_);
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
