// The router behind a real Poco HTTP server on loopback: error shapes, auth, body limits.
#include <gtest/gtest.h>

#include <Poco/AutoPtr.h>
#include <Poco/FormattingChannel.h>
#include <Poco/Net/StreamSocket.h>
#include <fcntl.h>
#include <unistd.h>

#include <fstream>
#include <memory>
#include <set>
#include <sstream>
#include <thread>
#include <vector>

#include "agent_worker/core/random_id.h"
#include "agent_worker/core/repositories.h"
#include "http/http_server.h"
#include "http/router.h"
#include "logging/json_formatter.h"
#include "support/http_client.h"
#include "support/temp_dir.h"

namespace aw {
namespace {

using test::HttpCall;
using test::httpGet;
using test::httpRequest;

class RouterOnLoopback : public ::testing::Test {
protected:
    void serve(TokenAuth auth = TokenAuth({}, {}), std::size_t maxBody = 64) {
        router_ = std::make_unique<Router>(std::move(auth), maxBody);
        router_->add({"GET", "/v1/things/{id}", Scope::Client, [](const HttpRequest& request) {
                          return HttpResponse::json(200, {{"id", request.param("id")},
                                                          {"q", request.query("q").value_or("")}});
                      }});
        router_->add({"POST", "/v1/things", Scope::Client, [](const HttpRequest& request) {
                          return HttpResponse::json(201, request.json());
                      }});
        router_->add({"GET", "/admin/things", Scope::Admin, [](const HttpRequest&) {
                          return HttpResponse::json(200, {{"admin", true}});
                      }});
        router_->add({"GET", "/boom", Scope::Public, [](const HttpRequest&) -> HttpResponse {
                          throw std::runtime_error("secret internals");
                      }});
        router_->add({"GET", "/down", Scope::Public, [](const HttpRequest&) -> HttpResponse {
                          throw StoreUnavailableError({"database_unavailable", "db away", "retry"});
                      }});
        router_->add({"POST", "/accepted", Scope::Public, [](const HttpRequest&) {
                          return HttpResponse::json(202, {{"queued", true}});
                      }});
        router_->add({"GET", "/status/{code}", Scope::Public, [](const HttpRequest& request) -> HttpResponse {
                          throw ApiError(std::stoi(request.param("code")), {"scripted", "scripted", ""});
                      }});
        const int listening = listenTcp("127.0.0.1", 0);
        port_ = boundPort(listening);
        server_ = std::make_unique<HttpServer>(*router_, listening, HttpServerOptions{});
        server_->start();
    }
    void TearDown() override {
        if (server_) server_->stop();
    }

    //! The first line of the raw answer to `request`, without its CRLF: what a proxy or
    //! curl -v shows, which the parsed status code alone does not reveal.
    std::string statusLine(const std::string& request) const {
        Poco::Net::StreamSocket socket(Poco::Net::SocketAddress("127.0.0.1", port_));
        socket.sendBytes(request.data(), static_cast<int>(request.size()));
        std::string received;
        char buffer[1024];
        while (received.find("\r\n") == std::string::npos) {
            const int n = socket.receiveBytes(buffer, sizeof buffer);
            if (n <= 0) break;
            received.append(buffer, static_cast<std::size_t>(n));
        }
        return received.substr(0, received.find("\r\n"));
    }

    static std::string errorCode(const test::HttpResult& result) {
        return result.json()["error"]["code"].get<std::string>();
    }

    std::unique_ptr<Router> router_;
    std::unique_ptr<HttpServer> server_;
    unsigned short port_ = 0;
};

TEST_F(RouterOnLoopback, CapturesDecodedPathParametersAndQuery) {
    serve();
    const auto result = httpGet(port_, "/v1/things/a%20b?q=x%26y");
    ASSERT_EQ(result.status, 200);
    EXPECT_EQ(result.json()["id"], "a b");
    EXPECT_EQ(result.json()["q"], "x&y");
}

TEST_F(RouterOnLoopback, MalformedPercentEscapesAre400InTheErrorShapeWithTheRequestId) {
    serve();
    struct Case {
        std::string path;
        std::string code;
    };
    for (const Case& bad :
         {Case{"/v1/things/%zz", "invalid_path"}, Case{"/v1/things/a%", "invalid_path"},
          Case{"/v2/%G1", "invalid_path"}, Case{"/v1/things/1?q=%G1", "invalid_query"},
          Case{"/v1/things/1?%zz=1", "invalid_query"}, Case{"/boom?q=%", "invalid_query"}}) {
        const auto result = httpGet(port_, bad.path);
        EXPECT_EQ(result.status, 400) << bad.path;
        ASSERT_TRUE(result.json().is_object()) << bad.path << ": " << result.body;
        EXPECT_EQ(errorCode(result), bad.code) << bad.path;
        ASSERT_TRUE(result.headers.count("X-Request-Id")) << bad.path;
        EXPECT_NE(result.json()["error"]["hint"].get<std::string>().find(
                      result.headers.at("X-Request-Id")),
                  std::string::npos)
            << bad.path;
    }
    EXPECT_EQ(httpGet(port_, "/v1/things/a%2Fb?q=a%20b").json()["q"], "a b");  // still served
}

TEST_F(RouterOnLoopback, HeadOnAGetRouteAnswersItsHeadersWithoutTheBody) {
    serve();
    const auto get = httpGet(port_, "/v1/things/7");
    const auto head = httpRequest(port_, {"HEAD", "/v1/things/7"});
    EXPECT_EQ(head.status, 200);
    EXPECT_TRUE(head.body.empty()) << head.body;
    EXPECT_EQ(head.headers.at("Content-Length"), std::to_string(get.body.size()));
    EXPECT_EQ(head.headers.at("Content-Type"), "application/json");
    EXPECT_EQ(httpRequest(port_, {"HEAD", "/v2/nothing"}).status, 404);
    const auto post = httpRequest(port_, {"HEAD", "/v1/things"});  // POST only: not a GET route
    EXPECT_EQ(post.status, 405);
    const auto wrong = httpRequest(port_, {"DELETE", "/v1/things/1"});
    EXPECT_NE(wrong.json()["error"]["hint"].get<std::string>().find("HEAD"), std::string::npos);
}

TEST_F(RouterOnLoopback, UnknownRouteIs404AndWrongMethodIs405InTheErrorShape) {
    serve();
    const auto missing = httpGet(port_, "/v2/nothing");
    EXPECT_EQ(missing.status, 404);
    EXPECT_EQ(errorCode(missing), "not_found");
    EXPECT_TRUE(missing.json()["error"].contains("hint"));
    const auto wrong = httpRequest(port_, {"DELETE", "/v1/things/1"});
    EXPECT_EQ(wrong.status, 405);
    EXPECT_EQ(errorCode(wrong), "method_not_allowed");
    EXPECT_NE(wrong.json()["error"]["hint"].get<std::string>().find("GET"), std::string::npos);
}

TEST_F(RouterOnLoopback, MalformedJsonIs400NamingTheProblem) {
    serve();
    const auto broken = httpRequest(port_, {"POST", "/v1/things", "{\"a\": }"});
    EXPECT_EQ(broken.status, 400);
    EXPECT_EQ(errorCode(broken), "invalid_json");
    EXPECT_NE(broken.json()["error"]["message"].get<std::string>().find("parse error"),
              std::string::npos);
    const auto array = httpRequest(port_, {"POST", "/v1/things", "[1]"});
    EXPECT_EQ(array.status, 400);
    EXPECT_NE(array.json()["error"]["message"].get<std::string>().find("array"), std::string::npos);
    const auto good = httpRequest(port_, {"POST", "/v1/things", "{\"a\": 1}"});
    EXPECT_EQ(good.status, 201);
    EXPECT_EQ(good.json()["a"], 1);
}

TEST_F(RouterOnLoopback, BodiesOverTheLimitAre413WithOrWithoutContentLength) {
    serve(TokenAuth({}, {}), 64);
    const std::string big = "{\"x\": \"" + std::string(100, 'a') + "\"}";
    const auto declared = httpRequest(port_, {"POST", "/v1/things", big});
    EXPECT_EQ(declared.status, 413);
    EXPECT_EQ(errorCode(declared), "body_too_large");
    const auto chunked = httpRequest(port_, {"POST", "/v1/things", big, {}, true});
    EXPECT_EQ(chunked.status, 413);
    const auto fits = httpRequest(port_, {"POST", "/v1/things", "{\"x\": 1}", {}, true});
    EXPECT_EQ(fits.status, 201);
}

TEST_F(RouterOnLoopback, HandlerExceptionIs500WithoutInternalsAndServerStaysUp) {
    serve();
    const auto boom = httpGet(port_, "/boom");
    EXPECT_EQ(boom.status, 500);
    EXPECT_EQ(errorCode(boom), "internal_error");
    EXPECT_EQ(boom.body.find("secret internals"), std::string::npos);
    EXPECT_NE(boom.json()["error"]["hint"].get<std::string>().find(boom.headers.at("X-Request-Id")),
              std::string::npos);
    EXPECT_EQ(httpGet(port_, "/v1/things/1").status, 200);
}

TEST_F(RouterOnLoopback, UnavailableStoreIs503) {
    serve();
    const auto down = httpGet(port_, "/down");
    EXPECT_EQ(down.status, 503);
    EXPECT_EQ(errorCode(down), "database_unavailable");
}

TEST_F(RouterOnLoopback, StatusLinesCarryTheReasonPhraseOfTheirCode) {
    serve(TokenAuth({}, {}), 64);
    const auto get = [](const std::string& path) {
        return "GET " + path + " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
    };
    EXPECT_EQ(statusLine("POST /accepted HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n"
                         "Connection: close\r\n\r\n"),
              "HTTP/1.1 202 Accepted");
    EXPECT_EQ(statusLine(get("/v2/nothing")), "HTTP/1.1 404 Not Found");
    EXPECT_EQ(statusLine(get("/status/409")), "HTTP/1.1 409 Conflict");
    EXPECT_EQ(statusLine("POST /accepted HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100\r\n"
                         "Connection: close\r\n\r\n" + std::string(100, 'x')),
              "HTTP/1.1 413 Request Entity Too Large");
    EXPECT_EQ(statusLine(get("/status/422")), "HTTP/1.1 422 Unprocessable Entity");
    EXPECT_EQ(statusLine(get("/down")), "HTTP/1.1 503 Service Unavailable");
    EXPECT_EQ(statusLine(get("/v1/things/1")), "HTTP/1.1 200 OK");
}

TEST_F(RouterOnLoopback, TokensAreCheckedPerScope) {
    serve(TokenAuth({"client-t"}, {"admin-t"}));
    EXPECT_EQ(httpGet(port_, "/v1/things/1").status, 401);
    EXPECT_EQ(httpGet(port_, "/v1/things/1", {{"Authorization", "Bearer nope"}}).status, 401);
    EXPECT_EQ(httpGet(port_, "/v1/things/1", {{"Authorization", "Bearer admin-t"}}).status, 403);
    EXPECT_EQ(httpGet(port_, "/v1/things/1", {{"Authorization", "Bearer client-t"}}).status, 200);
    EXPECT_EQ(httpGet(port_, "/admin/things", {{"Authorization", "Bearer client-t"}}).status, 403);
    EXPECT_EQ(httpGet(port_, "/admin/things", {{"Authorization", "bearer admin-t"}}).status, 200);
    EXPECT_EQ(httpGet(port_, "/boom").status, 500);  // public routes need no token
}

TEST(TokenAuth, OpenOnlyWithoutAnyTokens) {
    EXPECT_TRUE(TokenAuth({}, {}).isOpen());
    EXPECT_FALSE(TokenAuth({"c"}, {}).isOpen());
    EXPECT_EQ(TokenAuth({"c"}, {}).check(Scope::Admin, "Bearer c"), AuthOutcome::WrongScope);
    EXPECT_EQ(TokenAuth({"c"}, {}).check(Scope::Client, "Basic Yzo="), AuthOutcome::MissingToken);
}

TEST(RequestIds, AreThirtyTwoHexDigitsAndUniqueAcrossThreads) {
    constexpr int kThreads = 8;
    constexpr int kPerThread = 5000;
    std::vector<std::vector<std::string>> made(kThreads);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&made, t] {
            for (int i = 0; i < kPerThread; ++i) made[t].push_back(newRequestId());
        });
    }
    for (auto& thread : threads) thread.join();
    std::set<std::string> unique;
    for (const auto& ids : made) {
        for (const auto& id : ids) {
            EXPECT_EQ(id.size(), 32u) << id;
            EXPECT_EQ(id.find_first_not_of("0123456789abcdef"), std::string::npos) << id;
            unique.insert(id);
        }
    }
    EXPECT_EQ(unique.size(), static_cast<std::size_t>(kThreads * kPerThread));
}

//! The lines of `path`.
std::vector<std::string> linesOf(const std::filesystem::path& path) {
    std::ifstream in(path);
    std::vector<std::string> lines;
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    return lines;
}

TEST(BufferedLineChannel, EveryLineOfABurstFromManyThreadsIsWrittenWholeOnceClosed) {
    test::TempDir dir;
    const auto path = dir.path() / "log";
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    ASSERT_GE(fd, 0);
    // A size threshold small enough that the burst also goes out in many size-driven writes.
    Poco::AutoPtr<BufferedLineChannel> lines(new BufferedLineChannel(fd, 4096));
    Poco::AutoPtr<Poco::FormattingChannel> channel(
        new Poco::FormattingChannel(new JsonFormatter, lines));
    auto& logger = Poco::Logger::get("test.buffered");
    logger.setChannel(channel);
    logger.setLevel(Poco::Message::PRIO_INFORMATION);

    constexpr int kThreads = 4;
    constexpr int kPerThread = 250;
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&logger, t] {
            for (int i = 0; i < kPerThread; ++i) {
                logFields(logger, Poco::Message::PRIO_INFORMATION, "request",
                          {{"n", t * kPerThread + i}, {"path", "/health"}});
            }
        });
    }
    for (auto& thread : threads) thread.join();
    lines->close();
    logger.setChannel(nullptr);
    ::close(fd);

    std::set<int> seen;
    for (const auto& line : linesOf(path)) {
        const auto json = nlohmann::json::parse(line, nullptr, false);
        ASSERT_TRUE(json.is_object()) << "not a whole JSON line: " << line;
        EXPECT_EQ(json.value("msg", ""), "request");
        EXPECT_EQ(json.value("level", ""), "info");
        seen.insert(json.value("n", -1));
    }
    EXPECT_EQ(seen.size(), static_cast<std::size_t>(kThreads * kPerThread));
    EXPECT_EQ(*seen.begin(), 0);
    EXPECT_EQ(*seen.rbegin(), kThreads * kPerThread - 1);
}

TEST(BufferedLineChannel, WarningsAreWrittenAtOnceWithTheLinesBeforeThem) {
    test::TempDir dir;
    const auto path = dir.path() / "log";
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    ASSERT_GE(fd, 0);
    // An interval no test waits out: only the warning's own flush can write these lines.
    Poco::AutoPtr<BufferedLineChannel> lines(
        new BufferedLineChannel(fd, 1 << 20, std::chrono::hours(1)));
    lines->log(Poco::Message("test", "first", Poco::Message::PRIO_INFORMATION));
    lines->log(Poco::Message("test", "second", Poco::Message::PRIO_WARNING));
    EXPECT_EQ(linesOf(path), (std::vector<std::string>{"first", "second"}));
    lines->close();
    ::close(fd);
}

}  // namespace
}  // namespace aw
