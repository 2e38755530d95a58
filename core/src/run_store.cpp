#include "agent_worker/core/run_store.h"

#include "agent_worker/core/time_format.h"

namespace aw {
namespace {

nlohmann::json isoOrNull(std::int64_t ms) {
    return ms > 0 ? nlohmann::json(isoUtcMillis(ms)) : nlohmann::json(nullptr);
}

}  // namespace

nlohmann::json RunRecord::toJson() const {
    nlohmann::json error = nullptr;
    if (!errorCode.empty()) error = {{"code", errorCode}, {"message", errorMessage}};
    return {{"run_id", runId},
            {"session_id", sessionId},
            {"provider", provider},
            {"model", model.empty() ? nlohmann::json(nullptr) : nlohmann::json(model)},
            {"approval_mode", approvalMode},
            {"status", toString(status)},
            {"attempts", attempts},
            {"usage", usage},
            {"error", error},
            {"provider_session_id",
             providerSessionId.empty() ? nlohmann::json(nullptr) : nlohmann::json(providerSessionId)},
            {"stop_requested", stopRequestedAtMs > 0},
            {"created_at", isoOrNull(createdAtMs)},
            {"started_at", isoOrNull(startedAtMs)},
            {"finished_at", isoOrNull(finishedAtMs)}};
}

nlohmann::json QueueEntry::toJson() const {
    return {{"queue_id", queueId},
            {"enqueue_key", enqueueKey},
            {"run_id", runId},
            {"session_id", sessionId},
            {"status", toString(status)},
            {"attempts", attempts},
            {"max_attempts", maxAttempts},
            {"available_at", isoOrNull(availableAtMs)},
            {"locked_by", lockedBy.empty() ? nlohmann::json(nullptr) : nlohmann::json(lockedBy)},
            {"lock_expires_at", isoOrNull(lockExpiresAtMs)},
            {"last_error", lastError.empty() ? nlohmann::json(nullptr) : nlohmann::json(lastError)},
            {"created_at", isoOrNull(createdAtMs)},
            {"updated_at", isoOrNull(updatedAtMs)}};
}

nlohmann::json HumanLoopRecord::toJson() const {
    return {{"run_id", runId},     {"request_id", requestId},   {"kind", kind},
            {"tool", tool},        {"input", input},            {"options", options},
            {"status", status},    {"decision", decision.empty() ? nlohmann::json(nullptr) : nlohmann::json(decision)},
            {"created_at", isoOrNull(createdAtMs)}, {"answered_at", isoOrNull(answeredAtMs)}};
}

std::vector<EventText> RunStore::eventTexts(const std::string& runId, std::int64_t afterSeq,
                                            std::size_t limit) {
    std::vector<EventText> texts;
    for (const auto& event : events(runId, afterSeq, limit)) {
        texts.push_back({event.seq, event.type,
                         event.toJson().dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)});
    }
    return texts;
}

}  // namespace aw
