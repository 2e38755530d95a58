// Connection figures of a real agent-host (SQLite). Prints; asserts nothing.
//  1. Kept-alive clients: N connections each ask GET /health and GET /v1/runs/{rid} at once;
//     how many were answered, and in how long.
//  2. Event-stream subscribers: S connections follow one run (SSE); the bench plays the
//     executor and posts recorded Claude lines in batches of 64 while a probe asks GET
//     /health on a connection of its own. Printed: the host's threads and memory before and
//     with the subscribers, event frames delivered per second over all of them, and the
//     probe's latency while they stream.
//   build/tests/aw_connections_bench [--clients N] [--subscribers S] [--lines L]
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "support/agent_host_harness.h"
#include "support/http_client.h"
#include "support/plugins.h"
#include "support/raw_connection.h"
#include "support/temp_dir.h"

namespace {

using Clock = std::chrono::steady_clock;
using Json = nlohmann::json;
namespace fs = std::filesystem;
using aw::test::HttpCall;
using aw::test::RawConnection;

constexpr const char* kExecutorToken = "bench-executor-token";
constexpr const char* kClientAuth = "Authorization: Bearer bench-client-token\r\n";

struct Options {
    int clients = 1000;
    int subscribers = 10000;
    int lines = 640;
};

double msSince(Clock::time_point from, Clock::time_point to = Clock::now()) {
    return std::chrono::duration<double, std::milli>(to - from).count();
}

//! Threads and resident memory of a process, from /proc.
struct ProcessFigures {
    int threads = 0;
    long rssKiB = 0;
};

ProcessFigures processFigures(pid_t pid) {
    ProcessFigures figures;
    const fs::path proc = "/proc/" + std::to_string(pid);
    for ([[maybe_unused]] const auto& task : fs::directory_iterator(proc / "task")) ++figures.threads;
    std::ifstream status(proc / "status");
    for (std::string line; std::getline(status, line);) {
        if (line.rfind("VmRSS:", 0) == 0) figures.rssKiB = std::stol(line.substr(6));
    }
    return figures;
}

double percentile(std::vector<double> values, double q) {
    if (values.empty()) return 0;
    std::sort(values.begin(), values.end());
    return values[std::min(values.size() - 1, static_cast<std::size_t>(q * static_cast<double>(values.size() - 1) + 0.5))];
}

//! Recorded assistant text lines of Claude Code (each becomes message.start/delta/stop).
std::vector<Json> assistantLines() {
    const fs::path file = fs::path(AW_SOURCE_DIR) / "tests/fixtures/providers/claude-basic.jsonl";
    std::vector<Json> lines;
    std::ifstream in(file);
    for (std::string text; std::getline(in, text);) {
        const Json line = Json::parse(text, nullptr, false);
        if (line.is_object() && line.value("type", "") == "assistant" &&
            line["message"]["content"].is_array() && line["message"]["content"].size() == 1 &&
            line["message"]["content"][0].value("type", "") == "text") {
            lines.push_back(line);
        }
    }
    if (lines.empty()) throw std::runtime_error("no assistant text line in " + file.string());
    return lines;
}

std::string callbackBody(const std::string& sessionId, const std::string& runId, const std::vector<Json>& lines,
                         int first, int count) {
    Json events = Json::array();
    for (int seq = first; seq < first + count; ++seq) {
        Json line = lines[static_cast<std::size_t>(seq) % lines.size()];
        line["message"]["id"] = "msg_bench_" + std::to_string(seq);
        line["session_id"] = "bench-claude-session";
        events.push_back({{"event_id", runId + "/stdout/" + std::to_string(seq)},
                          {"run_id", runId},
                          {"stream", "stdout"},
                          {"seq", seq},
                          {"line", line.dump()}});
    }
    return Json{{"executor_id", "bench"}, {"session_id", sessionId}, {"run_id", runId}, {"events", events}}.dump();
}

//! Reads every subscriber on one epoll, counting event frames (`\nid: `) per connection.
class SubscriberReader {
public:
    explicit SubscriberReader(std::vector<RawConnection>& connections)
        : connections_(connections), frames_(connections.size(), 0), lastFrameAt_(connections.size()) {
        epoll_ = ::epoll_create1(EPOLL_CLOEXEC);
        for (std::size_t i = 0; i < connections.size(); ++i) {
            frames_[i] = countFrames(connections[i].received());  // read while subscribing
            epoll_event event{};
            event.events = EPOLLIN;
            event.data.u64 = i;
            ::epoll_ctl(epoll_, EPOLL_CTL_ADD, connections[i].fd(), &event);
        }
        thread_ = std::thread([this] { run(); });
    }
    ~SubscriberReader() {
        stop_ = true;
        thread_.join();
        ::close(epoll_);
    }
    //! Frames counted so far on the connection that has the fewest.
    long fewest() const { return *std::min_element(frames_.begin(), frames_.end()); }
    long total() const {
        long sum = 0;
        for (const auto& count : frames_) sum += count;
        return sum;
    }
    Clock::time_point lastFrame() const { return *std::max_element(lastFrameAt_.begin(), lastFrameAt_.end()); }

private:
    static long countFrames(const std::string& text) {
        long found = 0;
        for (auto at = text.find("\nid: "); at != std::string::npos; at = text.find("\nid: ", at + 1)) ++found;
        return found;
    }

    void run() {
        std::vector<epoll_event> events(1024);
        std::vector<std::string> tails(connections_.size());
        char buffer[65536];
        while (!stop_) {
            const int ready = ::epoll_wait(epoll_, events.data(), static_cast<int>(events.size()), 100);
            for (int e = 0; e < ready; ++e) {
                const auto i = events[e].data.u64;
                const ssize_t n = ::recv(connections_[i].fd(), buffer, sizeof buffer, 0);
                if (n <= 0) {
                    ::epoll_ctl(epoll_, EPOLL_CTL_DEL, connections_[i].fd(), nullptr);
                    continue;
                }
                std::string text = tails[i] + std::string(buffer, static_cast<std::size_t>(n));
                const long found = countFrames(text);
                tails[i] = text.substr(text.size() > 4 ? text.size() - 4 : 0);
                if (found > 0) {
                    frames_[i] += found;
                    lastFrameAt_[i] = Clock::now();
                }
            }
        }
    }

    std::vector<RawConnection>& connections_;
    std::vector<long> frames_;  // written by the reader thread only; read after it settles
    std::vector<Clock::time_point> lastFrameAt_;
    int epoll_ = -1;
    std::atomic<bool> stop_{false};
    std::thread thread_;
};

void keptAliveClients(unsigned short port, const std::string& runId, int count) {
    std::vector<RawConnection> clients;
    clients.reserve(static_cast<std::size_t>(count));
    for (int i = 0; i < count; ++i) clients.emplace_back(port);
    const auto start = Clock::now();
    for (auto& client : clients) {
        client.send("GET /health HTTP/1.1\r\nHost: b\r\n\r\nGET /v1/runs/" + runId + " HTTP/1.1\r\nHost: b\r\n" +
                    kClientAuth + "\r\n");
    }
    int answered = 0;
    for (auto& client : clients) {
        const auto health = client.readResponse(std::chrono::seconds(10));
        const auto run = client.readResponse(std::chrono::seconds(10));
        answered += health && health->status == 200 && run && run->status == 200 ? 1 : 0;
    }
    std::printf("kept-alive clients     %6d  answered %d of %d (GET /health + GET /v1/runs/{rid} each) in %.0f ms\n",
                count, answered, count, msSince(start));
}

void subscribers(aw::test::AgentHost& host, const std::string& sessionId, const std::string& runId,
                 const Options& options) {
    const auto idle = processFigures(host.pid());
    std::vector<RawConnection> connections;
    connections.reserve(static_cast<std::size_t>(options.subscribers));
    const std::string request =
        "GET /v1/runs/" + runId + "/events HTTP/1.1\r\nHost: b\r\nAccept: text/event-stream\r\n" + kClientAuth + "\r\n";
    const auto connecting = Clock::now();
    for (int i = 0; i < options.subscribers; ++i) {
        connections.emplace_back(host.port());
        connections.back().send(request);
    }
    for (auto& connection : connections) connection.readUntil("retry: 1000", std::chrono::seconds(60));
    const double subscribeMs = msSince(connecting);
    const auto streaming = processFigures(host.pid());

    SubscriberReader reader(connections);
    std::atomic<bool> probing{true};
    std::vector<double> probeMs;
    std::thread probe([&] {
        RawConnection client(host.port());
        while (probing) {
            const auto at = Clock::now();
            client.send("GET /health HTTP/1.1\r\nHost: b\r\n\r\n");
            if (!client.readResponse(std::chrono::seconds(10))) break;
            probeMs.push_back(msSince(at));
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
    });

    const auto lines = assistantLines();
    aw::test::HttpResult posted;
    const auto start = Clock::now();
    for (int first = 1; first <= options.lines; first += 64) {
        const int count = std::min(64, options.lines - first + 1);
        posted = aw::test::httpRequest(
            host.port(), HttpCall{"POST", "/v1/callbacks/executor", callbackBody(sessionId, runId, lines, first, count),
                                  {{"Authorization", std::string("Bearer ") + kExecutorToken},
                                   {"Content-Type", "application/json"}}});
        if (posted.status != 200) throw std::runtime_error("callback answered " + std::to_string(posted.status) + ": " + posted.body);
    }
    // Every line ends in message.stop: wait until the run's last event reached everyone.
    long lastSeq = 0;
    for (int settled = 0; settled < 10;) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        const long seq = host.run(runId).value("last_seq", 0L);
        settled = seq == lastSeq ? settled + 1 : 0;
        lastSeq = seq;
    }
    const auto giveUp = Clock::now() + std::chrono::seconds(120);
    while (reader.fewest() < lastSeq && Clock::now() < giveUp) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    probing = false;
    probe.join();
    const double seconds = msSince(start, reader.lastFrame()) / 1000.0;
    const long delivered = reader.total();

    std::printf("event-stream subscribers %6d  subscribed in %.0f ms; all %ld events reached %s\n", options.subscribers,
                subscribeMs, lastSeq, reader.fewest() >= lastSeq ? "every subscriber" : "NOT every subscriber");
    std::printf("  agent-host threads     %6d idle, %d with the subscribers\n", idle.threads, streaming.threads);
    std::printf("  agent-host memory      %6.1f MiB idle, %.1f MiB with the subscribers (%.1f KiB each)\n",
                static_cast<double>(idle.rssKiB) / 1024, static_cast<double>(streaming.rssKiB) / 1024,
                static_cast<double>(streaming.rssKiB - idle.rssKiB) / options.subscribers);
    std::printf("  frames delivered       %6ld in %.2f s: %.0f frames/s over all subscribers\n", delivered, seconds,
                seconds > 0 ? static_cast<double>(delivered) / seconds : 0.0);
    std::printf("  GET /health meanwhile  %6zu probes: p50 %.2f ms, p99 %.2f ms, max %.2f ms\n", probeMs.size(),
                percentile(probeMs, 0.5), percentile(probeMs, 0.99), percentile(probeMs, 1.0));
}

Options parse(int argc, char** argv) {
    Options options;
    for (int i = 1; i < argc; ++i) {
        const std::string flag = argv[i];
        const auto value = [&] {
            if (i + 1 >= argc) throw std::runtime_error(flag + " needs a value");
            return std::stoi(argv[++i]);
        };
        if (flag == "--clients") options.clients = value();
        else if (flag == "--subscribers") options.subscribers = value();
        else if (flag == "--lines") options.lines = value();
        else throw std::runtime_error("usage: aw_connections_bench [--clients N] [--subscribers S] [--lines L]");
    }
    return options;
}

}  // namespace

int main(int argc, char** argv) try {
    const Options options = parse(argc, argv);
    rlimit limit{};
    ::getrlimit(RLIMIT_NOFILE, &limit);
    limit.rlim_cur = limit.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &limit);

    // The host's data dir is the temporary directory itself, as in the run tests: its
    // workers' directories are shown to their sandboxes, its other files are not.
    aw::test::TempDir data("aw-cbench");
    aw::test::TempDir tools("aw-cbench-tools");
    const auto cli = tools.write("fake-claude", "#!/bin/sh\n# prints nothing; the bench posts its output\nexec sleep 600\n");
    fs::permissions(tools.path(), fs::perms::owner_all | fs::perms::group_exec | fs::perms::others_exec);
    fs::permissions(cli, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                             fs::perms::others_read | fs::perms::others_exec);
    fs::create_directories(tools / "plugins");
    aw::test::dropPlugin(aw::test::shippedPlugin("claude-code"), tools / "plugins", "claude-code.so");
    auto launch = aw::test::defaultLaunch(data.path().string());
    aw::test::setFlag(launch, "--plugins-dir", (tools / "plugins").string());
    launch.env["AW_AUTH_CLIENT_TOKENS"] = "bench-client-token";  // no per-request peer lookup
    launch.env["AW_AUTH_ADMIN_TOKENS"] = "bench-admin-token";
    launch.env["AW_AUTH_EXECUTOR_TOKENS"] = kExecutorToken;
    launch.env["AW_PROVIDERS"] = Json{{"claude-code", {{"binary", cli.string()}}}}.dump();
    launch.env["AW_HTTP_MAX_CONNECTIONS_PER_ADDRESS"] = std::to_string(options.subscribers + options.clients + 100);
    launch.env["AW_HTTP_MAX_CONNECTIONS"] = std::to_string(options.subscribers + options.clients + 100);
    launch.env["AW_SSE_MAX_STREAMS"] = std::to_string(options.subscribers + 10);
    launch.env["AW_LOG_LEVEL"] = "warning";
    launch.env["AW_RUNS_STOP_GRACE_MS"] = "1000";
    aw::test::AgentHost host(launch);
    host.waitProviderHealthy("claude-code", std::chrono::seconds(30));
    const std::string sessionId = "bench-connections";
    const std::string runId = host.sendMessage(sessionId, "claude-code", "benchmark");
    host.waitRunStatus(runId, {"running"}, std::chrono::seconds(60));

    std::printf("agent-host connections (SQLite; %d handler threads)\n", 16);
    keptAliveClients(host.port(), runId, options.clients);
    subscribers(host, sessionId, runId, options);
    host.stopRun(runId);
    host.waitRunFinished(runId, std::chrono::seconds(30));
    return 0;
} catch (const std::exception& e) {
    std::fprintf(stderr, "aw_connections_bench: %s\n", e.what());
    return 1;
}
