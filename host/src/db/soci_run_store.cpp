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
using run_rows::ScalarRow;
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

}  // namespace

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
        // The enqueue key may name another run: unfinished in run_queue (then the INSERT did
        // nothing) or finished in run_queue_done. Asked after the INSERT: on PostgreSQL an
        // entry being moved to run_queue_done makes the INSERT wait for the move's commit,
        // and this statement's fresh snapshot then sees the entry moved.
        const auto owner = selectOne<ScalarRow<std::string>>(
            sql,
            "SELECT run_id FROM run_queue WHERE enqueue_key = :key AND run_id <> :rid UNION ALL"
            " SELECT run_id FROM run_queue_done WHERE enqueue_key = :done",
            enqueueKey, run.runId, enqueueKey);
        if (owner || enqueued == 0) {
            // That run is the answer; ours is rolled back.
            std::optional<RunRecord> existing;
            if (owner) existing = loadRun(sql, *owner);
            if (!existing) throw std::runtime_error("enqueue conflicted with no visible entry");
            return CreatedRun{*existing, false};
        }
        const nlohmann::json data = {{"provider", run.provider},
                                     {"prompt_chars", utf8Length(run.prompt)}};
        execute(sql,
                "INSERT INTO run_events (event_id, run_id, session_id, seq, type, provider, data, ts_ms)"
                " VALUES (:id, :rid, :sid, 1, :type, :provider, :data, :ts)",
                hostEventId(run.runId, AW_EVENT_RUN_QUEUED), run.runId, run.sessionId,
                std::string(AW_EVENT_RUN_QUEUED), run.provider, data.dump(), now);
        auto created = loadRun(sql, run.runId);
        transaction.commit();
        return CreatedRun{*created, true};
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

std::vector<RunStatus> SociRunStore::unfinishedRunStatuses(const std::string& sessionId) {
    return database_.withSession([&](soci::session& sql) {
        return select<StatusRow>(sql,
                                 "SELECT status FROM runs WHERE session_id = :sid AND status NOT IN (" +
                                     terminalNames() + ") ORDER BY created_at_ms, run_id",
                                 sessionId);
    });
}

}  // namespace aw
