// agent-executor figures: output (lines/s from a process printing short lines as fast as it
// can: into the spool alone, with the host down; and end to end, to acknowledged callbacks)
// and workspace sync of a 10k-file workspace (files/s, MB/s), full and incremental with one
// change. Prints figures; asserts nothing.
//   build/tests/aw_executor_bench [--lines N] [--files N]      (make bench)
#include <Poco/Net/HTTPRequestHandler.h>
#include <Poco/Net/HTTPRequestHandlerFactory.h>
#include <Poco/Net/HTTPServer.h>
#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerResponse.h>
#include <Poco/Net/ServerSocket.h>
#include <Poco/StreamCopier.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include "executor/http_executor_client.h"
#include "process/subprocess.h"
#include "support/temp_dir.h"

namespace {

using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

double secondsSince(Clock::time_point start) {
    return std::chrono::duration<double>(Clock::now() - start).count();
}

//! Stands in for the host: acknowledges every batch at once (503 while down). It decodes
//! no JSON, only the event ids (`<run>/<stream>/<seq>`), so that the figures are the
//! executor's; from those it checks that each run's stdout arrives whole and in order,
//! dropping the copies of a batch sent again as the host does.
class AckingSink {
public:
    AckingSink() {
        Poco::Net::ServerSocket socket(Poco::Net::SocketAddress("127.0.0.1", 0));
        port_ = socket.address().port();
        server_ = std::make_unique<Poco::Net::HTTPServer>(new Factory(*this), socket,
                                                          new Poco::Net::HTTPServerParams);
        server_->start();
    }
    ~AckingSink() { server_->stopAll(true); }

    std::string url() const {
        return "http://127.0.0.1:" + std::to_string(port_) + "/v1/callbacks/executor";
    }
    void setDown(bool down) { down_ = down; }
    //! Waits for the run's exit record; then whether its `lines` stdout lines came in order.
    bool waitForExit(const std::string& runId, long lines, bool& inOrder) {
        for (const auto deadline = Clock::now() + std::chrono::minutes(5); Clock::now() < deadline;
             std::this_thread::sleep_for(std::chrono::milliseconds(1))) {
            std::lock_guard lock(mutex_);
            const Run& run = runs_[runId];
            if (!run.exited) continue;
            inOrder = !run.disorder && run.next == lines + 1;
            return true;
        }
        return false;
    }

private:
    struct Run {
        long next = 1;  //!< the stdout seq expected next
        bool disorder = false;
        bool exited = false;
    };
    void take(const std::string& body) {
        static constexpr std::string_view kId = "\"event_id\":\"";
        std::lock_guard lock(mutex_);
        for (auto at = body.find(kId); at != std::string::npos; at = body.find(kId, at)) {
            at += kId.size();
            const std::string_view id(body.data() + at, body.find('"', at) - at);
            const auto first = id.find('/'), last = id.rfind('/');
            Run& run = runs_[std::string(id.substr(0, first))];
            const auto stream = id.substr(first + 1, last - first - 1);
            if (stream == "exit") run.exited = true;
            if (stream != "stdout") continue;
            const long seq = std::stol(std::string(id.substr(last + 1)));
            if (seq == run.next) ++run.next;
            if (seq > run.next) run.disorder = true;
        }
    }
    struct Handler : Poco::Net::HTTPRequestHandler {
        explicit Handler(AckingSink& sink) : sink(sink) {}
        void handleRequest(Poco::Net::HTTPServerRequest& request,
                           Poco::Net::HTTPServerResponse& response) override {
            std::string body;
            Poco::StreamCopier::copyToString(request.stream(), body);
            if (sink.down_) {
                response.setStatusAndReason(Poco::Net::HTTPResponse::HTTP_SERVICE_UNAVAILABLE);
                response.setContentLength(0);
                response.send();
                return;
            }
            sink.take(body);
            response.setContentType("application/json");
            response.setContentLength(11);
            response.send() << "{\"ok\":true}";
        }
        AckingSink& sink;
    };
    struct Factory : Poco::Net::HTTPRequestHandlerFactory {
        explicit Factory(AckingSink& sink) : sink(sink) {}
        Poco::Net::HTTPRequestHandler* createRequestHandler(
            const Poco::Net::HTTPServerRequest&) override {
            return new Handler(sink);
        }
        AckingSink& sink;
    };

    unsigned short port_ = 0;
    std::atomic<bool> down_{false};
    std::mutex mutex_;
    std::map<std::string, Run> runs_;
    std::unique_ptr<Poco::Net::HTTPServer> server_;
};

}  // namespace

int main(int argc, char** argv) {
    long lines = 200000;
    int files = 10000;
    for (int i = 1; i + 1 < argc; ++i) {
        if (std::string(argv[i]) == "--lines") lines = std::stol(argv[i + 1]);
        if (std::string(argv[i]) == "--files") files = std::stoi(argv[i + 1]);
    }
    aw::test::TempDir dir("aw-xbench");
    AckingSink sink;
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

    // The CLI: `lines` lines of "line <n>", printed as fast as one process can.
    const nlohmann::json flood = {"seq", "-f", "line %.0f", "1", std::to_string(lines)};

    // Into the spool alone: the host is down; from start until the run has exited, which
    // is after its last line is in the spool.
    sink.setDown(true);
    auto started = Clock::now();
    client.startRun(trace, {{"run_id", "spooled"}, {"argv", flood}});
    while (client.runStatus(trace, "spooled")["state"] != "exited")
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    double seconds = secondsSince(started);
    std::printf("output into the spool (host down): %ld lines in %.2f s = %.0f lines/s\n", lines,
                seconds, static_cast<double>(lines) / seconds);
    sink.setDown(false);
    bool inOrder = false;
    if (!sink.waitForExit("spooled", lines, inOrder)) {
        std::fprintf(stderr, "the spooled run's exit never arrived\n");
        return 1;
    }
    std::printf("  then delivered once the host was back, all in order: %s\n",
                inOrder ? "yes" : "NO");

    // End to end: from start until the exit record (after every line) is acknowledged.
    started = Clock::now();
    client.startRun(trace, {{"run_id", "flood"}, {"argv", flood}});
    if (!sink.waitForExit("flood", lines, inOrder)) {
        std::fprintf(stderr, "the run's exit never arrived\n");
        return 1;
    }
    seconds = secondsSince(started);
    std::printf(
        "output end to end (to acknowledged callbacks): %ld lines in %.2f s = %.0f lines/s "
        "(all, in order: %s)\n",
        lines, seconds, static_cast<double>(lines) / seconds, inOrder ? "yes" : "NO");

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
    seconds = secondsSince(started);
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
