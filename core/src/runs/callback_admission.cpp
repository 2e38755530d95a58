#include "agent_worker/core/runs/callback_admission.h"

#include <map>

namespace aw {
namespace {

constexpr const char* kProtocolHint =
    "only a session's own executor posts its runs' output (docs/executor.md)";

CallbackVerdict forbidden(std::string message) {
    return {CallbackVerdictKind::Forbidden, {"forbidden", std::move(message), kProtocolHint}};
}

CallbackVerdict invalid(std::string message) {
    return {CallbackVerdictKind::Invalid,
            {"invalid_callback", std::move(message),
             "the batch was refused whole and stored nothing; agent-host and agent-executor may "
             "disagree on the protocol (docs/executor.md)"}};
}

//! What is known of one run named in the batch.
struct RunView {
    RunOutputState stored;
    bool exitInBatch = false;
};

}  // namespace

CallbackVerdict CallbackAdmission::check(const CallbackCaller& caller, const CallbackBatch& batch) {
    if (!caller.operatorToken &&
        (batch.executorId != caller.executorId || batch.sessionId != caller.sessionId)) {
        return forbidden("executor '" + caller.executorId + "' of session '" + caller.sessionId +
                         "' posted a batch as executor '" + batch.executorId + "' of session '" +
                         batch.sessionId + "'");
    }
    std::map<std::string, RunView> runs;
    for (const auto& record : batch.events) {
        if (!batch.runId.empty() && record.runId != batch.runId) {
            return invalid("a record of run '" + record.runId + "' in a batch of run '" +
                           batch.runId + "'");
        }
        auto found = runs.find(record.runId);
        if (found == runs.end()) {
            auto run = states_(record.runId);
            if (!run) {
                return {CallbackVerdictKind::UnknownRun,
                        {"run_not_found", "no run '" + record.runId + "'", kProtocolHint}};
            }
            if (run->sessionId != batch.sessionId) {
                return forbidden("run '" + record.runId + "' is not of session '" +
                                 batch.sessionId + "'");
            }
            if (run->status == RunStatus::Queued || run->status == RunStatus::Starting) {
                return invalid("run '" + record.runId + "' is " +
                               std::string(toString(run->status)) +
                               ": its CLI was not started on an executor yet");
            }
            found = runs.emplace(record.runId, RunView{std::move(*run)}).first;
        }
        RunView& view = found->second;
        const std::string where = "run '" + record.runId + "' " +
                                  std::string(toString(record.stream)) + " seq " +
                                  std::to_string(record.seq);
        if (record.seq < 1) return invalid(where + ": seq starts at 1");
        if (record.stream == OutputStream::Exit) {
            if (record.seq != 1) return invalid(where + ": a run has one exit record, seq 1");
            if (view.exitInBatch) return invalid(where + ": a second exit record in the batch");
            view.exitInBatch = true;
            if (record.stdoutLines < 0 || record.stderrLines < 0 ||
                record.stdoutLines > view.stored.position.stdoutSeq + kMaxSeqAhead ||
                record.stderrLines > view.stored.position.stderrSeq + kMaxSeqAhead) {
                return invalid(where + ": line counts " + std::to_string(record.stdoutLines) + "/" +
                               std::to_string(record.stderrLines) + " are out of range (at most " +
                               std::to_string(kMaxSeqAhead) + " past the lines stored)");
            }
            if (view.stored.exitLine && *view.stored.exitLine != toRawOutputRecord(record).line) {
                return invalid(where + ": the run already has another exit record");
            }
            continue;
        }
        std::int64_t& highest = record.stream == OutputStream::Stdout
                                    ? view.stored.position.stdoutSeq
                                    : view.stored.position.stderrSeq;
        if (record.seq > highest + kMaxSeqAhead) {
            return invalid(where + " is more than " + std::to_string(kMaxSeqAhead) +
                           " past the highest stored seq of its stream (" +
                           std::to_string(highest) + ")");
        }
        highest = std::max(highest, record.seq);
    }
    return {};
}

}  // namespace aw
