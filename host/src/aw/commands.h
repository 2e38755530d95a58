// aw's commands. Each returns the exit code aw ends with (api_client.h's ExitCode) and
// throws AwError for what it cannot do.
#pragma once

#include <ostream>

#include "aw/api_client.h"
#include "aw/cli_options.h"

namespace aw::cli {

int runCommand(const Invocation& invocation, std::ostream& out);

}  // namespace aw::cli
