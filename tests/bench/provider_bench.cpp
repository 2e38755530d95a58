// Translation throughput and latency through an agent-provider-host subprocess versus the
// same plugin called in-process, on the recorded CLI streams; then how long a provider
// killed with SIGKILL takes to serve again. Prints tables; asserts nothing (timings belong
// in benchmarks, not tests).
//   build/tests/aw_provider_bench [--seconds S] [--restarts N] [--only throughput|restart]
//     [--provider NAME] [--batch N]   (one provider or batch only, e.g. to profile it)
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
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "agent_worker/core/runs/plugin_session.h"
#include "db/database.h"
#include "db/migrator.h"
#include "db/soci_run_store.h"
#include "provider/loaded_provider.h"
#include "provider/provider_supervisor.h"
#include "provider/supervised_provider_registry.h"
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

//! A provider served the way the run engine has it: a supervised agent-provider-host behind
//! the ProviderRegistry port, and a store for the replay after a crash (none happens here).
struct HostedProvider {
    HostedProvider(const fs::path& build, const std::string& provider)
        : plugins("aw-provider-bench"), data("aw-provider-bench-db") {
        aw::test::dropPlugin(build / "plugins" / (provider + ".so"), plugins.path(),
                             provider + ".so");
        aw::ProviderSupervisorOptions options;
        options.pluginsDir = plugins.path().string();
        options.providerHostBinary = (build / "bin" / "agent-provider-host").string();
        options.watchDirectory = false;
        supervisor = std::make_unique<aw::ProviderSupervisor>(options);
        supervisor->start();
        pid = waitForRow(*supervisor, provider, [](const aw::ProviderSnapshot& row) {
                  return row.status == aw::ProviderStatus::Healthy;
              }).pid;
        registry =
            std::make_unique<aw::SupervisedProviderRegistry>(*supervisor, std::chrono::seconds(10));
        database = std::make_unique<aw::Database>(
            aw::parseDatabaseUrl("sqlite://" + (data.path() / "aw.db").string()), 1,
            std::chrono::seconds(10));
        aw::applyMigrations(*database, build / "sql");
        store = std::make_unique<aw::SociRunStore>(*database);
    }

    aw::test::TempDir plugins, data;
    std::unique_ptr<aw::ProviderSupervisor> supervisor;
    pid_t pid = 0;
    std::unique_ptr<aw::SupervisedProviderRegistry> registry;
    std::unique_ptr<aw::Database> database;
    std::unique_ptr<aw::SociRunStore> store;
};

//! Hosted runs through PluginSession, as the run engine feeds them: chunks of `chunk` lines
//! (PluginSessionOptions::feedChunk), `feedLines` lines per feed (what the engine found
//! ready), each answered chunk's outputs checked as the run's translation checks them.
Figures measureHosted(HostedProvider& hosted, const std::string& provider,
                      const std::vector<std::string>& lines, std::size_t chunk,
                      std::size_t feedLines, Clock::duration budget) {
    std::vector<aw::AssembledLine> assembled;
    for (std::size_t i = 0; i < lines.size(); ++i)
        assembled.push_back({{"bench/stdout/" + std::to_string(i)}, lines[i]});
    aw::PluginSessionOptions options;
    options.feedChunk = chunk;
    int runNumber = 0;
    const auto check = [](const std::vector<aw::AssembledLine>&, const nlohmann::json& outputs) {
        validateOutputs({{"outputs", outputs}});
    };
    const auto quarantined = [](const aw::AssembledLine&, int, const std::string&) {};
    return measure(
        lines, feedLines, budget, hosted.pid,
        [&] {
            auto session = std::make_unique<aw::PluginSession>(
                options, *hosted.registry, *hosted.store, "bench-" + std::to_string(++runNumber),
                provider);
            session->acquire();
            session->open(kRequest);
            return session;
        },
        [&](std::unique_ptr<aw::PluginSession>& session, std::size_t start, std::size_t end) {
            const std::vector<aw::AssembledLine> ready(
                assembled.begin() + static_cast<std::ptrdiff_t>(start),
                assembled.begin() + static_cast<std::ptrdiff_t>(end));
            session->feed(ready, static_cast<std::int64_t>(end), check, quarantined);
        },
        [&](std::unique_ptr<aw::PluginSession>& session) {
            session->exit({0, std::nullopt, 0}, false, static_cast<std::int64_t>(lines.size()));
            session.reset();  // closes the session
        });
}

void measureThroughput(double secondsPerCase, const std::string& onlyProvider,
                       std::size_t onlyBatch) {
    const auto budget = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(secondsPerCase));
    const fs::path build = AW_BUILD_DIR;
    const fs::path fixtures = fs::path(AW_SOURCE_DIR) / "tests" / "fixtures" / "providers";
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"claude-code", "claude"}, {"codex-cli", "codex"}, {"opencode", "opencode"}};

    std::printf("%-12s %6s %6s  %11s %8s  %11s %8s %6s  %11s %8s %6s  %7s %7s %7s\n", "provider",
                "lines", "batch", "inproc l/s", "p50 us", "1 chunk l/s", "p50 us", "ratio",
                "4 chunks", "p50 us", "ratio", "cpu in", "host", "ph");
    for (const auto& [provider, prefix] : cases) {
        if (!onlyProvider.empty() && provider != onlyProvider) continue;
        const auto plugin = (build / "plugins" / (provider + ".so")).string();
        // A run's stream: the recordings, repeated to a realistic length, so the figures
        // measure translation rather than the per-run open/exit round trips.
        const auto recorded = recordedLines(fixtures, prefix);
        if (recorded.empty()) continue;
        std::vector<std::string> lines;
        while (lines.size() < kLinesPerRun) lines.insert(lines.end(), recorded.begin(), recorded.end());
        auto loaded = aw::LoadedProvider::load(plugin);
        HostedProvider hosted(build, provider);
        for (std::size_t batch : {1, 16, 64, 256}) {
            if (onlyBatch != 0 && batch != onlyBatch) continue;
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
            const auto oneChunk = measureHosted(hosted, provider, lines, batch, batch, budget);
            const auto fourChunks =
                measureHosted(hosted, provider, lines, batch, 4 * batch, budget);
            std::printf(
                "%-12s %6zu %6zu  %11.0f %8.1f  %11.0f %8.1f %6.2f  %11.0f %8.1f %6.2f  %7.1f "
                "%7.1f %7.1f\n",
                provider.c_str(), lines.size(), batch, inProcess.linesPerSecond,
                inProcess.p50Micros, oneChunk.linesPerSecond, oneChunk.p50Micros,
                oneChunk.linesPerSecond / inProcess.linesPerSecond, fourChunks.linesPerSecond,
                fourChunks.p50Micros, fourChunks.linesPerSecond / inProcess.linesPerSecond,
                inProcess.selfCpuMicrosPerLine, fourChunks.selfCpuMicrosPerLine,
                fourChunks.childCpuMicrosPerLine);
            std::fflush(stdout);
        }
    }
    std::printf(
        "\nhosted: runs through PluginSession and a supervised agent-provider-host, as the run\n"
        "engine has them, in chunks of `batch` lines (feedChunk). `1 chunk`: each feed is one\n"
        "chunk (lines trickling in); `4 chunks`: each feed is four (a backlog), pipelined: the\n"
        "next chunks are sent before an answered one's outputs are checked, so the two processes\n"
        "work in parallel. Within a chunk, lines go in frames of raw lines. p50 us: per feed.\n"
        "ratio = hosted lines/s / in-process lines/s (goal: >= 0.7 at batch 64). cpu: CPU\n"
        "microseconds per line, in process (in), and, for 4 chunks, on agent-host's side (host:\n"
        "frames, parsing and checking the outputs) and agent-provider-host's (ph: the plugin, its\n"
        "output check, frames): on a loaded machine these say more than lines/s (run it under\n"
        "chrt -f 10 for a fair share).\n");
}

}  // namespace

int main(int argc, char** argv) {
    double secondsPerCase = 1.0;
    int restarts = 20;
    std::string only, provider;
    std::size_t batch = 0;
    for (int i = 1; i + 1 < argc; ++i) {
        const std::string flag = argv[i];
        if (flag == "--seconds") secondsPerCase = std::stod(argv[i + 1]);
        if (flag == "--restarts") restarts = std::stoi(argv[i + 1]);
        if (flag == "--only") only = argv[i + 1];
        if (flag == "--provider") provider = argv[i + 1];
        if (flag == "--batch") batch = std::stoul(argv[i + 1]);
    }
    // The supervisor logs every crash and restart; the tables are the output here.
    Poco::Logger::setLevel("", Poco::Message::PRIO_ERROR);
    if (only != "restart") measureThroughput(secondsPerCase, provider, batch);
    if (only != "throughput" && restarts > 0) measureRestarts(restarts);
    return 0;
}
