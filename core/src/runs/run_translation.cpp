#include "agent_worker/core/runs/run_translation.h"

#include <algorithm>
#include <set>

#include "agent_worker/core/event_type.h"
#include "agent_worker/core/executor_protocol.h"
#include "agent_worker/core/lifecycle_ports.h"
#include "agent_worker/core/time_format.h"
#include "agent_worker/event_types.h"

namespace aw {
namespace {

using Json = nlohmann::json;

}  // namespace

PluginOutputGate::Admitted RunTranslation::admit(const Json& output, const std::string& sourceId,
                                                 PluginCall call) {
    PluginOutputGate::Admitted admitted;
    if (output.contains("error")) {
        // The plugin (or the provider-host checking it) rejected the line itself.
        const Json& error = output["error"];
        admitted = gate_.reject(sourceId, error.is_object() ? error.value("message", error.dump()) : error.dump());
        if (output.contains("stdin") && output["stdin"].is_string()) admitted.stdinBytes = output["stdin"];
        admitted.closeStdin = output.value("close_stdin", false);
    } else {
        admitted = gate_.admit(output, sourceId, call);
    }
    if (!admitted.accepted()) {
        log_.note("warning", "a plugin output was rejected",
                  {{"run_id", channel_.run.runId},
                   {"provider", channel_.run.provider},
                   {"raw_event_id", sourceId},
                   {"reason", admitted.rejection}});
    }
    return admitted;
}

std::vector<NewEvent> RunTranslation::eventsOf(const PluginOutputGate::Admitted& admitted, const std::string& sourceId) {
    std::vector<NewEvent> events;
    std::size_t index = 0;
    const auto now = unixMillisNow();
    for (const auto& event : admitted.events) {
        events.push_back({translatedEventId(sourceId, index++), event.value("type", std::string()),
                          event.value("data", Json::object()), now});
    }
    return events;
}

void RunTranslation::translated(const std::vector<AssembledLine>& lines, const Json& outputs) {
    std::vector<NewEvent> events;
    RawProgress progress;
    std::vector<PluginOutputGate::Admitted> admitted;
    for (std::size_t i = 0; i < lines.size(); ++i) {
        const Json output = i < outputs.size() ? outputs[i] : Json::object();
        admitted.push_back(admit(output, lines[i].rawIds.front()));
        auto lineEvents = eventsOf(admitted.back(), lines[i].rawIds.front());
        events.insert(events.end(), std::make_move_iterator(lineEvents.begin()),
                      std::make_move_iterator(lineEvents.end()));
        progress.translatedThrough = std::max(progress.translatedThrough, lines[i].lastSeq);
    }
    dropSettledHumanResponses(events);
    const auto stored = log_.append(channel_.run.runId, std::move(events), progress);
    for (const auto& line : admitted) effects(line);
    for (const auto& event : stored) {
        if (event.type == AW_EVENT_MESSAGE_STOP) unsyncedMessages_.push_back(event.eventId);
    }
    syncIfDue();
}

void RunTranslation::syncIfDue() {
    const auto now = std::chrono::steady_clock::now();
    if (lastSync_ != std::chrono::steady_clock::time_point{} && now - lastSync_ < syncInterval_) return;
    syncUnsynced();
}

void RunTranslation::syncUnsynced() {
    if (unsyncedMessages_.empty()) return;
    lastSync_ = std::chrono::steady_clock::now();
    std::vector<std::string> messages;
    messages.swap(unsyncedMessages_);
    syncAfterMessages(messages);
}

void RunTranslation::quarantined(const AssembledLine& line, int crashes, const std::string& why) {
    const auto& runId = channel_.run.runId;
    log_.note("error", "line quarantined", {{"run_id", runId}, {"raw_event_id", line.rawIds.back()}, {"error", why}});
    Json data{{"raw_event_ids", line.rawIds},
              {"crashes", crashes},
              {"error", why},
              {"line_preview", line.text.substr(0, 200)}};
    log_.append(
        runId,
        {{hostEventId(runId, std::string(AW_EVENT_PROVIDER_QUARANTINE) + ":" + line.rawIds.back()),
          AW_EVENT_PROVIDER_QUARANTINE, data, unixMillisNow()}},
        RawProgress{line.lastSeq, line.rawIds});
}

void RunTranslation::finished(const RawOutputRecord& exitRecord, const CliExit& exit, const Json& output,
                              bool stopRequested) {
    const auto& runId = channel_.run.runId;
    // The terminal event is the run's last: messages still waiting for their sync get it now.
    syncUnsynced();
    auto events = eventsOf(admit(output, exitRecord.eventId, PluginCall::Exit), exitRecord.eventId);
    dropSettledHumanResponses(events);
    const bool terminal = std::any_of(events.begin(), events.end(), [](const NewEvent& event) {
        const auto type = parseEventType(event.type);
        return type && isTerminal(*type);
    });
    if (!terminal) {
        Json data{{"exit_code", exit.exitCode ? Json(*exit.exitCode) : Json(nullptr)},
                  {"signal", exit.signal ? Json(*exit.signal) : Json(nullptr)},
                  {"line_errors", gate_.lineErrors()}};
        if (stopRequested) {
            data["reason"] = "cancelled";
            events.push_back({hostEventId(runId, AW_EVENT_RUN_STOPPED), AW_EVENT_RUN_STOPPED, data, unixMillisNow()});
        } else {
            data["error"] = {{"class", "process_error"},
                             {"message", "the provider plugin gave no outcome for the CLI's exit"}};
            events.push_back({hostEventId(runId, AW_EVENT_RUN_FAILED), AW_EVENT_RUN_FAILED, data, unixMillisNow()});
        }
    }
    reportLostOutput(events, parseOutputLoss(exitRecord.line));
    log_.append(runId, std::move(events));
}

void RunTranslation::reportLostOutput(std::vector<NewEvent>& events, const OutputLoss& loss) {
    if (!loss.any()) return;
    const Json lost{{"stdout_lines", loss.stdoutLines},
                    {"stderr_lines", loss.stderrLines},
                    {"reason", loss.reason}};
    for (auto& event : events) {
        const auto type = parseEventType(event.type);
        if (type && isTerminal(*type)) event.data["output_lost"] = lost;
    }
    log_.note("warning", "the executor gave up some of the run's output",
              {{"run_id", channel_.run.runId}, {"output_lost", lost}});
}

void RunTranslation::effects(const PluginOutputGate::Admitted& admitted) {
    const auto& runId = channel_.run.runId;
    if (!admitted.stdinBytes.empty() || admitted.closeStdin) {
        try {
            channel_.executor.writeStdin(channel_.trace, runId, admitted.stdinBytes, admitted.closeStdin);
        } catch (const std::exception& e) {
            log_.note("warning", "cannot write to the CLI's stdin", {{"run_id", runId}, {"error", e.what()}});
        }
    }
    for (const auto& event : admitted.events) {
        if (event.value("type", std::string()) != AW_EVENT_HUMAN_REQUEST) continue;
        const std::string requestId = event.value("data", Json::object()).value("request_id", std::string());
        log_.appendHostEvent(runId, std::string(AW_EVENT_RUN_WAITING_HUMAN) + ":" + requestId, AW_EVENT_RUN_WAITING_HUMAN, {{"request_id", requestId}});
    }
}

void RunTranslation::dropSettledHumanResponses(std::vector<NewEvent>& events) {
    std::set<std::string> requestedHere;
    std::vector<NewEvent> kept;
    for (auto& event : events) {
        const std::string requestId = event.data.value("request_id", std::string());
        if (event.type == AW_EVENT_HUMAN_REQUEST) requestedHere.insert(requestId);
        if (event.type == AW_EVENT_HUMAN_RESPONSE && !requestedHere.count(requestId)) {
            const auto request = log_.store().humanRequest(channel_.run.runId, requestId);
            if (!request || request->status != "pending") {
                log_.note("information", "dropped a settled human.response",
                          {{"run_id", channel_.run.runId}, {"request_id", requestId}});
                continue;
            }
        }
        kept.push_back(std::move(event));
    }
    events.swap(kept);
}

void RunTranslation::syncAfterMessages(const std::vector<std::string>& messageEventIds) {
    const std::string& messageEventId = messageEventIds.back();
    const auto startedAtMs = unixMillisNow();
    Json data{{"reason", std::string(kSyncReasonMessageStop)},
              {"message_event_id", messageEventId},
              {"message_event_ids", messageEventIds}};
    SyncRecord record{SyncStatus::Succeeded, "", startedAtMs};
    try {
        const auto answer = SyncAnswer::fromJson(
            channel_.executor.sync(channel_.trace, "incremental", std::string(kSyncReasonMessageStop)));
        data["status"] = "succeeded";
        data["files"] = answer.total.uploadedFiles;
        data["bytes"] = answer.total.uploadedBytes;
        data["deleted_files"] = answer.total.deletedFiles;
        data["duration_ms"] = static_cast<std::int64_t>(answer.durationMs);
    } catch (const std::exception& e) {
        record = {SyncStatus::Failed, e.what(), startedAtMs};
        data["status"] = "failed";
        data["error"] = e.what();
    }
    try {
        workers_.recordSync(channel_.run.sessionId, record);
    } catch (const std::exception& e) {
        log_.note("warning", "cannot record the sync", {{"run_id", channel_.run.runId}, {"error", e.what()}});
    }
    log_.appendHostEvent(channel_.run.runId, std::string(AW_EVENT_WORKSPACE_SYNC) + ":" + messageEventId, AW_EVENT_WORKSPACE_SYNC, data);
}

}  // namespace aw
