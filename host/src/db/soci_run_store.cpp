// SociRunStore, the runs themselves: creating one (with its session's worker record, its
// queue entry and its run.queued event, in one transaction), reading runs, and the status
// moves that are not events (starting, stop requests).
#include <algorithm>
#include <stdexcept>

#include "agent_worker/event_types.h"
#include "db/soci_run_rows.h"
#include "db/soci_run_store.h"

namespace aw {
namespace {

using run_rows::kRunColumns;
using run_rows::loadRun;
using run_rows::RunRow;
using stmt::execute;
using stmt::NullableText;
using stmt::select;
using stmt::selectOne;

struct StatusRow {
    std::string status;
    void bind(soci::details::prepare_temp_type& prep) { prep, soci::into(status); }
    RunStatus get() const { return parseRunStatus(status).value_or(RunStatus::Failed); }
};

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

//! runDetail's statement: the run, its last seq and how many human requests are pending, in
//! one query prepared once per connection (Database::withPrepared).
struct RunDetailQuery {
    std::string runId;
    RunRow row;
    long long lastSeq = 0;
    long long pending = 0;
    soci::statement statement;

    explicit RunDetailQuery(soci::session& sql) : statement(prepare(sql)) {}

    soci::details::prepare_temp_type prepare(soci::session& sql) {
        soci::details::prepare_temp_type prep =
            (sql.prepare
             << std::string("SELECT ") + kRunColumns +
                    ", (SELECT COALESCE(MAX(seq), 0) FROM run_events"
                    " WHERE run_events.run_id = runs.run_id),"
                    " (SELECT COUNT(*) FROM human_loop WHERE human_loop.run_id = runs.run_id"
                    " AND human_loop.status = 'pending')"
                    " FROM runs WHERE run_id = :rid");
        row.bind(prep);
        prep, soci::into(lastSeq), soci::into(pending), soci::use(runId);
        return prep;
    }
};

std::size_t utf8Length(const std::string& text) {
    return static_cast<std::size_t>(std::count_if(text.begin(), text.end(), [](char c) {
        return (static_cast<unsigned char>(c) & 0xC0) != 0x80;
    }));
}

//! Executes a statement that returns at most one row; whether it did. A SQLite statement
//! is stepped to its end, so it holds no read transaction open.
bool fetchOne(soci::statement& statement) {
    const bool got = statement.execute(true);
    if (got) statement.fetch();
    return got;
}

constexpr const char* kInsertWorker =
    "INSERT INTO session_workers (session_id, tenant_id, status, desired_status, version, runtime,"
    " workspace_s3_prefix, state_changed_at_ms, created_at_ms, updated_at_ms) VALUES (:sid,"
    " :tenant, 'pending', 'running', 0, :runtime, :prefix, :changed, :created, :updated)"
    " ON CONFLICT DO NOTHING";
constexpr const char* kInsertRun =
    "INSERT INTO runs (run_id, session_id, provider, prompt, model, approval_mode, status,"
    " idempotency_key, attempts, usage, created_at_ms) VALUES (:rid, :rsid, :provider, :prompt,"
    " :model, :mode, 'queued', :key, 0, '{}', :rcreated) ON CONFLICT DO NOTHING RETURNING ";
constexpr const char* kInsertEntry =
    "INSERT INTO run_queue (enqueue_key, run_id, session_id, status, attempts, max_attempts,"
    " available_at_ms, lock_expires_at_ms, created_at_ms, updated_at_ms) VALUES (:ekey, :erid,"
    " :esid, 'queued', 0, :max, :available, 0, :ecreated, :eupdated) ON CONFLICT DO NOTHING";
constexpr const char* kInsertQueuedEvent =
    "INSERT INTO run_events (event_id, run_id, session_id, seq, type, provider, data, ts_ms)"
    " SELECT :id, :vrid, :vsid, 1, :type, :vprovider, :data, CAST(:ts AS BIGINT)";

//! createRun's statements, prepared once per connection (Database::withPrepared). On
//! PostgreSQL, where each is a round trip, the worker's INSERT rides in the run's and the
//! run.queued event's in the queue entry's (as WITH ... INSERT): an enqueue is BEGIN, the
//! run, the entry, the enqueue key's owner, COMMIT. SQLite has no INSERT in a WITH.
struct CreateRunStatements {
    soci::session& session;
    const bool postgres;
    std::string sessionId, tenantId, runtime, prefix, runId, provider, prompt, model, approvalMode,
        idempotencyKey, enqueueKey, eventId, eventType, eventData, owner;
    soci::indicator modelInd = soci::i_ok, keyInd = soci::i_ok, ownerInd = soci::i_ok;
    long long now = 0;
    int maxAttempts = 0;
    RunRow row;
    soci::statement insertRun, enqueue, keyOwner;
    std::optional<soci::statement> worker, queuedEvent;  // SQLite only

    explicit CreateRunStatements(soci::session& sql)
        : session(sql),
          postgres(sql.get_backend_name() == "postgresql"),
          insertRun(prepareInsertRun(sql)),
          enqueue(prepareEnqueue(sql)),
          keyOwner((sql.prepare << "SELECT run_id FROM run_queue WHERE enqueue_key = :key"
                                   " AND run_id <> :rid UNION ALL SELECT run_id FROM run_queue_done"
                                   " WHERE enqueue_key = :done",
                    soci::into(owner, ownerInd), soci::use(enqueueKey), soci::use(runId),
                    soci::use(enqueueKey))) {
        if (postgres) return;
        soci::details::prepare_temp_type prepWorker = (sql.prepare << kInsertWorker);
        useWorker(prepWorker);
        worker.emplace(prepWorker);
        soci::details::prepare_temp_type prepEvent = (sql.prepare << kInsertQueuedEvent);
        useEvent(prepEvent);
        queuedEvent.emplace(prepEvent);
    }

    //! The run's INSERT returns the run as stored (no row when it conflicted).
    soci::details::prepare_temp_type prepareInsertRun(soci::session& sql) {
        soci::details::prepare_temp_type prep =
            (sql.prepare << (postgres ? "WITH worker AS (" + std::string(kInsertWorker) + ") "
                                      : std::string()) +
                                kInsertRun + kRunColumns);
        row.bind(prep);
        if (postgres) useWorker(prep);
        prep, soci::use(runId), soci::use(sessionId), soci::use(provider), soci::use(prompt),
            soci::use(model, modelInd), soci::use(approvalMode), soci::use(idempotencyKey, keyInd),
            soci::use(now);
        return prep;
    }

    //! Changes one row when the entry was enqueued (on PostgreSQL: its event was inserted).
    soci::details::prepare_temp_type prepareEnqueue(soci::session& sql) {
        soci::details::prepare_temp_type prep =
            (sql.prepare << (postgres
                                 ? "WITH entry AS (" + std::string(kInsertEntry) +
                                       " RETURNING run_id) " + kInsertQueuedEvent + " FROM entry"
                                 : std::string(kInsertEntry)));
        prep, soci::use(enqueueKey), soci::use(runId), soci::use(sessionId), soci::use(maxAttempts),
            soci::use(now), soci::use(now), soci::use(now);
        if (postgres) useEvent(prep);
        return prep;
    }

    void useWorker(soci::details::prepare_temp_type& prep) {
        prep, soci::use(sessionId), soci::use(tenantId), soci::use(runtime), soci::use(prefix),
            soci::use(now), soci::use(now), soci::use(now);
    }

    void useEvent(soci::details::prepare_temp_type& prep) {
        prep, soci::use(eventId), soci::use(runId), soci::use(sessionId), soci::use(eventType),
            soci::use(provider), soci::use(eventData), soci::use(now);
    }

    void set(const NewRun& run, const std::string& key) {
        sessionId = run.sessionId;
        tenantId = run.tenantId;
        runtime = run.runtime;
        prefix = run.workspaceS3Prefix;
        runId = run.runId;
        provider = run.provider;
        prompt = run.prompt;
        model = run.model;
        modelInd = model.empty() ? soci::i_null : soci::i_ok;
        approvalMode = run.approvalMode;
        idempotencyKey = run.idempotencyKey;
        keyInd = idempotencyKey.empty() ? soci::i_null : soci::i_ok;
        enqueueKey = key;
        eventId = hostEventId(run.runId, AW_EVENT_RUN_QUEUED);
        eventType = AW_EVENT_RUN_QUEUED;
        eventData =
            nlohmann::json{{"provider", run.provider}, {"prompt_chars", utf8Length(run.prompt)}}
                .dump();
        now = run.nowMs;
        maxAttempts = run.maxAttempts;
    }
};

}  // namespace

CreatedRun SociRunStore::createRun(const NewRun& run) {
    const std::string enqueueKey = run.enqueueKey.empty() ? run.runId : run.enqueueKey;
    return database_.withPrepared<CreateRunStatements>([&](CreateRunStatements& s) -> CreatedRun {
        s.set(run, enqueueKey);
        soci::session& sql = s.session;
        WriteTransaction transaction(sql, database_.dialect());
        if (s.worker) s.worker->execute(true);
        // The unique (session_id, idempotency_key) decides; NULL keys never conflict. On
        // PostgreSQL a concurrent insert of the same key makes this wait for that
        // transaction, then do nothing; the SELECT below (a new snapshot) sees its run.
        if (!fetchOne(s.insertRun)) {
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
        s.enqueue.execute(true);
        const long long enqueued = s.enqueue.get_affected_rows();
        // The enqueue key may name another run: unfinished in run_queue (then the INSERT did
        // nothing) or finished in run_queue_done. Asked after the INSERT: on PostgreSQL an
        // entry being moved to run_queue_done makes the INSERT wait for the move's commit,
        // and this statement's fresh snapshot then sees the entry moved.
        const bool owned = fetchOne(s.keyOwner) && s.ownerInd == soci::i_ok;
        if (owned || enqueued == 0) {
            // That run is the answer; ours is rolled back.
            std::optional<RunRecord> existing;
            if (owned) existing = loadRun(sql, s.owner);
            if (!existing) throw std::runtime_error("enqueue conflicted with no visible entry");
            return CreatedRun{*existing, false};
        }
        const RunRecord created = s.row.get();  // as the run's INSERT returned it
        if (s.queuedEvent) s.queuedEvent->execute(true);
        transaction.commit();
        return CreatedRun{created, true};
    });
}

std::optional<RunRecord> SociRunStore::findRun(const std::string& runId) {
    return database_.withSession([&](soci::session& sql) { return loadRun(sql, runId); });
}

std::optional<RunDetail> SociRunStore::runDetail(const std::string& runId) {
    long long pending = 0;
    auto view = database_.withPrepared<RunDetailQuery>(
        [&](RunDetailQuery& query) -> std::optional<RunDetail> {
            query.runId = runId;
            if (!query.statement.execute(true)) return std::nullopt;
            RunDetail found{query.row.get(), {}, query.lastSeq};
            pending = query.pending;
            // Step the statement to its end: a SQLite statement left mid-result keeps a read
            // transaction (and its old snapshot) open on the pooled connection.
            query.statement.fetch();
            return found;
        });
    // Their rows only for a run that has some (one waiting for a human); most reads have none.
    if (view && pending > 0) view->pendingHumanRequests = pendingHumanRequests(runId);
    return view;
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

std::vector<RunRecord> SociRunStore::recentRuns(const std::string& sessionId, std::size_t limit) {
    const std::string fromRuns = std::string("SELECT ") + kRunColumns + " FROM runs";
    const std::string newestFirst = " ORDER BY created_at_ms DESC, run_id DESC LIMIT :limit";
    return database_.withSession([&](soci::session& sql) {
        if (sessionId.empty()) {
            return stmt::select<RunRow>(sql, fromRuns + newestFirst, static_cast<long long>(limit));
        }
        return stmt::select<RunRow>(sql, fromRuns + " WHERE session_id = :sid" + newestFirst,
                                    sessionId, static_cast<long long>(limit));
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

}  // namespace aw
