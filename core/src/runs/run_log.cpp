#include "agent_worker/core/runs/run_log.h"

#include "agent_worker/core/time_format.h"
#include "agent_worker/event_types.h"

namespace aw {

std::vector<StoredEvent> RunLog::append(const std::string& runId, std::vector<NewEvent> events,
                                        const RawProgress& progress) {
    if (events.empty() && progress.translatedThrough == 0 && progress.quarantined.empty())
        return {};
    auto stored = store_.appendEvents(runId, std::move(events), progress, unixMillisNow());
    if (!stored.empty() && published_) published_(runId, stored);
    return stored;
}

std::vector<StoredEvent> RunLog::appendHostEvent(const std::string& runId, const std::string& name,
                                                 const std::string& type, nlohmann::json data) {
    return append(runId, {{hostEventId(runId, name), type, std::move(data), unixMillisNow()}});
}

void RunLog::failRun(const std::string& runId, const std::string& code, const std::string& message) {
    appendHostEvent(runId, AW_EVENT_RUN_FAILED, AW_EVENT_RUN_FAILED,
                    {{"exit_code", nullptr},
                     {"signal", nullptr},
                     {"error", {{"class", code}, {"message", message}}}});
}

}  // namespace aw
