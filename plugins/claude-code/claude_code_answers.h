// The answers of a human's reply to Claude Code's AskUserQuestion tool.
#pragma once

#include "claude_code_request.h"

namespace aw::claude_code {

//! AskUserQuestion takes {"<question text>": "<label>"}; the host may also answer by position
//! (a list in question order). `input` is the tool's input, holding the questions. Throws
//! InvalidInput for answers that cannot be mapped.
Json answersFor(const Json& answers, const Json& input);

}  // namespace aw::claude_code
