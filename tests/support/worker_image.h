// The real worker image for end-to-end tests: scripts/build-worker-image.sh (what `make
// worker-image` runs) built into a test's own dockerd (DOCKER_HOST pointing at it), from the
// image cache (~/.cache/agent-worker/image: about 25 s when warm; a cold cache runs
// debootstrap for minutes). No registry, no `docker` engine of the machine.
#pragma once

#include <chrono>
#include <filesystem>
#include <string>

namespace aw::test {

//! Runs the build script against the engine on `socketPath` and checks that it made `image`
//! (agent-worker/worker:<version>); the script's output goes to `logFile`. Throws
//! std::runtime_error with the end of that output when the build fails or takes longer than
//! `timeout`: a test that needs the image fails, it never skips.
void buildWorkerImage(const std::string& socketPath, const std::string& image,
                      const std::filesystem::path& logFile,
                      std::chrono::seconds timeout = std::chrono::seconds(900));

}  // namespace aw::test
