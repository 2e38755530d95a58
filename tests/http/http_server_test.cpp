// The HTTP server under the loads that stopped the thread-per-connection one: hundreds of
// kept-alive clients, slow and silent connections, a stalled event-stream reader, a full
// handler queue, too many connections from one address. Each test asserts what every client
// got back, never how fast.
#include <gtest/gtest.h>

#include <sys/resource.h>
#include <sys/socket.h>

#include <atomic>
#include <condition_variable>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "http/http_server.h"
#include "http/router.h"
#include "support/raw_connection.h"
#include "support/run_events.h"

namespace aw {
namespace {

using namespace std::chrono_literals;
using test::RawConnection;
using test::RawResponse;

constexpr const char* kHealth = "GET /health HTTP/1.1\r\nHost: t\r\n\r\n";

//! Streams written by the test itself, by the name their request gave (/stream/{name}).
class StreamBoard {
public:
    void add(const std::string& name, std::shared_ptr<ResponseStream> stream) {
        std::lock_guard lock(mutex_);
        streams_[name] = std::move(stream);
        changed_.notify_all();
    }
    std::map<std::string, std::shared_ptr<ResponseStream>> waitFor(std::size_t count) {
        std::unique_lock lock(mutex_);
        changed_.wait_for(lock, 10s, [&] { return streams_.size() >= count; });
        return streams_;
    }

private:
    std::mutex mutex_;
    std::condition_variable changed_;
    std::map<std::string, std::shared_ptr<ResponseStream>> streams_;
};

//! Reads a connection on a thread of its own, counting the bytes that arrive.
class CountingReader {
public:
    explicit CountingReader(RawConnection& connection)
        : thread_([this, &connection] {
              char buffer[65536];
              while (true) {
                  const ssize_t n = ::recv(connection.fd(), buffer, sizeof buffer, 0);
                  if (n <= 0) break;
                  tail_.append(buffer, static_cast<std::size_t>(n));
                  if (tail_.size() > 16) tail_.erase(0, tail_.size() - 16);
                  bytes_ += static_cast<std::size_t>(n);
                  if (tail_.ends_with("\r\n0\r\n\r\n")) break;  // the body's last chunk
              }
              done_ = true;
          }) {}
    ~CountingReader() { thread_.join(); }
    std::size_t bytes() const { return bytes_; }
    bool done() const { return done_; }
    const std::string& tail() const { return tail_; }

private:
    std::atomic<std::size_t> bytes_{0};
    std::atomic<bool> done_{false};
    std::string tail_;
    std::thread thread_;
};

class HttpServerTest : public ::testing::Test {
protected:
    void SetUp() override {
        rlimit limit{};  // a few hundred client sockets in this process, besides the server's
        ::getrlimit(RLIMIT_NOFILE, &limit);
        limit.rlim_cur = limit.rlim_max;
        ::setrlimit(RLIMIT_NOFILE, &limit);
    }

    //! The server's defaults, but connections kept alive for as long as a test may take on a
    //! loaded machine (the idle timeout has tests of its own).
    static HttpServerOptions patient() {
        HttpServerOptions options;
        options.idleTimeout = 120s;
        return options;
    }

    void serve(HttpServerOptions options = patient()) {
        router_ = std::make_unique<Router>(TokenAuth({}, {}), 1024);
        router_->add({"GET", "/health", Scope::Public,
                      [](const HttpRequest&) { return HttpResponse::json(200, {{"status", "ok"}}); },
                      RouteLane::OnIoThread});
        router_->add({"GET", "/echo/{word}", Scope::Public, [](const HttpRequest& request) {
                          return HttpResponse::json(200, {{"word", request.param("word")}});
                      }});
        router_->add({"POST", "/echo", Scope::Public, [](const HttpRequest& request) {
                          return HttpResponse::json(200, {{"body", request.body()}});
                      }});
        router_->add({"GET", "/blocked", Scope::Public, [this](const HttpRequest&) {
                          std::unique_lock lock(gateMutex_);
                          ++blocked_;
                          gateChanged_.notify_all();
                          gateChanged_.wait(lock, [this] { return gateOpen_; });
                          return HttpResponse::json(200, {{"released", true}});
                      }});
        router_->add({"GET", "/stream/{name}", Scope::Public, [this](const HttpRequest& request) {
                          HttpResponse response;
                          response.contentType = "text/event-stream";
                          response.stream = [this, name = request.param("name")](
                                                std::shared_ptr<ResponseStream> stream) {
                              board_.add(name, std::move(stream));
                          };
                          return response;
                      }});
        const int listening = listenTcp("127.0.0.1", 0);
        port_ = boundPort(listening);
        server_ = std::make_unique<HttpServer>(*router_, listening, options);
        server_->start();
    }

    void TearDown() override {
        openGate();
        if (server_) server_->stop();
    }

    void waitBlocked(int count) {
        std::unique_lock lock(gateMutex_);
        gateChanged_.wait_for(lock, 10s, [&] { return blocked_ >= count; });
    }
    void openGate() {
        std::lock_guard lock(gateMutex_);
        gateOpen_ = true;
        gateChanged_.notify_all();
    }

    std::optional<RawResponse> ask(RawConnection& connection, const std::string& request) {
        if (!connection.send(request)) return std::nullopt;
        return connection.readResponse(10s);
    }

    std::unique_ptr<Router> router_;
    std::unique_ptr<HttpServer> server_;
    unsigned short port_ = 0;
    StreamBoard board_;
    std::mutex gateMutex_;
    std::condition_variable gateChanged_;
    bool gateOpen_ = false;
    int blocked_ = 0;
};

TEST_F(HttpServerTest, ThreeHundredKeptAliveConnectionsAreAllAnsweredTwice) {
    HttpServerOptions options = patient();
    options.threads = 4;  // far fewer threads than connections
    serve(options);
    std::vector<RawConnection> clients;
    for (int i = 0; i < 300; ++i) clients.emplace_back(port_);
    for (int round = 0; round < 2; ++round) {
        for (int i = 0; i < 300; ++i) {
            ASSERT_TRUE(clients[i].send("GET /echo/w" + std::to_string(i) + " HTTP/1.1\r\nHost: t\r\n\r\n"));
        }
        int answered = 0;
        for (int i = 0; i < 300; ++i) {
            const auto answer = clients[i].readResponse(10s);
            ASSERT_TRUE(answer.has_value()) << "client " << i << " round " << round;
            EXPECT_EQ(answer->status, 200);
            EXPECT_EQ(answer->body, "{\"word\":\"w" + std::to_string(i) + "\"}");
            ++answered;
        }
        EXPECT_EQ(answered, 300);
    }
    EXPECT_EQ(server_->openConnections(), 300u);
}

TEST_F(HttpServerTest, PipelinedRequestsAreAnsweredInOrder) {
    serve();
    RawConnection client(port_);
    ASSERT_TRUE(client.send("GET /echo/one HTTP/1.1\r\n\r\nGET /health HTTP/1.1\r\n\r\n"
                            "POST /echo HTTP/1.1\r\nContent-Length: 3\r\n\r\nabcGET /echo/two HTTP/1.1\r\n\r\n"));
    const char* expected[] = {"{\"word\":\"one\"}", "{\"status\":\"ok\"}", "{\"body\":\"abc\"}",
                              "{\"word\":\"two\"}"};
    for (const char* body : expected) {
        const auto answer = client.readResponse(10s);
        ASSERT_TRUE(answer.has_value()) << body;
        EXPECT_EQ(answer->body, body);
    }
}

TEST_F(HttpServerTest, SlowAndSilentConnectionsDoNotStopHealthAndAreCut) {
    HttpServerOptions options;
    options.threads = 2;
    options.requestTimeout = 1500ms;
    options.idleTimeout = 1000ms;
    serve(options);
    std::vector<RawConnection> silent;
    for (int i = 0; i < 200; ++i) silent.emplace_back(port_);
    std::vector<RawConnection> slow;
    for (int i = 0; i < 50; ++i) {
        slow.emplace_back(port_);
        ASSERT_TRUE(slow.back().send("G"));  // a request begun, never finished
    }
    // While they hang on: probes and ordinary requests are answered.
    for (int i = 0; i < 5; ++i) {
        RawConnection probe(port_);
        const auto health = ask(probe, kHealth);
        ASSERT_TRUE(health.has_value()) << "probe " << i;
        EXPECT_EQ(health->status, 200);
        const auto echo = ask(probe, "GET /echo/x HTTP/1.1\r\n\r\n");
        ASSERT_TRUE(echo.has_value());
        EXPECT_EQ(echo->status, 200);
    }
    for (auto& connection : slow) connection.send("E");  // one byte more: still not whole
    // The slow ones get 408 at their deadline and are closed; the silent ones are closed.
    for (auto& connection : slow) {
        ASSERT_TRUE(connection.waitClosed(15s));
        EXPECT_NE(connection.received().find("HTTP/1.1 408"), std::string::npos) << connection.received();
        EXPECT_NE(connection.received().find("request_timeout"), std::string::npos);
    }
    for (auto& connection : silent) {
        ASSERT_TRUE(connection.waitClosed(15s));
        EXPECT_EQ(connection.received(), "");
    }
}

TEST_F(HttpServerTest, AStalledStreamReaderIsDroppedWithoutHoldingUpTheOthers) {
    HttpServerOptions options = patient();
    options.streamBufferBytes = 256 * 1024;
    serve(options);
    RawConnection stalled(port_);
    stalled.shrinkReceiveBuffer();
    ASSERT_TRUE(stalled.send("GET /stream/stalled HTTP/1.1\r\n\r\n"));
    std::vector<RawConnection> readers;
    for (int i = 0; i < 3; ++i) {
        readers.emplace_back(port_);
        ASSERT_TRUE(readers.back().send("GET /stream/reader" + std::to_string(i) + " HTTP/1.1\r\n\r\n"));
    }
    auto streams = board_.waitFor(4);
    ASSERT_EQ(streams.size(), 4u);
    std::vector<std::unique_ptr<CountingReader>> counting;
    for (auto& reader : readers) counting.push_back(std::make_unique<CountingReader>(reader));

    // 8 MiB to each stream: more than the stalled reader's socket buffers (at most 4 MiB
    // here) and its allowance. The writer never waits for the stalled one; it keeps the
    // live readers within 64 KiB of what it wrote, as a fast client would be.
    const auto chunk = ResponseStream::chunk("data: " + std::string(8192, 'x') + "\n\n");
    std::size_t written = 0;
    int stalledAccepted = 0;
    for (int i = 0; i < 1024; ++i) {
        if (streams["stalled"]->write(chunk)) ++stalledAccepted;
        for (int r = 0; r < 3; ++r) ASSERT_TRUE(streams["reader" + std::to_string(r)]->write(chunk)) << i;
        written += chunk->size();
        for (auto& reader : counting) {
            while (reader->bytes() + 64 * 1024 < written && !reader->done()) std::this_thread::yield();
        }
    }
    for (int r = 0; r < 3; ++r) streams["reader" + std::to_string(r)]->end();
    counting.clear();  // joins: each read its stream to the end
    // The others are still served on the same connections.
    for (auto& reader : readers) {
        const auto health = ask(reader, kHealth);
        ASSERT_TRUE(health.has_value());
        EXPECT_EQ(health->status, 200);
    }
    // The stalled one was cut (what its kernel buffers hold still trickles to it).
    EXPECT_LT(stalledAccepted, 1024);
    EXPECT_FALSE(streams["stalled"]->open());
    EXPECT_TRUE(test::eventually([&] { return server_->openConnections() == 3; }))
        << server_->openConnections() << " connections open";
}

TEST_F(HttpServerTest, EveryReaderGetsTheWholeStreamInOrder) {
    serve();
    std::vector<RawConnection> readers;
    for (int i = 0; i < 50; ++i) {
        readers.emplace_back(port_);
        ASSERT_TRUE(readers.back().send("GET /stream/r" + std::to_string(i) + " HTTP/1.1\r\n\r\n"));
    }
    const auto streams = board_.waitFor(50);
    ASSERT_EQ(streams.size(), 50u);
    std::string expected;
    for (int i = 0; i < 200; ++i) {
        const std::string frame = "id: " + std::to_string(i) + "\n\n";
        expected += frame;
        const auto chunk = ResponseStream::chunk(frame);  // framed once, shared by all
        for (const auto& [name, stream] : streams) ASSERT_TRUE(stream->write(chunk));
    }
    for (const auto& [name, stream] : streams) stream->end();
    for (auto& reader : readers) {
        const auto answer = reader.readResponse(10s);
        ASSERT_TRUE(answer.has_value());
        EXPECT_EQ(answer->status, 200);
        EXPECT_EQ(answer->headers.at("transfer-encoding"), "chunked");
        EXPECT_EQ(answer->body, expected);
    }
}

TEST_F(HttpServerTest, AFullQueueGets503AndHealthIsStillAnswered) {
    HttpServerOptions options = patient();
    options.threads = 1;
    options.maxQueued = 1;
    serve(options);
    RawConnection first(port_);
    ASSERT_TRUE(first.send("GET /blocked HTTP/1.1\r\n\r\n"));
    waitBlocked(1);  // the only thread is taken
    // Two more: one takes the queue's one place, the other is refused at once.
    RawConnection second(port_);
    RawConnection third(port_);
    ASSERT_TRUE(second.send("GET /echo/a HTTP/1.1\r\n\r\n"));
    ASSERT_TRUE(third.send("GET /echo/b HTTP/1.1\r\n\r\n"));
    auto secondAnswer = std::async(std::launch::async, [&] { return second.readResponse(30s); });
    auto thirdAnswer = std::async(std::launch::async, [&] { return third.readResponse(30s); });
    const auto firstDone = [&] {
        for (int i = 0; i < 3000; ++i) {
            if (secondAnswer.wait_for(10ms) == std::future_status::ready) return &secondAnswer;
            if (thirdAnswer.wait_for(0ms) == std::future_status::ready) return &thirdAnswer;
        }
        return static_cast<decltype(&secondAnswer)>(nullptr);
    }();
    ASSERT_NE(firstDone, nullptr) << "neither was refused while the thread was taken";
    const auto refused = firstDone->get();
    ASSERT_TRUE(refused.has_value());
    EXPECT_EQ(refused->status, 503);
    EXPECT_NE(refused->body.find("overloaded"), std::string::npos) << refused->body;
    EXPECT_EQ(refused->headers.at("retry-after"), "1");
    RawConnection probe(port_);
    const auto health = ask(probe, kHealth);
    ASSERT_TRUE(health.has_value());
    EXPECT_EQ(health->status, 200);

    openGate();
    const auto released = first.readResponse(10s);
    ASSERT_TRUE(released.has_value());
    EXPECT_EQ(released->status, 200);
    const auto queued = (firstDone == &secondAnswer ? thirdAnswer : secondAnswer).get();
    ASSERT_TRUE(queued.has_value());
    EXPECT_EQ(queued->status, 200);
}

TEST_F(HttpServerTest, ConnectionsPerAddressAreCapped) {
    HttpServerOptions options = patient();
    options.maxConnectionsPerAddress = 10;
    serve(options);
    std::vector<RawConnection> held;
    for (int i = 0; i < 10; ++i) {
        held.emplace_back(port_);
        ASSERT_TRUE(ask(held.back(), kHealth).has_value()) << i;
    }
    RawConnection eleventh(port_);
    const auto refused = eleventh.readResponse(10s);
    ASSERT_TRUE(refused.has_value());
    EXPECT_EQ(refused->status, 503);
    EXPECT_NE(refused->body.find("too_many_connections"), std::string::npos) << refused->body;
    EXPECT_NE(refused->body.find("max_connections_per_address"), std::string::npos) << refused->body;
    EXPECT_TRUE(eleventh.waitClosed(10s));

    held.pop_back();  // one goes: a new one is let in
    EXPECT_TRUE(test::eventually([&] {  // once the server has seen the close
        RawConnection again(port_);
        const auto admitted = ask(again, kHealth);
        return admitted && admitted->status == 200;
    })) << "a connection was refused after another closed";
}

TEST_F(HttpServerTest, MalformedRequestsGetAClearErrorAndTheConnectionCloses) {
    serve();
    const std::pair<std::string, std::string> cases[] = {
        {"NOT A REQUEST AT ALL\r\n\r\n", "400"},
        {"GET / HTTP/2.0\r\n\r\n", "505"},
        {"POST /echo HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", "400"},
        {"POST /echo HTTP/1.1\r\nContent-Length: 99999\r\n\r\n", "413"},
        {"GET /echo/x HTTP/1.1\r\nX-Big: " + std::string(20000, 'a') + "\r\n\r\n", "431"},
        {"POST /echo HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", "501"},
    };
    for (const auto& [request, status] : cases) {
        RawConnection client(port_);
        client.send(request);
        EXPECT_TRUE(client.waitClosed(10s)) << request.substr(0, 60);
        EXPECT_EQ(client.received().rfind("HTTP/1.1 " + status, 0), 0u)
            << request.substr(0, 60) << " got " << client.received();
        EXPECT_NE(client.received().find("\"hint\""), std::string::npos);
    }
}

TEST_F(HttpServerTest, ABodyAfter100ContinueAndAChunkedBodyAreRead) {
    serve();
    RawConnection client(port_);
    ASSERT_TRUE(client.send("POST /echo HTTP/1.1\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"));
    ASSERT_TRUE(client.readUntil("\r\n\r\n", 10s)) << "no interim answer";
    EXPECT_EQ(client.received(), "HTTP/1.1 100 Continue\r\n\r\n");
    ASSERT_TRUE(client.send("hello"));
    const auto answer = client.readResponse(10s);
    ASSERT_TRUE(answer.has_value());
    EXPECT_EQ(answer->body, "{\"body\":\"hello\"}");
    const auto chunked = ask(client, "POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                                     "3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\nX-Trailer: t\r\n\r\n");
    ASSERT_TRUE(chunked.has_value());
    EXPECT_EQ(chunked->body, "{\"body\":\"abcde\"}");
}

}  // namespace
}  // namespace aw
