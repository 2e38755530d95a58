// Translation throughput and latency through an agent-provider-host subprocess versus the
// same plugin called in-process, on the recorded CLI streams; then how long a provider
// killed with SIGKILL takes to serve again. Prints tables; asserts nothing (timings belong
// in benchmarks, not tests).
//   build/tests/aw_provider_bench [--seconds S] [--restarts N] [--only throughput|restart]
//   (make bench)
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <Poco/Logger.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "provider/loaded_provider.h"
#include "provider/provider_process.h"
#include "provider/provider_supervisor.h"
#include "support/plugins.h"
#include "support/temp_dir.h"

namespace {

using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

struct Figures {
    double linesPerSecond = 0;
    double p50Micros = 0;
    double p99Micros = 0;
    double selfCpuMicrosPerLine =
        0;  //!< this process: in-process translation, or agent-host's side
    double childCpuMicrosPerLine = 0;  //!< agent-provider-host's side
};

//! CPU seconds (user + system) this process has used, all threads.
double selfCpuSeconds() {
    rusage usage{};
    ::getrusage(RUSAGE_SELF, &usage);
    return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
           static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

//! CPU seconds (user + system) process `pid` has used (0 for none): /proc/<pid>/stat fields 14, 15.
double processCpuSeconds(pid_t pid) {
    if (pid <= 0) return 0;
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
    std::istringstream fields(text.substr(text.rfind(')') + 2));  // the name may hold spaces
    std::string field;
    double ticks = 0;
    for (int i = 3; i <= 15 && fields >> field; ++i) {
        if (i >= 14) ticks += std::stod(field);
    }
    return ticks / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

//! The recorded stdout streams of one CLI, concatenated (fixtures/<prefix>-*.jsonl).
std::vector<std::string> recordedLines(const fs::path& dir, const std::string& prefix) {
    std::vector<std::string> lines;
    std::vector<fs::path> files;
    for (const auto& entry : fs::directory_iterator(dir)) {
        const auto name = entry.path().filename().string();
        if (name.rfind(prefix + "-", 0) == 0 && entry.path().extension() == ".jsonl" &&
            name.find(".stdin.") == std::string::npos && name.find(".http.") == std::string::npos) {
            files.push_back(entry.path());
        }
    }
    std::sort(files.begin(), files.end());
    for (const auto& file : files) {
        std::ifstream in(file);
        for (std::string line; std::getline(in, line);) lines.push_back(line);
    }
    return lines;
}

Figures summarise(std::vector<double>& batchMicros, std::size_t lines, double seconds) {
    std::sort(batchMicros.begin(), batchMicros.end());
    auto at = [&](double q) {
        return batchMicros.empty() ? 0.0 : batchMicros[static_cast<std::size_t>(q * (batchMicros.size() - 1))];
    };
    return Figures{static_cast<double>(lines) / seconds, at(0.50), at(0.99)};
}

constexpr std::size_t kLinesPerRun = 2000;

const nlohmann::json kRequest = {{"run_id", "bench"},      {"session_id", "bench"},
                                 {"prompt", "benchmark"},  {"approval_mode", "auto"},
                                 {"workspace", "/tmp"}};

//! Whole runs (open, every line in batches, exit, close) until `budget` has passed.
//! `child`: the agent-provider-host serving the calls, whose CPU time is counted apart.
template <typename Feed, typename Open, typename Close>
Figures measure(const std::vector<std::string>& lines, std::size_t batch, Clock::duration budget,
                pid_t child, Open open, Feed feed, Close close) {
    const double selfBefore = selfCpuSeconds(), childBefore = processCpuSeconds(child);
    std::vector<double> batchMicros;
    std::size_t fed = 0;
    const auto started = Clock::now();
    while (Clock::now() - started < budget) {
        auto run = open();
        for (std::size_t start = 0; start < lines.size(); start += batch) {
            const auto end = std::min(lines.size(), start + batch);
            const auto before = Clock::now();
            feed(run, start, end);
            batchMicros.push_back(std::chrono::duration<double, std::micro>(Clock::now() - before).count());
            fed += end - start;
        }
        close(run);
    }
    const double seconds = std::chrono::duration<double>(Clock::now() - started).count();
    Figures figures = summarise(batchMicros, fed, seconds);
    figures.selfCpuMicrosPerLine = (selfCpuSeconds() - selfBefore) * 1e6 / static_cast<double>(fed);
    figures.childCpuMicrosPerLine =
        (processCpuSeconds(child) - childBefore) * 1e6 / static_cast<double>(fed);
    return figures;
}

void validateOutputs(const nlohmann::json& fed) {
    // agent-host validates what the provider-host forwards: the same work as the
    // in-process path's validation.
    for (const auto& output : fed["outputs"]) {
        if (output.contains("error")) continue;
        try {
            aw::validateOutputDocument(output, aw::PluginCall::Feed, 10000);
        } catch (const aw::PluginCallError&) {
        }
    }
}

double millisSince(Clock::time_point start) {
    return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

//! Polls the supervisor's row for `key` until `ready` holds (10 s at most).
template <typename Predicate>
aw::ProviderSnapshot waitForRow(const aw::ProviderSupervisor& supervisor, const std::string& key,
                                Predicate ready) {
    const auto deadline = Clock::now() + std::chrono::seconds(10);
    for (;;) {
        const auto row = supervisor.find(key);
        if (row && ready(*row)) return *row;
        if (Clock::now() > deadline) {
            std::fprintf(stderr, "provider %s: no expected state within 10 s\n", key.c_str());
            std::exit(1);
        }
        std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
}

void printQuantiles(const char* what, std::vector<double> millis) {
    std::sort(millis.begin(), millis.end());
    auto at = [&](double q) { return millis[static_cast<std::size_t>(q * (millis.size() - 1))]; };
    std::printf("%-36s %9.1f %9.1f %9.1f\n", what, at(0.5), at(0.9), millis.back());
}

//! SIGKILLs a supervised provider-host twice (the second crash inside the crash window) and
//! times the way back to healthy. A fresh supervisor per repetition, so each first crash is
//! the first in a while. The supervisor's defaults apply: a crash that only the 2 s
//! heartbeat noticed would show here.
void measureRestarts(int repetitions) {
    const fs::path build = AW_BUILD_DIR;
    const std::string key = "claude-code";
    std::vector<double> coldStart, detected[2], healthy[2];
    for (int i = 0; i < repetitions; ++i) {
        aw::test::TempDir plugins("aw-restart-bench");
        aw::test::dropPlugin(build / "plugins" / (key + ".so"), plugins.path(), key + ".so");
        aw::ProviderSupervisorOptions options;
        options.pluginsDir = plugins.path().string();
        options.providerHostBinary = (build / "bin" / "agent-provider-host").string();
        options.watchDirectory = false;
        aw::ProviderSupervisor supervisor(options);
        const auto started = Clock::now();
        supervisor.start();
        auto row = waitForRow(supervisor, key, [](const aw::ProviderSnapshot& r) {
            return r.status == aw::ProviderStatus::Healthy;
        });
        coldStart.push_back(millisSince(started));
        for (int crash = 0; crash < 2; ++crash) {
            const pid_t killedPid = row.pid;
            const auto killed = Clock::now();
            ::kill(killedPid, SIGKILL);
            waitForRow(supervisor, key, [&](const aw::ProviderSnapshot& r) {
                return r.status != aw::ProviderStatus::Healthy || r.pid != killedPid;
            });
            detected[crash].push_back(millisSince(killed));
            row = waitForRow(supervisor, key, [&](const aw::ProviderSnapshot& r) {
                return r.status == aw::ProviderStatus::Healthy && r.pid != killedPid;
            });
            healthy[crash].push_back(millisSince(killed));
        }
    }
    std::printf("\nprovider restart after SIGKILL (%s, %d repetitions, supervisor defaults)\n",
                key.c_str(), repetitions);
    std::printf("%-36s %9s %9s %9s\n", "ms", "median", "p90", "max");
    printQuantiles("cold start (spawn, load, handshake)", coldStart);
    printQuantiles("1st crash: noticed", detected[0]);
    printQuantiles("1st crash: healthy again", healthy[0]);
    printQuantiles("2nd crash in window: noticed", detected[1]);
    printQuantiles("2nd crash in window: healthy again", healthy[1]);
}

void measureThroughput(double secondsPerCase) {
    const auto budget = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(secondsPerCase));
    const fs::path build = AW_BUILD_DIR;
    const fs::path fixtures = fs::path(AW_SOURCE_DIR) / "tests" / "fixtures" / "providers";
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"claude-code", "claude"}, {"codex-cli", "codex"}, {"opencode", "opencode"}};

    std::printf("%-12s %6s %6s  %12s %9s %9s  %12s %9s %9s  %6s  %8s %8s %8s\n", "provider",
                "lines", "batch", "inproc l/s", "p50 us", "p99 us", "hosted l/s", "p50 us",
                "p99 us", "ratio", "cpu/l in", "host", "ph");
    for (const auto& [provider, prefix] : cases) {
        const auto plugin = (build / "plugins" / (provider + ".so")).string();
        // A run's stream: the recordings, repeated to a realistic length, so the figures
        // measure translation rather than the per-run open/exit round trips.
        const auto recorded = recordedLines(fixtures, prefix);
        if (recorded.empty()) continue;
        std::vector<std::string> lines;
        while (lines.size() < kLinesPerRun) lines.insert(lines.end(), recorded.begin(), recorded.end());
        auto loaded = aw::LoadedProvider::load(plugin);
        auto hosted = aw::ProviderProcess::start(
            {(build / "bin" / "agent-provider-host").string(), plugin, std::chrono::seconds(10),
             std::chrono::seconds(2), 64 * 1024 * 1024});
        for (std::size_t batch : {1, 16, 64, 256}) {
            const auto inProcess = measure(
                lines, batch, budget, 0,
                [&] {
                    nlohmann::json invocation;
                    return loaded->open(kRequest, invocation);
                },
                [&](aw_run* run, std::size_t start, std::size_t end) {
                    for (std::size_t i = start; i < end; ++i) {
                        try {
                            loaded->feed(run, lines[i]);
                        } catch (const aw::PluginCallError&) {
                            // Same work as the hosted path, which reports it per line.
                        }
                    }
                },
                [&](aw_run* run) {
                    loaded->exit(run, 0, 0, false);
                    loaded->close(run);
                });
            int runNumber = 0;
            const auto throughHost = measure(
                lines, batch, budget, hosted->pid(),
                [&] {
                    const std::string run = "bench-" + std::to_string(++runNumber);
                    hosted->call("open", {{"run", run}, {"request", kRequest}}, std::chrono::seconds(10));
                    return run;
                },
                [&](const std::string& run, std::size_t start, std::size_t end) {
                    nlohmann::json chunk = nlohmann::json::array();
                    for (std::size_t i = start; i < end; ++i) chunk.push_back(lines[i]);
                    validateOutputs(hosted->call("feed", {{"run", run}, {"lines", chunk}},
                                                 std::chrono::seconds(10)));
                },
                [&](const std::string& run) {
                    hosted->call("exit", {{"run", run}, {"exit_code", 0}}, std::chrono::seconds(10));
                    hosted->call("close", {{"run", run}}, std::chrono::seconds(10));
                });
            std::printf(
                "%-12s %6zu %6zu  %12.0f %9.1f %9.1f  %12.0f %9.1f %9.1f  %6.2f  %8.1f %8.1f "
                "%8.1f\n",
                provider.c_str(), lines.size(), batch, inProcess.linesPerSecond,
                inProcess.p50Micros, inProcess.p99Micros, throughHost.linesPerSecond,
                throughHost.p50Micros, throughHost.p99Micros,
                throughHost.linesPerSecond / inProcess.linesPerSecond,
                inProcess.selfCpuMicrosPerLine, throughHost.selfCpuMicrosPerLine,
                throughHost.childCpuMicrosPerLine);
            std::fflush(stdout);
        }
    }
    std::printf(
        "\nhosted: one ProviderProcess::call(\"feed\") per batch, as a run feeds its chunks; the "
        "call\n"
        "sends the batch in frames of raw lines, the next before the answer to the previous is\n"
        "read, so agent-host and agent-provider-host work in parallel. Batch 1 is a round trip\n"
        "per line. ratio = hosted lines/s / in-process lines/s (goal: >= 0.7 at a run's\n"
        "batch of 64). cpu/l: CPU microseconds per line, in process (in), and through the\n"
        "provider-host on agent-host's side (host: frames, parsing and checking the outputs)\n"
        "and on agent-provider-host's (ph: the plugin, its output check, frames): on a loaded\n"
        "machine these say more than lines/s (run it under chrt -f 10 for a fair share).\n");
}

}  // namespace

int main(int argc, char** argv) {
    double secondsPerCase = 1.0;
    int restarts = 20;
    std::string only;
    for (int i = 1; i + 1 < argc; ++i) {
        const std::string flag = argv[i];
        if (flag == "--seconds") secondsPerCase = std::stod(argv[i + 1]);
        if (flag == "--restarts") restarts = std::stoi(argv[i + 1]);
        if (flag == "--only") only = argv[i + 1];
    }
    // The supervisor logs every crash and restart; the tables are the output here.
    Poco::Logger::setLevel("", Poco::Message::PRIO_ERROR);
    if (only != "restart") measureThroughput(secondsPerCase);
    if (only != "throughput" && restarts > 0) measureRestarts(restarts);
    return 0;
}
