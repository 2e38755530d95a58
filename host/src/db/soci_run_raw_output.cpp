// SociRunStore, raw output: the lines a run's CLI printed, as agent-executor delivered
// them, each stored once (redeliveries skipped) and marked when translated or quarantined.
#include <map>
#include <set>

#include "db/soci_run_rows.h"
#include "db/soci_run_store.h"

namespace aw {
namespace {

using run_rows::runNotFound;
using run_rows::ScalarRow;
using stmt::execute;
using stmt::select;
using stmt::selectOne;

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

//! The highest stored seq of each line stream, read on `sql` (inside its transaction).
RawOutputPosition positionOf(soci::session& sql, const std::string& runId) {
    const auto highest = [&](const char* stream) -> std::int64_t {
        // MAX over the (run_id, stream, seq) unique index; COALESCE: no line yet is 0.
        return selectOne<ScalarRow<long long>>(sql,
                                               "SELECT COALESCE(MAX(seq), 0) FROM raw_output "
                                               "WHERE run_id = :rid AND stream = :stream",
                                               runId, std::string(stream))
            .value_or(0);
    };
    return RawOutputPosition{highest("stdout"), highest("stderr")};
}

}  // namespace

std::vector<RawOutputRecord> SociRunStore::insertRawOutput(const std::vector<RawOutputRecord>& records,
                                                           std::int64_t nowMs) {
    const RawOutputAdmit everything = [](const RunOutputStates&) { return true; };
    return *admitRawOutput(records, everything, nowMs);
}

std::optional<std::vector<RawOutputRecord>> SociRunStore::admitRawOutput(
    const std::vector<RawOutputRecord>& records, const RawOutputAdmit& admit, std::int64_t nowMs) {
    const long long now = nowMs;
    return database_.withSession([&](soci::session& sql)
                                     -> std::optional<std::vector<RawOutputRecord>> {
        // The check and the insert are one transaction holding the batch's runs against other
        // admissions (a mutex in the engine would not hold them against another host, or an
        // operator posting to one). SQLite: BEGIN IMMEDIATE already holds the database's one
        // write lock. PostgreSQL: the runs' rows are locked, in run id order so that two
        // batches never wait on each other in a cycle; a second admission of a run waits here
        // and reads what the first stored (READ COMMITTED reads anew per statement).
        WriteTransaction transaction(sql, database_.dialect());
        std::set<std::string> runIds;
        for (const auto& record : records) runIds.insert(record.runId);
        std::map<std::string, RunRecord> runs;
        for (const auto& runId : runIds) {
            if (auto run = run_rows::loadRun(sql, runId, run_rows::rowLock(database_.dialect())))
                runs.emplace(runId, std::move(*run));
        }
        const RunOutputStates states =
            [&](const std::string& runId) -> std::optional<RunOutputState> {
            const auto run = runs.find(runId);
            if (run == runs.end()) return std::nullopt;
            const auto exit = selectOne<ScalarRow<std::string>>(
                sql,
                "SELECT line FROM raw_output WHERE run_id = :rid AND stream = 'exit' ORDER BY seq",
                runId);
            return RunOutputState{run->second.sessionId, run->second.status, positionOf(sql, runId),
                                  exit};
        };
        if (!admit(states)) return std::nullopt;  // the transaction rolls back: nothing stored
        std::vector<RawOutputRecord> stored;
        for (const auto& record : records) {
            if (!runs.count(record.runId)) throw ProblemError(runNotFound(record.runId));
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

RawOutputPosition SociRunStore::rawOutputPosition(const std::string& runId) {
    return database_.withSession([&](soci::session& sql) { return positionOf(sql, runId); });
}

}  // namespace aw
