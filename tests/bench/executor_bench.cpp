// agent-executor figures: output delivery (lines/s from a process printing fast to
// acknowledged callbacks) and workspace sync of a 10k-file workspace (files/s, MB/s), full
// and incremental with one change. Prints figures; asserts nothing.
//   build/tests/aw_executor_bench [--lines N] [--files N]      (make bench)
#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>

#include "executor/http_executor_client.h"
#include "process/subprocess.h"
#include "support/callback_sink.h"
#include "support/temp_dir.h"

namespace {

using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

double secondsSince(Clock::time_point start) {
    return std::chrono::duration<double>(Clock::now() - start).count();
}

}  // namespace

int main(int argc, char** argv) {
    long lines = 200000;
    int files = 10000;
    for (int i = 1; i + 1 < argc; ++i) {
        if (std::string(argv[i]) == "--lines") lines = std::stol(argv[i + 1]);
        if (std::string(argv[i]) == "--files") files = std::stoi(argv[i + 1]);
    }
    aw::test::TempDir dir("aw-xbench");
    aw::test::CallbackSink sink;
    for (const char* sub : {"workspace", "home", "objects", "state"})
        fs::create_directories(dir / sub);
    aw::SubprocessOptions options;
    options.argv = {std::string(AW_BUILD_DIR) + "/bin/agent-executor",
                    "--socket",
                    (dir / "x.sock").string(),
                    "--spool-dir",
                    (dir / "state" / "spool").string(),
                    "--callback-url",
                    sink.url(),
                    "--executor-id",
                    "bench",
                    "--session-id",
                    "bench",
                    "--workspace",
                    (dir / "workspace").string(),
                    "--home",
                    (dir / "home").string(),
                    "--objects-dir",
                    (dir / "objects").string(),
                    "--bucket",
                    "aw",
                    "--key-prefix",
                    "root/t/bench/",
                    "--state-dir",
                    (dir / "state").string()};
    options.env = {{"AW_LOG_LEVEL", "warning"}};
    options.pipeStdin = true;  // the tokens
    options.stderrFile = (dir / "executor.log").string();
    aw::Subprocess executor(options);
    executor.writeStdin("t\nc\n");
    executor.closeStdin();
    if (!executor.readLine(std::chrono::seconds(10))) {
        std::fprintf(stderr, "agent-executor did not start\n");
        return 1;
    }
    aw::HttpExecutorClientOptions clientOptions;
    clientOptions.defaultTimeout = std::chrono::minutes(10);
    aw::HttpExecutorClient client({"unix://" + (dir / "x.sock").string(), "t"}, clientOptions);
    const aw::TraceContext trace{"", "bench", "bench", ""};

    // Output delivery: from start until the exit record (after every line) is acknowledged.
    auto started = Clock::now();
    client.startRun(
        trace, {{"run_id", "flood"},
                {"argv", {"sh", "-c", "seq 1 " + std::to_string(lines) + " | sed 's/^/line /'"}}});
    if (!sink.waitForExit("flood", std::chrono::minutes(5))) {
        std::fprintf(stderr, "the run's exit never arrived\n");
        return 1;
    }
    const double deliverySeconds = secondsSince(started);
    const auto delivered = sink.events("flood", "stdout").size();
    std::printf(
        "output delivery: %zu lines in %.2f s = %.0f lines/s (all acknowledged, in order: %s)\n",
        delivered, deliverySeconds, static_cast<double>(delivered) / deliverySeconds,
        delivered == static_cast<std::size_t>(lines) ? "yes" : "NO");

    // Sync: a workspace of `files` files of 1 KiB in 100 directories.
    const std::string content(1024, 'x');
    for (int i = 0; i < files; ++i) {
        const auto path = dir / "workspace" / ("d" + std::to_string(i % 100)) /
                          ("f" + std::to_string(i) + ".txt");
        fs::create_directories(path.parent_path());
        std::ofstream(path) << content;
    }
    const double megabytes = static_cast<double>(files) * 1024 / (1024 * 1024);
    started = Clock::now();
    auto full = client.sync(trace, "full", "bench");
    double seconds = secondsSince(started);
    std::printf(
        "full sync:        %d files (%.1f MB) in %.2f s = %.0f files/s, %.1f MB/s (uploaded %d)\n",
        files, megabytes, seconds, files / seconds, megabytes / seconds,
        full["uploaded_files"].get<int>());
    started = Clock::now();
    auto same = client.sync(trace, "incremental", "bench");
    seconds = secondsSince(started);
    std::printf("incremental, no change:  %.3f s (uploaded %d, unchanged %d)\n", seconds,
                same["uploaded_files"].get<int>(), same["unchanged_files"].get<int>());
    std::ofstream(dir / "workspace" / "d7" / "f7.txt") << "changed";
    started = Clock::now();
    auto one = client.sync(trace, "incremental", "bench");
    seconds = secondsSince(started);
    std::printf("incremental, one change: %.3f s (uploaded %d, unchanged %d)\n", seconds,
                one["uploaded_files"].get<int>(), one["unchanged_files"].get<int>());
    executor.terminate();
    return 0;
}
