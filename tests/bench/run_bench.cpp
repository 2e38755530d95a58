// Run path figures. Prints tables; asserts nothing.
//  1. Executor callback -> SSE subscriber, through a real agent-host (SQLite and PostgreSQL):
//     a run of claude-code whose CLI is a silent script; the bench plays the executor and
//     POSTs recorded Claude stream-json lines (assistant text messages, each one a
//     message.start/delta/stop; a workspace sync follows message.stop at most once a second) to
//     /v1/callbacks/executor, in batches of 1 and 64, while a reader thread follows
//     GET /v1/runs/{rid}/events as text/event-stream. Events/s = events received / wall time;
//     latency = callback POST sent -> the event's frame read from the stream.
//     At most two batches are in flight (sent, not yet seen on the stream), so latency is
//     that of a host keeping up, not of an ever-growing backlog. "host us/evt" is agent-host's
//     CPU time (user + system) per event received: on a shared machine, a figure the other
//     processes' load does not bend the way it bends the wall clock.
//  2. The same path at a fixed rate (--rate, 1,000 events/s by default): each line due at its
//     time on a schedule whether or not the stream kept up, one line per callback while the
//     host keeps up; lines that fell due during a callback go in the next, as agent-executor
//     batches them. p50/p99 from a line's due time to its event on the stream.
//  3. The durable queue straight on SociRunStore: enqueue N no-op runs (one session each),
//     then claim + finish them all, with 1 and 4 threads; runs/s.
//   build/tests/aw_run_bench [--seconds S | --events N] [--runs N] [--rate EVENTS_PER_S]
//                            [--skip-postgres | --pg-url URL]
//  --pg-url runs the PostgreSQL figures on the caller's cluster (to compare with peers on the
//  same one) instead of a throwaway cluster of its own; its run and session ids are unique to
//  this invocation, so the database may be used again.
#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/StreamCopier.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "db/database.h"
#include "db/migrator.h"
#include "db/soci_run_store.h"
#include "support/agent_host_harness.h"
#include "support/http_client.h"
#include "support/plugins.h"
#include "support/postgres_cluster.h"
#include "support/temp_dir.h"

namespace {

using Clock = std::chrono::steady_clock;
using Json = nlohmann::json;
namespace fs = std::filesystem;
using aw::test::AgentHost;
using aw::test::HttpCall;
using aw::test::TempDir;

constexpr const char* kExecutorToken = "bench-executor-token";
// With client and admin tokens, as in production: a host without them checks each client
// request's peer uid in /proc/net/tcp (to refuse agents), which is not the path measured.
constexpr const char* kClientToken = "bench-client-token";
constexpr const char* kAdminToken = "bench-admin-token";

std::map<std::string, std::string> clientAuth() {
    return {{"Authorization", std::string("Bearer ") + kClientToken}};
}
constexpr int kWarmupLines = 4;
//! On a schedule, the most lines one callback carries (agent-executor's batch).
constexpr long kMaxRateBatch = 64;
//! A line sent alone makes message.start, message.delta and message.stop (the workspace syncs
//! after messages at most once per runs.message_sync_interval_ms, 1 s: a few events more).
constexpr double kEventsPerLoneLine = 3;

struct Options {
    double seconds = 3;   //!< per run-path measurement
    long events = 0;      //!< raw lines per run-path measurement (0: bounded by seconds)
    long runs = 1000;     //!< queue runs per measurement
    double rate = 1000;   //!< events/s of the fixed-rate (latency) measurement
    bool skipPostgres = false;
    std::string pgUrl;  //!< the caller's PostgreSQL; empty: a throwaway cluster
    std::string commandLine;
};

//! Unique to this invocation, so ids made with it never meet those of an earlier run on a
//! database the caller keeps (--pg-url).
std::string invocationTag() {
    static const std::string tag =
        std::to_string(::getpid()) + "-" +
        std::to_string(std::chrono::system_clock::now().time_since_epoch().count() % 1000000007);
    return tag;
}

double secondsBetween(Clock::time_point from, Clock::time_point to) {
    return std::chrono::duration<double>(to - from).count();
}

std::string formatSeconds(double seconds) {
    char text[32];
    std::snprintf(text, sizeof text, "%g", seconds);
    return text;
}

double percentile(std::vector<double>& sorted, double q) {
    if (sorted.empty()) return 0;
    const auto rank = static_cast<std::size_t>(q * static_cast<double>(sorted.size() - 1) + 0.5);
    return sorted[std::min(rank, sorted.size() - 1)];
}

//! Assistant text lines of the recorded Claude streams (each a message.* triple).
std::vector<Json> assistantTextLines() {
    const fs::path dir = fs::path(AW_SOURCE_DIR) / "tests" / "fixtures" / "providers";
    std::vector<fs::path> files;
    for (const auto& entry : fs::directory_iterator(dir)) {
        const auto name = entry.path().filename().string();
        if (name.rfind("claude-", 0) == 0 && entry.path().extension() == ".jsonl" &&
            name.find(".stdin.") == std::string::npos) {
            files.push_back(entry.path());
        }
    }
    std::sort(files.begin(), files.end());
    std::vector<Json> lines;
    for (const auto& file : files) {
        std::ifstream in(file);
        for (std::string text; std::getline(in, text);) {
            const Json line = Json::parse(text, nullptr, false);
            if (!line.is_object() || line.value("type", "") != "assistant") continue;
            // The CLI's own API error text is no chat message (it feeds run.failed).
            if (line.value("is_api_error_message", false) || line["message"].value("model", "") == "<synthetic>") continue;
            const Json& content = line["message"]["content"];
            if (content.is_array() && content.size() == 1 && content[0].value("type", "") == "text") {
                lines.push_back(line);
            }
        }
    }
    if (lines.empty()) throw std::runtime_error("no assistant text lines under " + dir.string());
    return lines;
}

// ---- the SSE subscriber ---------------------------------------------------------------

struct Received {
    std::int64_t rawSeq = 0;  //!< 0: not translated from a stdout line (host events)
    std::string type;
    Clock::time_point at;
    bool failedSync = false;  //!< a workspace.sync event that reports a failure
};

class SseReader {
public:
    SseReader(unsigned short port, std::string runId) : runId_(std::move(runId)), session_("127.0.0.1", port) {
        session_.setTimeout(Poco::Timespan(120, 0));
        thread_ = std::thread([this] { read(); });
    }
    ~SseReader() { close(); }

    //! Waits until a line with raw seq >= `seq` produced an event of `type` (any when empty).
    bool waitFor(std::int64_t seq, const std::string& type, std::chrono::seconds timeout) {
        std::unique_lock lock(mutex_);
        return changed_.wait_for(lock, timeout, [&] {
            if (ended_) return true;
            return (type.empty() ? lastSeq_ : lastStopSeq_) >= seq;
        }) && !ended_;
    }
    //! Waits for the stream's end (the run finished), then stops reading regardless.
    void close(std::chrono::seconds grace = std::chrono::seconds(0)) {
        {
            std::unique_lock lock(mutex_);
            changed_.wait_for(lock, grace, [&] { return ended_; });
        }
        if (thread_.joinable()) {
            if (!ended()) session_.abort();
            thread_.join();
        }
    }
    std::vector<Received> received() {
        std::lock_guard lock(mutex_);
        return received_;
    }
    bool ended() {
        std::lock_guard lock(mutex_);
        return ended_;
    }
    std::string error() {
        std::lock_guard lock(mutex_);
        return error_;
    }
    //! The highest `id:` (event seq) read so far, and the raw seq of the last stdout event.
    std::pair<std::int64_t, std::int64_t> progress() {
        std::lock_guard lock(mutex_);
        return {lastId_, lastSeq_};
    }

private:
    void read() {
        try {
            Poco::Net::HTTPRequest request("GET", "/v1/runs/" + runId_ + "/events", Poco::Net::HTTPMessage::HTTP_1_1);
            request.set("Accept", "text/event-stream");
            request.set("Authorization", std::string("Bearer ") + kClientToken);
            session_.sendRequest(request);
            Poco::Net::HTTPResponse response;
            std::istream& in = session_.receiveResponse(response);
            if (response.getStatus() != Poco::Net::HTTPResponse::HTTP_OK) {
                std::string body;
                Poco::StreamCopier::copyToString(in, body);
                throw std::runtime_error("SSE answered " + std::to_string(response.getStatus()) + ": " + body);
            }
            std::string data;
            std::string type;
            for (std::string line; std::getline(in, line);) {
                if (!line.empty() && line.back() == '\r') line.pop_back();
                if (line.rfind("id: ", 0) == 0) {
                    std::lock_guard lock(mutex_);
                    lastId_ = std::max<std::int64_t>(lastId_, std::stoll(line.substr(4)));
                } else if (line.rfind("data: ", 0) == 0) {
                    data += line.substr(6);
                } else if (line.rfind("event: ", 0) == 0) {
                    type = line.substr(7);
                } else if (line.empty() && !data.empty()) {
                    frame(type, data, Clock::now());
                    data.clear();
                    type.clear();
                }
            }
        } catch (const std::exception& e) {
            std::lock_guard lock(mutex_);
            error_ = e.what();
        }
        {
            std::lock_guard lock(mutex_);
            ended_ = true;
        }
        changed_.notify_all();
    }

    void frame(const std::string& type, const std::string& data, Clock::time_point at) {
        Received record{0, type, at, false};
        if (type == "workspace.sync") {
            const Json event = Json::parse(data, nullptr, false);
            record.failedSync = !event.is_object() || !event.contains("data") ||
                                event["data"].value("status", "") != "succeeded";
        }
        // The raw seq is in the event id; the reader finds it without parsing every frame (its
        // CPU is the machine's too). The top-level "event_id" follows "data", so the last one
        // in the text is the event's own.
        const std::string key = ",\"event_id\":\"" + runId_ + "/stdout/";
        if (const auto at = data.rfind(key); at != std::string::npos) {
            record.rawSeq = std::strtoll(data.c_str() + at + key.size(), nullptr, 10);
        }
        {
            std::lock_guard lock(mutex_);
            lastSeq_ = std::max(lastSeq_, record.rawSeq);
            if (type == "message.stop") lastStopSeq_ = std::max(lastStopSeq_, record.rawSeq);
            received_.push_back(std::move(record));
        }
        changed_.notify_all();
    }

    std::string runId_;
    Poco::Net::HTTPClientSession session_;
    std::thread thread_;
    std::mutex mutex_;
    std::condition_variable changed_;
    std::vector<Received> received_;
    std::int64_t lastSeq_ = 0;
    std::int64_t lastStopSeq_ = 0;
    std::int64_t lastId_ = 0;
    bool ended_ = false;
    std::string error_;
};

// ---- the executor's side --------------------------------------------------------------

class CallbackPoster {
public:
    CallbackPoster(unsigned short port, std::string sessionId, std::string runId)
        : session_("127.0.0.1", port), sessionId_(std::move(sessionId)), runId_(std::move(runId)) {
        session_.setKeepAlive(true);
        session_.setTimeout(Poco::Timespan(60, 0));
    }

    //! Builds the callback body for raw seqs [first, first + count).
    std::string body(const std::vector<Json>& lines, std::int64_t first, int count) const {
        Json events = Json::array();
        for (std::int64_t seq = first; seq < first + count; ++seq) {
            Json line = lines[static_cast<std::size_t>(seq) % lines.size()];
            line["message"]["id"] = "msg_bench_" + std::to_string(seq);  // one message per line
            line["session_id"] = "bench-claude-session";  // one CLI session, as in a real run
            events.push_back({{"event_id", runId_ + "/stdout/" + std::to_string(seq)},
                              {"run_id", runId_},
                              {"stream", "stdout"},
                              {"seq", seq},
                              {"line", line.dump()}});
        }
        return Json{{"executor_id", "bench"}, {"session_id", sessionId_}, {"run_id", runId_}, {"events", events}}.dump();
    }

    void post(const std::string& body) {
        Poco::Net::HTTPRequest request("POST", "/v1/callbacks/executor", Poco::Net::HTTPMessage::HTTP_1_1);
        request.set("Authorization", std::string("Bearer ") + kExecutorToken);
        request.setContentType("application/json");
        request.setContentLength64(static_cast<Poco::Int64>(body.size()));
        request.setKeepAlive(true);
        session_.sendRequest(request) << body;
        Poco::Net::HTTPResponse response;
        std::istream& in = session_.receiveResponse(response);
        std::string answer;
        Poco::StreamCopier::copyToString(in, answer);
        if (response.getStatus() != Poco::Net::HTTPResponse::HTTP_OK) {
            throw std::runtime_error("callback answered " + std::to_string(response.getStatus()) + ": " + answer);
        }
    }

private:
    Poco::Net::HTTPClientSession session_;
    std::string sessionId_;
    std::string runId_;
};

struct PathFigures {
    long lines = 0;
    std::size_t events = 0;
    double seconds = 0;
    double p50Ms = 0;
    double p99Ms = 0;
    double hostCpuSeconds = 0;  //!< agent-host's user + system CPU over the measurement
    std::string note;
};

//! A process's user + system CPU time so far (/proc/PID/stat), in seconds. On a shared machine
//! the CPU spent per event says more about the host's own cost than the wall clock does.
double cpuSeconds(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const auto end = text.rfind(')');  // the command name may hold spaces
    if (end == std::string::npos) return 0;
    std::istringstream fields(text.substr(end + 2));
    std::string field;
    double ticks = 0;
    for (int index = 3; fields >> field; ++index) {  // field 3 is the state
        if (index == 14 || index == 15) ticks += std::stod(field);
        if (index == 15) break;
    }
    return ticks / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

std::string statusOf(unsigned short port, const std::string& runId) {
    const auto answer = aw::test::httpGet(port, "/v1/runs/" + runId, clientAuth());
    return answer.status == 200 ? answer.json().value("status", "") : "http " + std::to_string(answer.status);
}

std::string waitForStatus(unsigned short port, const std::string& runId, const std::vector<std::string>& wanted,
                          std::chrono::seconds timeout) {
    const auto deadline = Clock::now() + timeout;
    std::string status;
    while (Clock::now() < deadline) {
        status = statusOf(port, runId);
        if (std::find(wanted.begin(), wanted.end(), status) != wanted.end()) return status;
        if (status == "failed" || status == "stopped" || status == "completed") return status;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return status;
}

//! What the store holds versus what the stream showed, for a line that did not come back.
std::string diagnose(unsigned short port, const std::string& runId, SseReader& reader) {
    const auto [lastId, lastRaw] = reader.progress();
    const auto run = aw::test::httpGet(port, "/v1/runs/" + runId, clientAuth()).json();
    std::string text = "run " + run.value("status", "?") + ", store last_seq " + std::to_string(run.value("last_seq", -1)) +
                       ", stream read up to seq " + std::to_string(lastId) + " (raw line " + std::to_string(lastRaw) + ")";
    const auto after =
        aw::test::httpGet(
            port, "/v1/runs/" + runId + "/events?after=" + std::to_string(lastId) + "&limit=3",
            clientAuth())
            .json();
    for (const auto& event : after.value("events", Json::array())) {
        text += "; unread " + event.value("event_id", "") + " " + event.value("type", "");
    }
    return text;
}

//! How lines are sent: `batch` lines per callback, either as fast as the stream follows
//! (linesPerSecond 0: at most two batches in flight) or on a fixed schedule.
struct Pace {
    int batch = 1;
    double linesPerSecond = 0;
};

//! One run fed lines per `pace` until the line or time budget is spent.
PathFigures measurePath(unsigned short port, pid_t hostPid, const std::string& sessionId,
                        const Pace& pace, const Options& options, const std::vector<Json>& lines) {
    const int batch = pace.batch;
    const auto submitted = aw::test::httpRequest(
        port,
        HttpCall{"POST", "/v1/sessions/" + sessionId + "/messages",
                 Json{{"provider", "claude-code"}, {"prompt", "benchmark"}}.dump(), clientAuth()});
    if (submitted.status != 202) throw std::runtime_error("message answered " + std::to_string(submitted.status) + ": " + submitted.body);
    const std::string runId = submitted.json()["run_id"];
    if (const auto status = waitForStatus(port, runId, {"running"}, std::chrono::seconds(60)); status != "running") {
        const auto run = aw::test::httpGet(port, "/v1/runs/" + runId, clientAuth());
        throw std::runtime_error("run " + runId + " is " + status + ", not running: " + run.body);
    }

    SseReader reader(port, runId);
    CallbackPoster poster(port, sessionId, runId);
    PathFigures figures;

    // Warm-up: the plugin session and the connections.
    poster.post(poster.body(lines, 1, kWarmupLines));
    if (!reader.waitFor(kWarmupLines, "message.stop", std::chrono::seconds(60))) {
        throw std::runtime_error("warm-up lines never came back on the stream: " + reader.error());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));  // the warm-up's last sync event

    const std::int64_t first = kWarmupLines + 1;
    const std::int64_t window = 2 * batch;
    std::vector<Clock::time_point> sentAt(static_cast<std::size_t>(first));
    const double cpuAtStart = cpuSeconds(hostPid);
    const auto start = Clock::now();
    const auto deadline = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(options.seconds));
    std::int64_t next = first;
    for (;;) {
        const long sent = static_cast<long>(next - first);
        if (options.events > 0 ? sent >= options.events : Clock::now() >= deadline) break;
        int count = options.events > 0 ? static_cast<int>(std::min<long>(batch, options.events - sent)) : batch;
        std::optional<Clock::time_point> due;
        if (pace.linesPerSecond > 0) {
            // Open loop: each line is due at its time, however far behind the stream is. Lines
            // that fell due while the last callback was answered go together in the next, as
            // agent-executor sends them (at most 64).
            due = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(
                              static_cast<double>(sent) / pace.linesPerSecond));
            std::this_thread::sleep_until(*due);
            const auto dueByNow = static_cast<long>(secondsBetween(start, Clock::now()) * pace.linesPerSecond) + 1;
            count = static_cast<int>(std::clamp<long>(dueByNow - sent, 1, kMaxRateBatch));
            if (options.events > 0) count = static_cast<int>(std::min<long>(count, options.events - sent));
        } else if (!reader.waitFor(next + count - 1 - window, "", std::chrono::seconds(60))) {
            // Flow control: at most `window` lines past what the stream has shown.
            figures.note = "stalled: no events for 60 s";
            break;
        }
        const std::string body = poster.body(lines, next, count);
        // On a schedule, latency counts from when each line was due: a slow answer to the
        // callback before it delays the lines after it, and that delay is the host's too.
        if (due) {
            for (std::int64_t seq = next; seq < next + count; ++seq) {
                sentAt.push_back(start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(
                                             static_cast<double>(seq - first) / pace.linesPerSecond)));
            }
        } else {
            sentAt.resize(static_cast<std::size_t>(next + count), Clock::now());
        }
        poster.post(body);
        next += count;
    }
    const std::int64_t last = next - 1;
    if (figures.note.empty() && !reader.waitFor(last, "message.stop", std::chrono::seconds(60))) {
        figures.note = "line " + std::to_string(last) + " never came back: " + diagnose(port, runId, reader);
    }
    Clock::time_point end = Clock::now();
    figures.hostCpuSeconds = cpuSeconds(hostPid) - cpuAtStart;

    std::vector<double> latencies;
    std::size_t failedSyncs = 0;
    for (const auto& event : reader.received()) {
        if (event.at < start) continue;
        if (event.rawSeq == last && event.type == "message.stop") end = event.at;
    }
    for (const auto& event : reader.received()) {
        if (event.at < start || event.at > end) continue;
        ++figures.events;
        if (event.failedSync) ++failedSyncs;
        if (event.rawSeq >= first && event.rawSeq <= last) {
            latencies.push_back(std::chrono::duration<double, std::milli>(event.at - sentAt[static_cast<std::size_t>(event.rawSeq)]).count());
        }
    }
    std::sort(latencies.begin(), latencies.end());
    if (failedSyncs > 0) figures.note += (figures.note.empty() ? "" : "; ") + std::to_string(failedSyncs) + " syncs failed";
    figures.lines = static_cast<long>(last - first + 1);
    figures.seconds = secondsBetween(start, end);
    figures.p50Ms = percentile(latencies, 0.50);
    figures.p99Ms = percentile(latencies, 0.99);

    // End the run so its stream closes and its CLI goes away.
    aw::test::httpRequest(port, HttpCall{"POST", "/v1/runs/" + runId + "/stop", "", clientAuth()});
    waitForStatus(port, runId, {"stopped"}, std::chrono::seconds(30));
    reader.close(std::chrono::seconds(10));
    return figures;
}

void printPathRow(const std::string& db, const std::string& batch, const PathFigures& f) {
    std::printf("%-10s  %6s  %6ld  %7zu  %7.2f  %8.0f  %8.0f  %8.2f  %8.2f  %11.1f  %s\n",
                db.c_str(), batch.c_str(), f.lines, f.events, f.seconds,
                f.seconds > 0 ? static_cast<double>(f.lines) / f.seconds : 0.0,
                f.seconds > 0 ? static_cast<double>(f.events) / f.seconds : 0.0, f.p50Ms, f.p99Ms,
                f.events > 0 ? 1e6 * f.hostCpuSeconds / static_cast<double>(f.events) : 0.0,
                f.note.c_str());
    std::fflush(stdout);
}

//! PostgreSQL plans a prepared statement once, when its tables are young (a scan is then the
//! cheapest plan), and plans it anew once autovacuum has ANALYZEd them, which it does within a
//! minute but never within a measurement of seconds. Between measurements the bench analyzes
//! itself, so each runs on the plans a database in service has.
void analyze(const std::string& url) {
    aw::Database database(aw::parseDatabaseUrl(url), 1, std::chrono::seconds(10));
    database.withSession([](soci::session& sql) { sql << "ANALYZE"; });
}

void runPathBench(const std::string& db, const std::optional<std::string>& dbUrl, const Options& options,
                  const std::vector<Json>& lines) {
    TempDir data("aw-rbench");
    // The CLI's directory is shown read-only in the worker's sandbox: were it the data dir's
    // parent, it would show the host's real (0700) data dir over the way to the worker's own.
    fs::create_directories(data / "bin");
    const auto cli =
        data.write("bin/fake-claude",
                   "#!/bin/sh\n# prints nothing; the bench posts its output\nexec sleep 600\n");
    fs::permissions(cli, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                             fs::perms::others_read | fs::perms::others_exec);
    fs::create_directories(data / "plugins");
    aw::test::dropPlugin(aw::test::shippedPlugin("claude-code"), data / "plugins", "claude-code.so");

    auto launch = aw::test::defaultLaunch((data / "host").string());
    aw::test::setFlag(launch, "--plugins-dir", (data / "plugins").string());
    if (dbUrl) aw::test::setFlag(launch, "--db", *dbUrl);
    launch.env["AW_AUTH_EXECUTOR_TOKENS"] = kExecutorToken;
    launch.env["AW_AUTH_CLIENT_TOKENS"] = kClientToken;
    launch.env["AW_AUTH_ADMIN_TOKENS"] = kAdminToken;
    launch.env["AW_PROVIDERS"] = Json{{"claude-code", {{"binary", cli.string()}}}}.dump();
    launch.env["AW_RUNS_STOP_GRACE_MS"] = "1000";
    AgentHost host(launch);
    // Providers start after the host listens: wait for claude-code to hand-shake.
    host.waitProviderHealthy("claude-code", std::chrono::seconds(30));
    int session = 0;
    const std::vector<std::pair<std::string, Pace>> paces = {
        {"1", {1, 0}}, {"64", {64, 0}}, {"1@rate", {1, options.rate / kEventsPerLoneLine}}};
    for (const auto& [name, pace] : paces) {
        try {
            const std::string sessionId =
                "bench-" + invocationTag() + "-" + std::to_string(++session);
            printPathRow(db, name,
                         measurePath(host.port(), host.pid(), sessionId, pace, options, lines));
            if (dbUrl) analyze(*dbUrl);
        } catch (const std::exception& e) {
            std::printf("%-10s  %6s  FAILED: %s\n", db.c_str(), name.c_str(), e.what());
            const auto log = host.log();
            std::printf("  host log (tail): %s\n", log.substr(log.size() > 2000 ? log.size() - 2000 : 0).c_str());
        }
    }
    host.stop();
}

// ---- the queue ------------------------------------------------------------------------

struct QueueFigures {
    double enqueueSeconds = 0;
    double drainSeconds = 0;
    long completed = 0;
    long emptyClaims = 0;
    long emptyWhileQueued = 0;  //!< of those, claims that came back empty while entries were queued
};

std::int64_t nowMs() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

QueueFigures measureQueue(const std::string& url, int threads, long runs) {
    aw::Database database(aw::parseDatabaseUrl(url), threads + 1, std::chrono::seconds(10));
    aw::applyMigrations(database, fs::path(AW_BUILD_DIR) / "sql");
    aw::SociRunStore store(database);
    QueueFigures figures;

    auto parallel = [&](auto&& work) {
        std::vector<std::thread> pool;
        for (int t = 0; t < threads; ++t) pool.emplace_back([&, t] { work(t); });
        for (auto& thread : pool) thread.join();
    };

    std::atomic<long> nextRun{0};
    auto start = Clock::now();
    parallel([&](int) {
        for (long i = nextRun++; i < runs; i = nextRun++) {
            aw::NewRun run;
            run.runId =
                "run-" + invocationTag() + "-" + std::to_string(threads) + "-" + std::to_string(i);
            run.sessionId = "queue-" + invocationTag() + "-" + std::to_string(threads) + "-" +
                            std::to_string(i);
            run.workspaceS3Prefix = "s3://agent-worker/sessions/default/" + run.sessionId + "/";
            run.provider = "claude-code";
            run.prompt = "no-op";
            run.nowMs = nowMs();
            store.createRun(run);
        }
    });
    figures.enqueueSeconds = secondsBetween(start, Clock::now());

    std::atomic<long> completed{0};
    std::atomic<long> empty{0};
    std::atomic<long> emptyWhileQueued{0};
    const auto deadline = Clock::now() + std::chrono::minutes(2);
    start = Clock::now();
    parallel([&](int t) {
        const std::string holder = "bench-" + std::to_string(t);
        while (completed.load() < runs && Clock::now() < deadline) {
            const auto entries = store.claim(holder, nowMs(), 60000, 1);
            if (entries.empty()) {
                ++empty;  // another thread holds the rest, or they are locked right now
                if (!store.list(aw::QueueStatus::Queued, 1).empty()) ++emptyWhileQueued;
                std::this_thread::yield();
                continue;
            }
            for (const auto& entry : entries) {
                if (store.finish(entry.queueId, holder, aw::QueueStatus::Succeeded, "", nowMs())) ++completed;
            }
        }
    });
    figures.drainSeconds = secondsBetween(start, Clock::now());
    figures.completed = completed.load();
    figures.emptyClaims = empty.load();
    figures.emptyWhileQueued = emptyWhileQueued.load();
    return figures;
}

void printQueueRow(const std::string& db, int threads, long runs, const QueueFigures& f) {
    const double total = f.enqueueSeconds + f.drainSeconds;
    std::string note;
    if (f.completed < runs) note = "only " + std::to_string(f.completed) + " of " + std::to_string(runs) + " finished; ";
    if (f.emptyClaims > 0) {
        note += std::to_string(f.emptyClaims) + " empty claims (" + std::to_string(f.emptyWhileQueued) +
                " while entries were queued)";
    }
    std::printf("%-10s  %7d  %6ld  %10.0f  %16.0f  %9.0f  %s\n", db.c_str(), threads, f.completed,
                static_cast<double>(runs) / f.enqueueSeconds, static_cast<double>(f.completed) / f.drainSeconds,
                static_cast<double>(f.completed) / total, note.c_str());
    std::fflush(stdout);
}

Options parseOptions(int argc, char** argv) {
    Options options;
    options.commandLine = argv[0];
    for (int i = 1; i < argc; ++i) options.commandLine += std::string(" ") + argv[i];
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        const bool hasValue = i + 1 < argc;
        if (arg == "--seconds" && hasValue) {
            options.seconds = std::stod(argv[++i]);
        } else if (arg == "--events" && hasValue) {
            options.events = std::stol(argv[++i]);
        } else if (arg == "--runs" && hasValue) {
            options.runs = std::stol(argv[++i]);
        } else if (arg == "--rate" && hasValue) {
            options.rate = std::stod(argv[++i]);
        } else if (arg == "--skip-postgres") {
            options.skipPostgres = true;
        } else if (arg == "--pg-url" && hasValue) {
            options.pgUrl = argv[++i];
        } else {
            throw std::invalid_argument(
                "usage: aw_run_bench [--seconds S | --events N] [--runs N] [--rate EVENTS_PER_S] "
                "[--skip-postgres | --pg-url URL] (at '" +
                arg + "')");
        }
    }
    if (options.seconds <= 0 || options.events < 0 || options.runs <= 0 || options.rate <= 0) {
        throw std::invalid_argument(
            "--seconds, --runs and --rate must be positive, --events not negative");
    }
    if (options.skipPostgres && !options.pgUrl.empty()) {
        throw std::invalid_argument("--skip-postgres and --pg-url exclude each other");
    }
    return options;
}

}  // namespace

int main(int argc, char** argv) {
    Options options;
    try {
        options = parseOptions(argc, argv);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "%s\n", e.what());
        return 2;
    }
    std::printf("command: %s\n", options.commandLine.c_str());

    // The PostgreSQL figures run on the caller's cluster, or on a throwaway one of ours.
    std::unique_ptr<aw::test::PostgresCluster> cluster;
    std::optional<std::string> pgUrl;
    if (!options.pgUrl.empty()) {
        pgUrl = options.pgUrl;
    } else if (!options.skipPostgres) {
        if (const auto reason = aw::test::PostgresCluster::unavailableReason(); !reason.empty()) {
            std::printf("PostgreSQL skipped: %s\n", reason.c_str());
        } else {
            try {
                cluster = std::make_unique<aw::test::PostgresCluster>();
                cluster->createDatabase("agent");
                pgUrl = cluster->url("agent");
            } catch (const std::exception& e) {
                std::printf("PostgreSQL skipped: %s\n", e.what());
                cluster.reset();
            }
        }
    }

    try {
        const auto lines = assistantTextLines();
        std::printf("\nrun path: executor callback -> agent-host -> SSE subscriber\n");
        std::printf("  %zu recorded Claude assistant text lines (each: message.start/delta/stop; a workspace.sync at most once a second)\n",
                    lines.size());
        std::printf("  per measurement: %s; batches 1 and 64: at most 2 batches in flight\n",
                    options.events > 0 ? (std::to_string(options.events) + " lines").c_str()
                                       : (formatSeconds(options.seconds) + " s").c_str());
        std::printf(
            "  1@rate: lines on a fixed schedule of %g lines/s (%g events/s at %g a line), one per "
            "callback, or those due while a callback was answered\n",
            options.rate / kEventsPerLoneLine, options.rate, kEventsPerLoneLine);
        std::printf("%-10s  %6s  %6s  %7s  %7s  %8s  %8s  %8s  %8s  %11s\n", "db", "batch", "lines",
                    "events", "seconds", "lines/s", "events/s", "p50 ms", "p99 ms", "host us/evt");
        runPathBench("sqlite", std::nullopt, options, lines);
        if (pgUrl) runPathBench("postgresql", pgUrl, options, lines);

        std::printf("\nqueue: createRun (enqueue) then claim(limit 1) + finish, %ld no-op runs, one session each\n",
                    options.runs);
        std::printf("%-10s  %7s  %6s  %10s  %16s  %9s\n", "db", "threads", "runs", "enqueue/s", "claim+finish/s",
                    "overall/s");
        TempDir dir("aw-qbench");
        for (const int threads : {1, 4}) {
            const std::string name = "queue" + std::to_string(threads);
            printQueueRow("sqlite", threads, options.runs,
                          measureQueue("sqlite://" + (dir / (name + ".db")).string(), threads, options.runs));
            if (cluster) {
                cluster->createDatabase(name);
                printQueueRow("postgresql", threads, options.runs, measureQueue(cluster->url(name), threads, options.runs));
            } else if (pgUrl) {
                // The caller's database: the ids are this invocation's own (invocationTag).
                printQueueRow("postgresql", threads, options.runs,
                              measureQueue(*pgUrl, threads, options.runs));
            }
        }
    } catch (const std::exception& e) {
        std::fprintf(stderr, "aw_run_bench: %s\n", e.what());
        return 1;
    }
    return 0;
}
