// Event streams as real clients meet them, with the real Claude Code CLI behind them:
//   - streams say Cache-Control: no-cache and X-Accel-Buffering: no;
//   - through Debian's nginx with its default proxy buffering, events arrive while the run
//     is still going;
//   - a standard EventSource client (the npm `eventsource` package, driven from node)
//     through nginx reads a finished run once and stops: the reconnect past its end is
//     answered 204 (counted by the client and in nginx's access log);
//   - a reconnect at the end of a running run still streams.
#include <Poco/Exception.h>
#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>

#include <algorithm>
#include <cstdlib>
#include <set>

#include "process/subprocess.h"
#include "runs/claude_run_fixture.h"
#include "support/nginx_proxy.h"

namespace aw::runs {
namespace {

using namespace std::chrono_literals;
using test::SseClient;
using test::SseFrame;

const char* kToolsPrompt = "TOOLS_AND_TODOS: create hello.txt and notes.txt, track the work";
// Keep in step with scripts/install-test-servers.sh.
const char* kEventSourcePackage = "eventsource@5.1.5";

std::filesystem::path eventSourceModule() {
    const char* cache = std::getenv("AW_TEST_SERVERS_CACHE");
    const char* home = std::getenv("HOME");
    const std::filesystem::path root = cache && *cache
                                           ? std::filesystem::path(cache)
                                           : std::filesystem::path(home ? home : "/root") /
                                                 ".cache" / "agent-worker" / "test-servers";
    return root / kEventSourcePackage / "node_modules" / "eventsource" / "dist" / "index.js";
}

//! An SSE stream on any path (SseClient knows agent-host's own path only), read line by line.
class ProxiedStream {
public:
    ProxiedStream(unsigned short port, const std::string& path, std::chrono::milliseconds timeout)
        : session_("127.0.0.1", port) {
        session_.setTimeout(Poco::Timespan(static_cast<long>(timeout.count()) * 1000));
        Poco::Net::HTTPRequest request(Poco::Net::HTTPRequest::HTTP_GET, path,
                                       Poco::Net::HTTPMessage::HTTP_1_1);
        request.set("Accept", "text/event-stream");
        session_.sendRequest(request);
        in_ = &session_.receiveResponse(response_);
    }

    int status() const { return static_cast<int>(response_.getStatus()); }
    const Poco::Net::HTTPResponse& response() const { return response_; }

    //! Reads until the frame of event `seq` is complete (true), or the stream ends or goes
    //! quiet for the read timeout (false). The types of the events read are kept.
    bool readThrough(std::int64_t seq) {
        const std::string wanted = "id: " + std::to_string(seq);
        bool found = false;
        std::string line;
        while (std::getline(*in_, line)) {  // a read timeout fails the stream
            if (!line.empty() && line.back() == '\r') line.pop_back();
            if (line.starts_with("event: ")) types_.push_back(line.substr(7));
            if (line == wanted) found = true;
            if (line.empty() && found) return true;
        }
        return false;
    }
    const std::vector<std::string>& types() const { return types_; }

private:
    Poco::Net::HTTPClientSession session_;
    Poco::Net::HTTPResponse response_;
    std::istream* in_ = nullptr;
    std::vector<std::string> types_;
};

class SseClients : public ::testing::Test {
protected:
    void SetUp() override {
        if (const auto missing = live::missingCli(Cli::ClaudeCode); !missing.empty()) {
            GTEST_SKIP() << missing;
        }
        harness_ = std::make_unique<RunHarness>(HarnessOptions{});
    }

    //! Starts a run that asks for approval and returns its id once it waits for the answer.
    std::string heldRun(const std::string& sessionId) {
        const std::string rid =
            harness_->startRun(sessionId, kToolsPrompt, {{"approval_mode", "ask"}});
        EXPECT_FALSE(rid.empty());
        const Json waiting = harness_->waitForStatus(rid, "waiting_human");
        EXPECT_EQ(waiting.value("status", ""), "waiting_human") << harness_->describe(rid);
        return rid;
    }

    std::unique_ptr<RunHarness> harness_;
};

TEST_F(SseClients, EventStreamsTellProxiesAndCachesNotToHoldThem) {
    RunHarness& h = *harness_;
    const std::string rid = h.startRun("chat-headers", "Say hello");
    ASSERT_FALSE(rid.empty());
    ProxiedStream stream(h.port(), "/v1/runs/" + rid + "/events", 60s);
    ASSERT_EQ(stream.status(), 200);
    EXPECT_EQ(stream.response().get("Cache-Control", ""), "no-cache");
    EXPECT_EQ(stream.response().get("X-Accel-Buffering", ""), "no");
    EXPECT_EQ(stream.response().getContentType(), "text/event-stream");
}

TEST_F(SseClients, EventsArriveLiveThroughNginxWithItsDefaultBuffering) {
    RunHarness& h = *harness_;
    test::NginxProxy proxy(h.port());
    const std::string rid = heldRun("chat-nginx");
    const std::int64_t held = h.run(rid).value("last_seq", std::int64_t{0});
    ASSERT_GT(held, 0);

    // The run waits for a human: nothing more comes until it is answered, so whatever a
    // proxy held back would stay held. Through nginx every event so far arrives. (nginx
    // 1.22's buffering passed these on even without X-Accel-Buffering: no, in our checks;
    // the header is for proxies and settings that hold a response until a buffer fills.)
    ProxiedStream live(proxy.port(), "/v1/runs/" + rid + "/events", 10s);
    ASSERT_EQ(live.status(), 200) << proxy.errorLog();
    EXPECT_TRUE(live.readThrough(held))
        << "through nginx the stream stopped before event " << held
        << " of a run waiting for a human; error log: " << proxy.errorLog();
    EXPECT_EQ(h.run(rid).value("status", ""), "waiting_human");
    const auto& types = live.types();
    EXPECT_NE(std::find(types.begin(), types.end(), "run.waiting_human"), types.end());

    // Stopping the run ends the live stream with the terminal event.
    EXPECT_EQ(h.stopRun(rid).status, 202);
    const Json run = h.waitForEnd(rid);
    ASSERT_EQ(run.value("status", ""), "stopped") << h.describe(rid);
    EXPECT_TRUE(live.readThrough(run.value("last_seq", std::int64_t{0})));
    EXPECT_EQ(live.types().back(), "run.stopped");
}

TEST_F(SseClients, AnEventSourceReadsAFinishedRunOnceAndStops) {
    RunHarness& h = *harness_;
    test::NginxProxy proxy(h.port());
    const std::filesystem::path module = eventSourceModule();
    ASSERT_TRUE(std::filesystem::exists(module))
        << "the eventsource package is missing (" << module
        << "): run scripts/install-test-servers.sh (make test does)";
    const std::string rid = h.startRun("chat-eventsource", "Say hello");
    ASSERT_FALSE(rid.empty());
    ASSERT_EQ(h.waitForEnd(rid).value("status", ""), "completed") << h.describe(rid);
    const auto events = h.events(rid);
    std::set<std::string> types;
    std::string typeList;
    for (const Json& event : events) {
        if (types.insert(event.value("type", "")).second) {
            typeList += (typeList.empty() ? "" : ",") + event.value("type", "");
        }
    }

    SubprocessOptions options;
    options.argv = {
        "node",
        std::string(AW_SOURCE_DIR) + "/tests/runs/eventsource_client.mjs",
        module.string(),
        "http://127.0.0.1:" + std::to_string(proxy.port()) + "/v1/runs/" + rid + "/events",
        "10000",
        typeList};
    std::unique_ptr<Subprocess> client;
    try {
        client = std::make_unique<Subprocess>(options);
    } catch (const std::exception& error) {
        FAIL() << "cannot start node (node 20+ runs the EventSource client): " << error.what();
    }
    const auto line = client->readLine(30s);
    ASSERT_TRUE(line.has_value()) << "the EventSource client printed nothing";
    const Json report = Json::parse(*line, nullptr, false);
    ASSERT_TRUE(report.is_object()) << *line;

    // Every event once, in order; then one reconnect, answered 204; then CLOSED.
    std::vector<std::string> expectedIds;
    for (const Json& event : events) expectedIds.push_back(std::to_string(event.value("seq", 0)));
    EXPECT_EQ(report["ids"].get<std::vector<std::string>>(), expectedIds) << *line;
    EXPECT_TRUE(report.value("closed", false)) << "the client kept reconnecting: " << *line;
    const Json connections = report["connections"];
    ASSERT_EQ(connections.size(), 2u) << *line;
    EXPECT_TRUE(connections[0]["last_event_id"].is_null()) << *line;
    EXPECT_EQ(connections[0].value("status", 0), 200) << *line;
    EXPECT_EQ(connections[1].value("last_event_id", ""), expectedIds.back()) << *line;
    EXPECT_EQ(connections[1].value("status", 0), 204) << *line;
    // The server's side of it: two requests, and the second was told to stop.
    const std::string path = "/v1/runs/" + rid + "/events";
    const std::string expectedLog =
        "GET " + path + " 200 -\nGET " + path + " 204 " + expectedIds.back() + "\n";
    EXPECT_TRUE(test::eventually([&] { return proxy.accessLog() == expectedLog; }, 5s))
        << proxy.accessLog();
    EXPECT_FALSE(client->waitFor(5s) == std::nullopt) << "the EventSource client did not exit";
}

TEST_F(SseClients, AReconnectAtTheEndOfARunningRunStillStreams) {
    RunHarness& h = *harness_;
    const std::string rid = heldRun("chat-reconnect");
    const std::int64_t held = h.run(rid).value("last_seq", std::int64_t{0});
    ASSERT_GT(held, 0);

    SseClient resumed(h.port(), rid, std::to_string(held), 30s);
    ASSERT_EQ(resumed.status(), 200) << resumed.body();
    EXPECT_EQ(h.stopRun(rid).status, 202);
    const std::vector<SseFrame> frames = resumed.readToEnd();
    EXPECT_FALSE(resumed.timedOut());
    ASSERT_FALSE(frames.empty());
    EXPECT_EQ(frames.front().id.value_or(""), std::to_string(held + 1));
    EXPECT_EQ(frames.back().event, "run.stopped");

    // Now it is finished: at or past its end a reconnect is told to stop; before the end,
    // it gets the rest; a first connection gets everything.
    const std::int64_t last = h.run(rid).value("last_seq", std::int64_t{0});
    for (const std::int64_t at : {last, last + 7}) {
        SseClient done(h.port(), rid, std::to_string(at));
        EXPECT_EQ(done.status(), 204) << "Last-Event-ID " << at << ": " << done.body();
        EXPECT_EQ(done.body(), "");
    }
    SseClient rest(h.port(), rid, std::to_string(last - 1));
    ASSERT_EQ(rest.status(), 200);
    const auto tail = rest.readToEnd();
    ASSERT_EQ(tail.size(), 1u);
    EXPECT_EQ(tail[0].event, "run.stopped");
    SseClient replay(h.port(), rid);
    EXPECT_EQ(replay.readToEnd().size(), static_cast<std::size_t>(last));
}

}  // namespace
}  // namespace aw::runs
