// system/api_retry -> provider.notice (fixtures/providers/FACTS.md, section 1: `attempt`,
// `max_retries`, `retry_delay_ms`, `error_status` (HTTP code or null), `error`).
#include "claude_code_notice.h"

namespace aw::claude_code {

Json apiRetryNotice(const Json& line) {
    const int64_t attempt = integerAt(line, "attempt");
    const int64_t maxAttempts = integerAt(line, "max_retries");
    const Json* status = member(line, "error_status");
    const bool hasStatus = status && status->is_number_integer();
    std::string error = stringAt(line, "error");
    if (error.empty()) error = "unknown error";
    std::string message = "The model API failed (";
    if (hasStatus) message += "HTTP " + std::to_string(integerAt(line, "error_status")) + ", ";
    message += error + "); Claude Code retries, attempt " + std::to_string(attempt);
    if (maxAttempts > 0) message += " of " + std::to_string(maxAttempts);
    if (const auto delay = numberAt(line, "retry_delay_ms"); delay && *delay >= 0) {
        message += ", in " + std::to_string(static_cast<int64_t>(*delay)) + " ms";
    }
    Json data{{"kind", "api_retry"}, {"message", message}, {"attempt", attempt}};
    if (maxAttempts > 0) data["max_attempts"] = maxAttempts;
    if (hasStatus) data["http_status"] = integerAt(line, "error_status");
    return data;
}

}  // namespace aw::claude_code
