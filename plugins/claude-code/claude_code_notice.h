// Claude Code's progress notices (a retried API call) as provider.notice events, so a chat UI
// can say why nothing happens while the CLI waits to retry.
#pragma once

#include "claude_code_request.h"

namespace aw::claude_code {

//! The provider.notice data of a `system/api_retry` line: {kind: "api_retry", message,
//! attempt, max_attempts, http_status?}. A retry is not a failure: the run goes on, and only
//! the CLI's `result` (or its death) decides how it ends.
Json apiRetryNotice(const Json& line);

}  // namespace aw::claude_code
