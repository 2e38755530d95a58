// SociRunStore, raw output: the lines a run's CLI printed, as agent-executor delivered
// them, each stored once (redeliveries skipped) and marked when translated or quarantined.
#include <map>
#include <set>
#include <unordered_set>

#include "db/pg_event_listener.h"
#include "db/soci_run_rows.h"
#include "db/soci_run_store.h"

namespace aw {
namespace {

using run_rows::runNotFound;
using stmt::execute;
using stmt::select;

constexpr const char* kRawColumns = "event_id, run_id, stream, seq, line, continued, translated";

struct RawRow {
    std::string eventId, runId, stream, line;
    long long seq = 0;
    int continued = 0, translated = 0;

    void bind(soci::details::prepare_temp_type& prep) {
        prep, soci::into(eventId), soci::into(runId), soci::into(stream), soci::into(seq),
            soci::into(line), soci::into(continued), soci::into(translated);
    }

    //! Its state as stored: Quarantined, or Pending (rawOutput reads the run's translated seq).
    RawOutputRecord get() const {
        RawOutputRecord record;
        record.eventId = eventId;
        record.runId = runId;
        record.stream = stream;
        record.seq = seq;
        record.line = line;
        record.continued = continued != 0;
        record.state = translated == static_cast<int>(RawState::Quarantined) ? RawState::Quarantined
                                                                             : RawState::Pending;
        return record;
    }
};

//! The highest stored seq of each line stream (MAX alone keeps SQLite's min/max shortcut over
//! the (run_id, stream, seq) index; NULL: no line yet) and the exit record's body, if any.
constexpr const char* kPositionQuery =
    "SELECT (SELECT MAX(seq) FROM raw_output WHERE run_id = :rid AND stream = 'stdout'),"
    " (SELECT MAX(seq) FROM raw_output WHERE run_id = :rid2 AND stream = 'stderr'),"
    " (SELECT line FROM raw_output WHERE run_id = :rid3 AND stream = 'exit' ORDER BY seq LIMIT 1)";

//! admitRawOutput's statements, prepared once per pooled connection (Database::withPrepared),
//! so an admission parses and plans nothing. On PostgreSQL the whole batch is one INSERT (a
//! JSON array the server unpacks), so an admission is five round trips whatever its size;
//! SQLite runs in-process and inserts a record at a time.
struct RawOutputAdmission {
    soci::session& sql;
    const Dialect dialect;
    std::string runId;
    std::string sessionId, status;  // lockRun's row
    soci::statement lockRun;
    long long stdoutSeq = 0, stderrSeq = 0;  // readPosition's row
    soci::indicator stdoutInd = soci::i_null, stderrInd = soci::i_null, exitInd = soci::i_null;
    std::string exitLine;
    soci::statement readPosition;
    // PostgreSQL: the batch as JSON, an id stored per row back. SQLite: one record's fields.
    std::string batch, storedId;
    RawOutputRecord record;
    long long seq = 0, receivedAt = 0;
    int continued = 0, state = 0;
    soci::statement insert;

    explicit RawOutputAdmission(soci::session& session)
        : sql(session),
          dialect(run_rows::dialectOf(session)),
          lockRun(prepareLockRun()),
          readPosition((sql.prepare << kPositionQuery, soci::into(stdoutSeq, stdoutInd),
                        soci::into(stderrSeq, stderrInd), soci::into(exitLine, exitInd),
                        soci::use(runId), soci::use(runId), soci::use(runId))),
          insert(prepareInsert()) {}

    soci::details::prepare_temp_type prepareLockRun() {
        if (dialect == Dialect::Postgresql) {
            // Admissions of a run take turns on a lock of their own, not on the run's row:
            // the run's appends lock that row for as long as they store events, and output
            // arriving need not wait for the output before it to be translated.
            return (sql.prepare << "SELECT r.session_id, r.status FROM runs r,"
                                   " pg_advisory_xact_lock(hashtextextended('aw.raw_output:' || :rid, 0))"
                                   " WHERE r.run_id = :rid",
                    soci::into(sessionId), soci::into(status), soci::use(runId), soci::use(runId));
        }
        return (sql.prepare << "SELECT session_id, status FROM runs WHERE run_id = :rid",
                soci::into(sessionId), soci::into(status), soci::use(runId));
    }

    soci::details::prepare_temp_type prepareInsert() {
        if (dialect == Dialect::Postgresql) {
            // ON CONFLICT DO NOTHING skips a redelivered record (by event_id, or run, stream
            // and seq), also one repeated within the batch; RETURNING names those stored.
            return (sql.prepare
                        << "INSERT INTO raw_output (event_id, run_id, stream, seq, line, continued,"
                           " translated, received_at_ms)"
                           " SELECT r.event_id, r.run_id, r.stream, r.seq, r.line, r.continued,"
                           " r.translated, :at FROM json_to_recordset(CAST(:batch AS json))"
                           " AS r(event_id text, run_id text, stream text, seq bigint, line text,"
                           " continued integer, translated integer)"
                           " ON CONFLICT DO NOTHING RETURNING event_id",
                    soci::use(receivedAt), soci::use(batch), soci::into(storedId));
        }
        return (sql.prepare << "INSERT INTO raw_output (event_id, run_id, stream, seq, line,"
                               " continued, translated, received_at_ms) VALUES (:id, :rid,"
                               " :stream, :seq, :line, :continued, :state, :at)"
                               " ON CONFLICT DO NOTHING",
                soci::use(record.eventId), soci::use(record.runId), soci::use(record.stream),
                soci::use(seq), soci::use(record.line), soci::use(continued), soci::use(state),
                soci::use(receivedAt));
    }

    //! The run's session and status, with the run's admission lock taken on PostgreSQL
    //! (SQLite's BEGIN IMMEDIATE already holds the database); nullopt when there is no such run.
    std::optional<RunOutputState> lock(const std::string& id) {
        runId = id;
        if (!lockRun.execute(true)) return std::nullopt;
        stmt::finish(lockRun);
        RunOutputState run;
        run.sessionId = sessionId;
        run.status = parseRunStatus(status).value_or(RunStatus::Failed);  // CHECK keeps it valid
        return run;
    }

    //! Where the run's output stands. Read after the run's lock was taken: on PostgreSQL this
    //! statement's snapshot then holds what the admission that had the lock before stored.
    void readInto(const std::string& id, RunOutputState& run) {
        runId = id;
        readPosition.execute(true);
        stmt::finish(readPosition);
        run.position = RawOutputPosition{stdoutInd == soci::i_ok ? stdoutSeq : 0,
                                         stderrInd == soci::i_ok ? stderrSeq : 0};
        run.exitLine.reset();
        if (exitInd == soci::i_ok) run.exitLine = exitLine;
    }

    //! Inserts the records; returns those that were new, in the order given.
    std::vector<RawOutputRecord> store(const std::vector<RawOutputRecord>& records, long long now) {
        receivedAt = now;
        return dialect == Dialect::Postgresql ? storeAtOnce(records) : storeOneByOne(records);
    }

    std::vector<RawOutputRecord> storeOneByOne(const std::vector<RawOutputRecord>& records) {
        std::vector<RawOutputRecord> stored;
        for (const auto& each : records) {
            record = each;
            seq = each.seq;
            continued = each.continued ? 1 : 0;
            state = static_cast<int>(each.state);
            insert.execute(true);
            if (insert.get_affected_rows() == 1) stored.push_back(each);
        }
        return stored;
    }

    std::vector<RawOutputRecord> storeAtOnce(const std::vector<RawOutputRecord>& records) {
        nlohmann::json rows = nlohmann::json::array();
        for (const auto& each : records) {
            rows.push_back({{"event_id", each.eventId},
                            {"run_id", each.runId},
                            {"stream", each.stream},
                            {"seq", each.seq},
                            {"line", storableText(each.line)},
                            {"continued", each.continued ? 1 : 0},
                            {"translated", static_cast<int>(each.state)}});
        }
        batch = rows.dump();
        std::unordered_set<std::string> added;
        if (insert.execute(true)) {
            do added.insert(storedId);
            while (insert.fetch());
        }
        std::vector<RawOutputRecord> stored;
        for (const auto& each : records) {
            // erase: a record repeated within the batch was stored once, as its first copy.
            if (added.erase(each.eventId) == 1) stored.push_back(each);
        }
        return stored;
    }

    //! PostgreSQL text holds no NUL: a line is kept up to its first one, as when it was bound
    //! as a C string (JSON would carry it to the server, which refuses it).
    static std::string storableText(const std::string& line) {
        return line.substr(0, line.find('\0'));
    }
};

}  // namespace

std::vector<RawOutputRecord> SociRunStore::insertRawOutput(const std::vector<RawOutputRecord>& records,
                                                           std::int64_t nowMs) {
    const RawOutputAdmit everything = [](const RunOutputStates&) { return true; };
    return *admitRawOutput(records, everything, nowMs);
}

std::optional<std::vector<RawOutputRecord>> SociRunStore::admitRawOutput(
    const std::vector<RawOutputRecord>& records, const RawOutputAdmit& admit, std::int64_t nowMs) {
    return database_.withPrepared<RawOutputAdmission>(
        [&](RawOutputAdmission& admission) -> std::optional<std::vector<RawOutputRecord>> {
            // The check and the insert are one transaction holding the batch's runs against
            // other admissions (a mutex in the engine would not hold them against another
            // host, or an operator posting to one). SQLite: BEGIN IMMEDIATE already holds the
            // database's one write lock. PostgreSQL: each run's admission lock is taken, in run id
            // order so that two batches never wait on each other in a cycle; a second
            // admission of a run waits here and reads what the first stored (READ COMMITTED
            // reads anew per statement).
            WriteTransaction transaction(admission.sql, admission.dialect);
            std::set<std::string> runIds;
            for (const auto& record : records) runIds.insert(record.runId);
            std::map<std::string, RunOutputState> runs;
            for (const auto& runId : runIds) {
                if (auto run = admission.lock(runId)) runs.emplace(runId, std::move(*run));
            }
            const RunOutputStates states =
                [&](const std::string& runId) -> std::optional<RunOutputState> {
                const auto run = runs.find(runId);
                if (run == runs.end()) return std::nullopt;
                admission.readInto(runId, run->second);
                return run->second;
            };
            if (!admit(states)) return std::nullopt;  // the transaction rolls back: nothing stored
            for (const auto& record : records) {
                if (!runs.count(record.runId)) throw ProblemError(runNotFound(record.runId));
            }
            auto stored = admission.store(records, nowMs);
            transaction.commit();
            return stored;
        });
}

std::vector<RawOutputRecord> SociRunStore::rawOutput(const std::string& runId,
                                                     const std::string& stream) {
    return database_.withSession([&](soci::session& sql) {
        // Read before the lines: a line stored meanwhile is at worst left Pending.
        long long translatedThrough = 0;
        soci::indicator found = soci::i_null;
        sql << "SELECT stdout_seq FROM run_translation WHERE run_id = :rid",
            soci::into(translatedThrough, found), soci::use(runId);
        if (!sql.got_data() || found != soci::i_ok) translatedThrough = 0;
        auto records = select<RawRow>(
            sql,
            std::string("SELECT ") + kRawColumns +
                " FROM raw_output WHERE run_id = :rid AND stream = :stream ORDER BY seq",
            runId, stream);
        for (auto& record : records) {
            const bool handedOn = record.stream == "stdout" && record.seq <= translatedThrough;
            if (handedOn && record.state == RawState::Pending) record.state = RawState::Translated;
        }
        return records;
    });
}

std::vector<RawOutputRecord> SociRunStore::rawOutputAfter(const std::string& runId,
                                                          std::int64_t afterSeq) {
    const long long after = afterSeq;
    return database_.withSession([&](soci::session& sql) {
        // Two reads of the (run_id, stream, seq) index, stdout first.
        return select<RawRow>(sql,
                              std::string("SELECT ") + kRawColumns + " FROM (SELECT " +
                                  kRawColumns +
                                  ", 0 AS part FROM raw_output WHERE run_id = :rid"
                                  " AND stream = 'stdout' AND seq > :after UNION ALL SELECT " +
                                  kRawColumns +
                                  ", 1 AS part FROM raw_output WHERE run_id = :rid2"
                                  " AND stream = 'exit') AS found ORDER BY part, seq",
                              runId, after, runId);
    });
}

void SociRunStore::announceOutput(const std::string& runId) {
    if (database_.dialect() != Dialect::Postgresql) return;
    database_.withSession([&](soci::session& sql) {
        execute(sql, "SELECT pg_notify('" + std::string(kRunOutputChannel) + "', :notice)",
                runNotice(hostId_, runId));
    });
}

RawOutputPosition SociRunStore::rawOutputPosition(const std::string& runId) {
    return database_.withPrepared<RawOutputAdmission>([&](RawOutputAdmission& admission) {
        RunOutputState run;
        admission.readInto(runId, run);
        return run.position;
    });
}

}  // namespace aw
