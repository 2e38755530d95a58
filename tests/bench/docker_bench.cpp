// Docker worker figures: cold start (create + start until the executor answers /health) and
// warm start (a stopped container started again until it answers), with the tests' own
// dockerd and tiny image (support/docker_daemon.h), or the engine and image given. Prints
// figures; asserts nothing.
//   build/tests/aw_docker_bench [--workers N] [--socket PATH] [--image NAME | --real-image]
// --real-image: the real worker image, agent-worker/worker:<version>, first brought up to
// date in the bench's engine by scripts/build-worker-image.sh (a no-op when it is; the
// first build into a fresh engine takes minutes). The engine: --socket, else DOCKER_HOST
// (unix://...), else a dockerd of the bench's own.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "agent_worker/core/workspace_prefix.h"
#include "runtime/docker_worker_runtime.h"
#include "support/callback_sink.h"
#include "support/docker_daemon.h"
#include "support/temp_dir.h"

namespace {

using Clock = std::chrono::steady_clock;

double millisSince(Clock::time_point start) {
    return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

void report(const char* what, std::vector<double> samples) {
    std::sort(samples.begin(), samples.end());
    double sum = 0;
    for (double sample : samples) sum += sample;
    std::printf("%-34s n=%zu  median %7.1f ms  mean %7.1f ms  max %7.1f ms\n", what, samples.size(),
                samples[samples.size() / 2], sum / samples.size(), samples.back());
}

//! Builds (or confirms) the real worker image in the engine at `socket`; false when the
//! build script fails (it says why).
bool buildRealImage(const std::string& socket) {
    const std::string command = "DOCKER_HOST='unix://" + socket +
                                "' '" AW_SOURCE_DIR "/scripts/build-worker-image.sh' '" AW_BUILD_DIR
                                "' >&2";
    std::fprintf(stderr, "docker bench: %s\n", command.c_str());
    const auto start = Clock::now();
    const int status = std::system(command.c_str());
    std::fprintf(stderr, "docker bench: worker image ready in %.1f s\n", millisSince(start) / 1000);
    return status == 0;
}

}  // namespace

int main(int argc, char** argv) {
    int workers = 10;
    bool realImage = false;
    std::string socket, image;
    for (int i = 1; i < argc; ++i) {
        const std::string flag = argv[i];
        if (flag == "--real-image") {
            realImage = true;
            continue;
        }
        if (i + 1 >= argc) break;
        if (flag == "--workers") workers = std::max(1, std::stoi(argv[i + 1]));
        if (flag == "--socket") socket = argv[i + 1];
        if (flag == "--image") image = argv[i + 1];
        ++i;
    }
    const char* dockerHost = std::getenv("DOCKER_HOST");
    if (realImage && socket.empty() && dockerHost &&
        std::string(dockerHost).rfind("unix://", 0) == 0)
        socket = std::string(dockerHost).substr(7);
    std::unique_ptr<aw::test::DockerDaemon> daemon;
    if (socket.empty()) {
        daemon = std::make_unique<aw::test::DockerDaemon>();
        socket = daemon->socketPath();
        if (!realImage) image = aw::test::importTestWorkerImage(socket, "aw-bench/worker:1").name;
    }
    if (realImage) {
        image = "agent-worker/worker:" + aw::projectVersion();
        if (!buildRealImage(socket)) return 1;
    }
    aw::test::TempDir data("awdb");
    aw::test::CallbackSink sink;
    aw::DockerRuntimeOptions options;
    options.socketPath = socket;
    options.image = image;
    options.hostId = "bench";
    options.workersDir = data / "workers";
    options.objectsDir = data / "objects";
    options.callbackUrl = sink.url();
    options.stopGrace = std::chrono::seconds(2);
    aw::DockerWorkerRuntime runtime(options);
    std::printf("docker workers: engine %s, image %s, %d workers one after another\n",
                socket.c_str(), image.c_str(), workers);

    std::vector<aw::SessionWorker> all;
    std::vector<double> cold, stop, warm, remove;
    for (int i = 0; i < workers; ++i) {
        aw::SessionWorker worker;
        worker.sessionId = "bench-" + std::to_string(i);
        worker.tenantId = "bench";
        worker.workspaceS3Prefix =
            aw::computeWorkspacePrefix("agent-worker", "root", "bench", worker.sessionId).uri();
        auto start = Clock::now();
        runtime.create(worker);
        runtime.start(worker);
        cold.push_back(millisSince(start));
        start = Clock::now();
        runtime.stop(worker);
        stop.push_back(millisSince(start));
        start = Clock::now();
        runtime.start(worker);
        warm.push_back(millisSince(start));
        all.push_back(worker);
    }
    for (const auto& worker : all) {
        const auto start = Clock::now();
        runtime.remove(worker);
        remove.push_back(millisSince(start));
    }
    report("cold start (create -> /health)", cold);
    report("stop (SIGTERM, executor exits)", stop);
    report("warm start (stopped -> /health)", warm);
    report("remove (running, force)", remove);
    return 0;
}
