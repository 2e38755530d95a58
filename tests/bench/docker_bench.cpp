// Docker worker figures: cold start (create + start until the executor answers /health) and
// warm start (a stopped container started again until it answers), with the tests' own
// dockerd and tiny image (support/docker_daemon.h), or the engine and image given. Prints
// figures; asserts nothing.
//   build/tests/aw_docker_bench [--workers N] [--socket PATH --image NAME]
#include <algorithm>
#include <chrono>
#include <cstdio>
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

}  // namespace

int main(int argc, char** argv) {
    int workers = 10;
    std::string socket, image;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string flag = argv[i];
        if (flag == "--workers") workers = std::max(1, std::stoi(argv[i + 1]));
        if (flag == "--socket") socket = argv[i + 1];
        if (flag == "--image") image = argv[i + 1];
    }
    std::unique_ptr<aw::test::DockerDaemon> daemon;
    if (socket.empty()) {
        daemon = std::make_unique<aw::test::DockerDaemon>();
        socket = daemon->socketPath();
        image = aw::test::importTestWorkerImage(socket, "aw-bench/worker:1").name;
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
