// agent-executor started by a test as the local runtime starts it: its two tokens on stdin.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "process/subprocess.h"

namespace aw::test {

//! Starts `options` (an agent-executor command line) and hands it its tokens, then
//! `moreLines` (the s3 store's credentials).
std::unique_ptr<Subprocess> startExecutor(SubprocessOptions options,
                                          const std::string& executorToken,
                                          const std::string& callbackToken,
                                          const std::vector<std::string>& moreLines = {});

}  // namespace aw::test
