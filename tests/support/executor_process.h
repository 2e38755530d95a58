// agent-executor started by a test as the local runtime starts it: its two tokens on stdin.
#pragma once

#include <memory>
#include <string>

#include "process/subprocess.h"

namespace aw::test {

//! Starts `options` (an agent-executor command line) and hands it its tokens.
std::unique_ptr<Subprocess> startExecutor(SubprocessOptions options,
                                          const std::string& executorToken,
                                          const std::string& callbackToken);

}  // namespace aw::test
