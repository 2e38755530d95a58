#include "agent_worker/core/runs/stop_escalation.h"

namespace aw {

bool StopEscalation::begin(Clock::time_point now) {
    if (begun_) return false;
    begun_ = true;
    since_ = now;
    return true;
}

std::optional<std::string> StopEscalation::due(Clock::time_point now) {
    if (!begun_ || sent_ >= 2) return std::nullopt;
    const auto waited = now - since_;
    if (sent_ == 0 && waited >= grace_) {
        sent_ = 1;
        return "TERM";
    }
    if (sent_ == 1 && waited >= 2 * grace_) {
        sent_ = 2;
        return "KILL";
    }
    return std::nullopt;
}

}  // namespace aw
