// agent-host on SIGTERM, with several workers whose agent CLIs ignore SIGTERM: the listener
// closes first (a new connection is refused while the host is still shutting down, a request
// on a connection already open gets 503), a request in flight gets a bound to finish and is
// then cut, and the host exits cleanly leaving no worker process behind. Shutdown times are
// printed (they depend on the machine; the tests assert the order, not the figures).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <chrono>
#include <iostream>
#include <string>
#include <vector>

#include "support/agent_host_harness.h"
#include "support/fake_cli.h"
#include "support/plugins.h"
#include "support/run_events.h"
#include "support/temp_dir.h"

namespace aw::test {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;
using SteadyClock = std::chrono::steady_clock;

//! A raw TCP connection to the host, for what an HTTP client hides: whether the connection
//! is refused, and a request whose body never comes.
class Connection {
public:
    explicit Connection(unsigned short port) : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_port = htons(port);
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
            error_ = errno;
        }
    }
    ~Connection() { ::close(fd_); }
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;

    bool refused() const { return error_ == ECONNREFUSED; }
    bool connected() const { return error_ == 0; }

    void send(const std::string& text) {
        ASSERT_EQ(::send(fd_, text.data(), text.size(), MSG_NOSIGNAL),
                  static_cast<ssize_t>(text.size()));
    }
    //! What arrives until `until` is in it, the peer closes, or `timeout` passes.
    std::string receive(const std::string& until, std::chrono::milliseconds timeout) {
        std::string got;
        const auto deadline = SteadyClock::now() + timeout;
        while (got.find(until) == std::string::npos && SteadyClock::now() < deadline) {
            pollfd ready{fd_, POLLIN, 0};
            if (::poll(&ready, 1, 100) <= 0) continue;
            char buffer[4096];
            const ssize_t n = ::recv(fd_, buffer, sizeof buffer, 0);
            if (n <= 0) {
                closedByPeer_ = true;
                break;
            }
            got.append(buffer, static_cast<std::size_t>(n));
        }
        return got;
    }
    bool closedByPeer() const { return closedByPeer_; }

private:
    int fd_;
    int error_ = 0;
    bool closedByPeer_ = false;
};

std::string healthRequest() {
    return "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
}

class HostShutdown : public ::testing::Test {
protected:
    void SetUp() override {
        for (const auto& dir : {data(), plugins(), bin()}) fs::create_directories(dir);
        dropPlugin(shippedPlugin("claude-code"), plugins(), "claude-code.so");
        // Prints nothing and outlives SIGTERM and SIGINT (its sleeps do not, so it wakes
        // to them): only SIGKILL ends it.
        writeScript(bin() / "stubborn-claude",
                    "trap '' TERM INT HUP\nwhile :; do sleep 0.2; done\n");
    }

    void TearDown() override {
        // Whatever a failed test left running in the workers.
        for (const auto& [pid, command] : processesUnder(data() / "workers")) ::kill(pid, SIGKILL);
    }

    fs::path data() const { return root_ / "data"; }
    fs::path plugins() const { return root_ / "plugins"; }
    fs::path bin() const { return root_ / "bin"; }

    HostSpec spec() const {
        HostSpec spec{data(), plugins(), "", quickHostEnv()};
        spec.env["AW_PROVIDERS"] =
            Json{{"claude-code", {{"binary", (bin() / "stubborn-claude").string()}}}}.dump();
        return spec;
    }

    //! `count` sessions, each with a run whose CLI is running; returns the run ids.
    std::vector<std::string> busyWorkers(const AgentHost& host, int count) const {
        std::vector<std::string> runs;
        for (int i = 0; i < count; ++i) {
            runs.push_back(host.sendMessage("busy-" + std::to_string(i), "claude-code", "hello"));
        }
        for (const auto& runId : runs) host.waitRunStatus(runId, {"running"}, 90s);
        return runs;
    }

    //! Until no process runs in the workers (the executors and the CLIs); their listing when
    //! some still do after `timeout`.
    std::string workerProcessesLeft(std::chrono::milliseconds timeout) const {
        eventually([&] { return processesUnder(data() / "workers").empty(); }, timeout);
        std::string left;
        for (const auto& [pid, command] : processesUnder(data() / "workers")) {
            left += "  " + std::to_string(pid) + " " + command + "\n";
        }
        return left;
    }

    TempDir root_{"aw-shutdown"};
};

TEST_F(HostShutdown, TheListenerClosesFirstAndARequestInFlightGetsABound) {
    AgentHost host(spec());
    host.waitProviderHealthy("claude-code");
    busyWorkers(host, 3);
    ASSERT_GE(processesUnder(data() / "workers").size(), 6u) << "expected 3 executors and 3 CLIs";

    // A connection kept alive from before the signal.
    Connection keptAlive(host.port());
    ASSERT_TRUE(keptAlive.connected());
    keptAlive.send(healthRequest());
    ASSERT_NE(keptAlive.receive("\"ok\"", 10s).find("200 OK"), std::string::npos);
    // A request in flight: its handler runs (the 100 Continue says so) and waits for a body
    // that never comes.
    Connection inFlight(host.port());
    ASSERT_TRUE(inFlight.connected());
    inFlight.send(std::string("POST /v1/callbacks/executor HTTP/1.1\r\nHost: 127.0.0.1\r\n") +
                  "Authorization: Bearer " + kExecutorToken +
                  "\r\nContent-Type: application/json\r\nContent-Length: 100\r\n"
                  "Expect: 100-continue\r\n\r\n");
    ASSERT_NE(inFlight.receive("100 Continue", 10s).find("100 Continue"), std::string::npos);

    const auto signalled = SteadyClock::now();
    ASSERT_EQ(::kill(host.pid(), SIGTERM), 0);
    // New connections are refused, while the host still waits for the request in flight.
    bool refused = false;
    eventually([&] { return refused = Connection(host.port()).refused(); }, 10s);
    EXPECT_TRUE(refused) << "a new connection was still accepted 10 s after SIGTERM\n"
                         << host.logTail();
    EXPECT_TRUE(processAlive(host.pid())) << "the host exited before it could be seen refusing";
    // A request on a connection already open is answered 503, and the connection closed.
    keptAlive.send(healthRequest());
    const std::string answer = keptAlive.receive("shutting_down", 10s);
    EXPECT_NE(answer.find("503"), std::string::npos) << answer;
    EXPECT_NE(answer.find("shutting_down"), std::string::npos) << answer;

    // The request in flight is cut after its bound, then the host exits, workers gone.
    inFlight.receive("never comes", 30s);
    EXPECT_TRUE(inFlight.closedByPeer()) << "the request in flight was never cut";
    const ExitStatus status = host.stop();
    const auto took =
        std::chrono::duration_cast<std::chrono::milliseconds>(SteadyClock::now() - signalled);
    std::cout << "shutdown with 3 busy workers and a request held to its bound: " << took.count()
              << " ms\n";
    EXPECT_EQ(status.code, 0) << status.describe() << "\n" << host.logTail();
    EXPECT_EQ(workerProcessesLeft(10s), "");

    // In this order: listener closed, runs stopped, requests drained, then the workers.
    const std::string log = host.log();
    std::size_t at = 0;
    for (const char* step : {"\"listener closed\"", "\"runs stopped\"", "\"requests drained\"",
                             "\"stopping workers\"", "\"msg\":\"stopped\""}) {
        const auto found = log.find(step, at);
        EXPECT_NE(found, std::string::npos) << step << " missing or out of order:\n"
                                            << host.logTail();
        if (found != std::string::npos) at = found;
    }
    EXPECT_NE(log.find("\"cut\":1"), std::string::npos)
        << "the request in flight was not the one cut";
}

TEST_F(HostShutdown, SeveralBusyWorkersAreStoppedAndTheHostExits) {
    constexpr int kWorkers = 4;
    AgentHost host(spec());
    host.waitProviderHealthy("claude-code");
    const auto runs = busyWorkers(host, kWorkers);

    const auto signalled = SteadyClock::now();
    const ExitStatus status = host.stop();  // SIGTERM, then waits (SIGKILL after 15 s)
    const auto took =
        std::chrono::duration_cast<std::chrono::milliseconds>(SteadyClock::now() - signalled);
    std::cout << "shutdown with " << kWorkers << " busy workers: " << took.count() << " ms\n";
    EXPECT_EQ(status.code, 0) << status.describe() << "\n" << host.logTail();
    EXPECT_EQ(workerProcessesLeft(10s), "");
    // The runs ended as the host stopped, each said so.
    host.restart();
    for (const auto& runId : runs) {
        const Json run = host.waitRunFinished(runId, 30s);
        EXPECT_EQ(run.value("status", ""), "failed") << run.dump();
    }
}

}  // namespace
}  // namespace aw::test
