#include "support/worker_image.h"

#include <stdexcept>

#include "process/subprocess.h"
#include "runtime/docker_engine.h"
#include "support/temp_dir.h"

namespace aw::test {

void buildWorkerImage(const std::string& socketPath, const std::string& image,
                      const std::filesystem::path& logFile, std::chrono::seconds timeout) {
    SubprocessOptions options;
    options.argv = {"bash", std::string(AW_SOURCE_DIR) + "/scripts/build-worker-image.sh",
                    AW_BUILD_DIR};
    options.env["DOCKER_HOST"] = "unix://" + socketPath;
    options.pipeStdout = false;
    options.stdoutFile = logFile.string();
    options.stderrFile = logFile.string();
    Subprocess build(options);
    const auto status = build.waitFor(timeout);
    const auto tail = [&] {
        const std::string log = readText(logFile);
        return log.size() > 3000 ? log.substr(log.size() - 3000) : log;
    };
    if (!status) {
        build.terminate(std::chrono::seconds(5));
        throw std::runtime_error("scripts/build-worker-image.sh did not finish within " +
                                 std::to_string(timeout.count()) + " s: " + tail());
    }
    if (!status->exitedNormally() || status->code != 0) {
        throw std::runtime_error("scripts/build-worker-image.sh failed (" + status->describe() +
                                 "): " + tail());
    }
    if (!DockerEngine(socketPath).imageExists(image)) {
        throw std::runtime_error("scripts/build-worker-image.sh succeeded but the engine has no " +
                                 image + ": " + tail());
    }
}

}  // namespace aw::test
