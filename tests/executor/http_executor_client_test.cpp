// The executor client against a real local Poco HTTP server (TCP loopback and a unix
// socket): retries, error classification, bearer token and trace headers.
#include <gtest/gtest.h>

#include <Poco/Net/HTTPRequestHandler.h>
#include <Poco/Net/HTTPRequestHandlerFactory.h>
#include <Poco/Net/HTTPServer.h>
#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerResponse.h>
#include <Poco/Net/ServerSocket.h>
#include <Poco/StreamCopier.h>

#include <mutex>
#include <regex>
#include <thread>

#include "executor/http_executor_client.h"
#include "support/temp_dir.h"

namespace aw {
namespace {

using namespace std::chrono_literals;

//! A scripted executor: answers the i-th request with the i-th status (the last repeats),
//! optionally after a delay, and records every request's headers.
class ScriptedExecutor {
public:
    struct Seen {
        std::string method, path, body;
        std::map<std::string, std::string> headers;
    };

    ScriptedExecutor(std::vector<int> statuses, std::chrono::milliseconds delay = 0ms,
                     const std::string& unixPath = "")
        : statuses_(std::move(statuses)), delay_(delay) {
        Poco::Net::ServerSocket socket;
        if (unixPath.empty()) {
            socket.bind(Poco::Net::SocketAddress("127.0.0.1", 0), true);
        } else {
            socket.bind(Poco::Net::SocketAddress(Poco::Net::SocketAddress::UNIX_LOCAL, unixPath));
        }
        socket.listen();
        port_ = unixPath.empty() ? socket.address().port() : 0;
        server_ = std::make_unique<Poco::Net::HTTPServer>(new Factory(*this), socket,
                                                          new Poco::Net::HTTPServerParams);
        server_->start();
    }
    ~ScriptedExecutor() { server_->stopAll(true); }

    std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
    std::vector<Seen> seen() {
        std::lock_guard lock(mutex_);
        return seen_;
    }

private:
    struct Handler : Poco::Net::HTTPRequestHandler {
        explicit Handler(ScriptedExecutor& owner) : owner(owner) {}
        void handleRequest(Poco::Net::HTTPServerRequest& request,
                           Poco::Net::HTTPServerResponse& response) override {
            Seen seen{request.getMethod(), request.getURI(), "", {}};
            Poco::StreamCopier::copyToString(request.stream(), seen.body);
            for (const auto& [name, value] : request) seen.headers[name] = value;
            int status = 0;
            {
                std::lock_guard lock(owner.mutex_);
                owner.seen_.push_back(seen);
                const auto index = std::min(owner.seen_.size(), owner.statuses_.size()) - 1;
                status = owner.statuses_[index];
            }
            std::this_thread::sleep_for(owner.delay_);
            response.setStatus(static_cast<Poco::Net::HTTPResponse::HTTPStatus>(status));
            response.setContentType("application/json");
            const std::string body =
                status < 300 ? R"({"ok":true,"path":")" + seen.path + "\"}"
                             : R"({"error":{"code":"x","message":"scripted )" + std::to_string(status) + "\"}}";
            response.setContentLength64(static_cast<Poco::Int64>(body.size()));
            response.send() << body;
        }
        ScriptedExecutor& owner;
    };
    struct Factory : Poco::Net::HTTPRequestHandlerFactory {
        explicit Factory(ScriptedExecutor& owner) : owner(owner) {}
        Poco::Net::HTTPRequestHandler* createRequestHandler(const Poco::Net::HTTPServerRequest&) override {
            return new Handler(owner);
        }
        ScriptedExecutor& owner;
    };

    std::vector<int> statuses_;
    std::chrono::milliseconds delay_;
    unsigned short port_ = 0;
    std::mutex mutex_;
    std::vector<Seen> seen_;
    std::unique_ptr<Poco::Net::HTTPServer> server_;
};

HttpExecutorClientOptions quickOptions(int attempts, std::vector<std::chrono::milliseconds>* waits) {
    HttpExecutorClientOptions options;
    options.retry = RetryPolicy{attempts, 100ms, 1000ms, {500, 502, 503, 504}};
    options.defaultTimeout = 2000ms;
    options.timeouts["health"] = 300ms;
    options.sleep = [waits](std::chrono::milliseconds pause) {
        if (waits) waits->push_back(pause);
    };
    return options;
}

const TraceContext kTrace{"", "chat-1", "exec-1", "run-1"};

TEST(HttpExecutorClient, ServerErrorsAreRetriedUntilTheExecutorRecovers) {
    ScriptedExecutor executor({503, 500, 200});
    std::vector<std::chrono::milliseconds> waits;
    HttpExecutorClient client({executor.url(), "tok"}, quickOptions(3, &waits));
    const auto answer = client.sync(kTrace, "incremental", "message.stop");
    EXPECT_EQ(answer["path"], "/workspace/sync");
    EXPECT_EQ(executor.seen().size(), 3u);
    ASSERT_EQ(waits.size(), 2u);
    EXPECT_GE(waits[1], waits[0]) << "backoff grows";
    EXPECT_EQ(nlohmann::json::parse(executor.seen()[0].body)["mode"], "incremental");
}

TEST(HttpExecutorClient, ClientErrorsAreNeverRetried) {
    ScriptedExecutor executor({409, 200});
    HttpExecutorClient client({executor.url(), "tok"}, quickOptions(5, nullptr));
    try {
        client.startRun(kTrace, {{"run_id", "run-1"}});
        FAIL() << "409 accepted";
    } catch (const ExecutorCallError& e) {
        EXPECT_EQ(e.failure().kind, CallFailureKind::Http);
        EXPECT_EQ(e.failure().status, 409);
        EXPECT_EQ(e.failure().attempts, 1);
        EXPECT_EQ(e.failure().operation, "runs.start");
        EXPECT_EQ(e.failure().message, "scripted 409");
    }
    EXPECT_EQ(executor.seen().size(), 1u);
}

TEST(HttpExecutorClient, ExhaustedRetriesReportTheAttempts) {
    ScriptedExecutor executor({502});
    HttpExecutorClient client({executor.url(), "tok"}, quickOptions(3, nullptr));
    try {
        client.restore(kTrace, {{"entries", nlohmann::json::array()}});
        FAIL();
    } catch (const ExecutorCallError& e) {
        EXPECT_EQ(e.failure().attempts, 3);
        EXPECT_EQ(e.problem().code, "executor_http");
    }
    EXPECT_EQ(executor.seen().size(), 3u);
}

TEST(HttpExecutorClient, NoListenerIsANetworkErrorAndIsRetried) {
    unsigned short port = 0;
    {
        Poco::Net::ServerSocket probe(Poco::Net::SocketAddress("127.0.0.1", 0));
        port = probe.address().port();
    }  // closed again: nothing listens there now
    HttpExecutorClient client({"http://127.0.0.1:" + std::to_string(port), "tok"}, quickOptions(2, nullptr));
    try {
        client.health(kTrace);
        FAIL();
    } catch (const ExecutorCallError& e) {
        EXPECT_EQ(e.failure().kind, CallFailureKind::Network);
        EXPECT_EQ(e.failure().attempts, 2);
    }
}

TEST(HttpExecutorClient, SlowAnswersAreTimeoutsPerOperation) {
    ScriptedExecutor executor({200}, 800ms);
    HttpExecutorClient client({executor.url(), "tok"}, quickOptions(1, nullptr));
    try {
        client.health(kTrace);  // 300 ms budget
        FAIL() << "slow answer accepted";
    } catch (const ExecutorCallError& e) {
        EXPECT_EQ(e.failure().kind, CallFailureKind::Timeout);
    }
    EXPECT_EQ(client.runStatus(kTrace, "run-1")["path"], "/runs/run-1");  // 2 s budget
}

TEST(HttpExecutorClient, EveryCallCarriesTheTokenAndTraceHeaders) {
    ScriptedExecutor executor({200});
    HttpExecutorClient client({executor.url(), "secret-token"}, quickOptions(1, nullptr));
    client.signalRun({"0123456789abcdef0123456789abcdef", "chat-1", "exec-1", "run-7"}, "run-7", "INT");
    client.health({"", "chat-1", "exec-1", ""});
    const auto seen = executor.seen();
    ASSERT_EQ(seen.size(), 2u);
    const auto& headers = seen[0].headers;
    EXPECT_EQ(headers.at("Authorization"), "Bearer secret-token");
    EXPECT_EQ(headers.at("X-Trace-Id"), "0123456789abcdef0123456789abcdef");
    EXPECT_EQ(headers.at("X-Session-Id"), "chat-1");
    EXPECT_EQ(headers.at("X-Executor-Id"), "exec-1");
    EXPECT_EQ(headers.at("X-Run-Id"), "run-7");
    EXPECT_EQ(headers.at("X-Operation"), "runs.signal");
    EXPECT_TRUE(std::regex_match(headers.at("X-Ts"), std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)")));
    EXPECT_TRUE(std::regex_match(headers.at("traceparent"),
                                 std::regex("00-0123456789abcdef0123456789abcdef-[0-9a-f]{16}-01")));
    EXPECT_EQ(seen[0].path, "/runs/run-7/signal");
    // Without a trace id the client makes one; without a run there is no run header.
    EXPECT_TRUE(std::regex_match(seen[1].headers.at("X-Trace-Id"), std::regex("[0-9a-f]{32}")));
    EXPECT_EQ(seen[1].headers.count("X-Run-Id"), 0u);
}

TEST(HttpExecutorClient, SpeaksHttpOverAUnixSocket) {
    test::TempDir dir("aw-exec");
    const auto socket = (dir / "executor.sock").string();
    ScriptedExecutor executor({200}, 0ms, socket);
    HttpExecutorClient client({"unix://" + socket, "tok"}, quickOptions(1, nullptr));
    EXPECT_EQ(client.validate(kTrace, {{"required_paths", {"README.md"}}})["path"], "/workspace/validate");
    EXPECT_EQ(executor.seen().at(0).headers.at("Authorization"), "Bearer tok");
}

}  // namespace
}  // namespace aw
