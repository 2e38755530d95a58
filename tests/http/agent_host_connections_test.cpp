// agent-host with many clients at once, as a chat backend's fleet and an attacker would
// connect: hundreds of kept-alive clients all answered (probes and database reads), slow and
// silent connections that do not stop /health or /ready, and the per-address cap.
#include <gtest/gtest.h>

#include <sys/resource.h>

#include <vector>

#include "support/agent_host_harness.h"
#include "support/raw_connection.h"
#include "support/run_events.h"
#include "support/temp_dir.h"

namespace aw::test {
namespace {

using namespace std::chrono_literals;

class AgentHostConnections : public ::testing::Test {
protected:
    void SetUp() override {
        rlimit limit{};  // hundreds of client sockets in this process
        ::getrlimit(RLIMIT_NOFILE, &limit);
        limit.rlim_cur = limit.rlim_max;
        ::setrlimit(RLIMIT_NOFILE, &limit);
    }
    TempDir data_{"aw-connections"};
};

std::optional<RawResponse> ask(RawConnection& connection, const std::string& path) {
    if (!connection.send("GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")) return std::nullopt;
    return connection.readResponse(30s);
}

TEST_F(AgentHostConnections, ThreeHundredKeptAliveClientsAreAllAnswered) {
    auto launch = defaultLaunch(data_.path().string());  // 16 handler threads by default
    // Kept alive for as long as the test may take on a loaded machine (10 s by default).
    launch.env["AW_HTTP_IDLE_TIMEOUT_MS"] = "120000";
    AgentHost host(launch);
    std::vector<RawConnection> clients;
    for (int i = 0; i < 300; ++i) clients.emplace_back(host.port());
    // Every client asks at once and holds its connection: with a thread per connection,
    // all but 16 got nothing.
    for (auto& client : clients) {
        ASSERT_TRUE(client.send("GET /v1/runs/no-such-run HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"));
    }
    int answered = 0;
    for (auto& client : clients) {
        const auto answer = client.readResponse(30s);
        ASSERT_TRUE(answer.has_value()) << "client " << answered << " got no answer";
        EXPECT_EQ(answer->status, 404);
        EXPECT_NE(answer->body.find("run_not_found"), std::string::npos) << answer->body;
        ++answered;
    }
    EXPECT_EQ(answered, 300);
    // And again on the same connections: they were kept alive.
    for (auto& client : clients) {
        const auto health = ask(client, "/health");
        ASSERT_TRUE(health.has_value());
        EXPECT_EQ(health->status, 200);
    }
}

TEST_F(AgentHostConnections, SlowAndSilentClientsDoNotStopTheProbes) {
    auto launch = defaultLaunch(data_.path().string());
    launch.env["AW_HTTP_REQUEST_TIMEOUT_MS"] = "2000";
    launch.env["AW_HTTP_IDLE_TIMEOUT_MS"] = "1000";
    AgentHost host(launch);
    std::vector<RawConnection> silent;
    for (int i = 0; i < 200; ++i) silent.emplace_back(host.port());
    std::vector<RawConnection> slowloris;
    for (int i = 0; i < 50; ++i) {
        slowloris.emplace_back(host.port());
        ASSERT_TRUE(slowloris.back().send("GET /health HTTP/1.1\r\nX-a: "));
    }
    for (int round = 0; round < 3; ++round) {
        for (auto& connection : slowloris) connection.send("b");  // a byte now and then
        RawConnection probe(host.port());
        const auto health = ask(probe, "/health");
        ASSERT_TRUE(health.has_value()) << "round " << round;
        EXPECT_EQ(health->status, 200);
        const auto ready = ask(probe, "/ready");
        ASSERT_TRUE(ready.has_value()) << "round " << round;
        EXPECT_EQ(ready->status, 200) << ready->body;
    }
    // At their deadline the slow ones get 408 and the silent ones are closed.
    for (auto& connection : slowloris) {
        ASSERT_TRUE(connection.waitClosed(30s));
        EXPECT_NE(connection.received().find(" 408 "), std::string::npos) << connection.received();
        EXPECT_NE(connection.received().find("AW_HTTP_REQUEST_TIMEOUT_MS"), std::string::npos);
    }
    for (auto& connection : silent) EXPECT_TRUE(connection.waitClosed(30s));
    EXPECT_TRUE(eventually([&] { return host.log().find("\"status\":408") != std::string::npos; }))
        << "408s are logged like any answer";
}

TEST_F(AgentHostConnections, OneAddressCannotTakeEveryConnection) {
    auto launch = defaultLaunch(data_.path().string());
    launch.env["AW_HTTP_MAX_CONNECTIONS_PER_ADDRESS"] = "20";
    // The held connections must not close as idle (10 s by default) on a loaded machine,
    // which would let the 21st in.
    launch.env["AW_HTTP_IDLE_TIMEOUT_MS"] = "120000";
    AgentHost host(launch);
    std::vector<RawConnection> held;
    for (int i = 0; i < 20; ++i) {
        held.emplace_back(host.port());
        ASSERT_TRUE(ask(held.back(), "/health").has_value()) << i;
    }
    RawConnection over(host.port());
    const auto refused = over.readResponse(30s);
    ASSERT_TRUE(refused.has_value());
    EXPECT_EQ(refused->status, 503);
    EXPECT_NE(refused->body.find("too_many_connections"), std::string::npos) << refused->body;
    EXPECT_NE(refused->body.find("AW_HTTP_MAX_CONNECTIONS_PER_ADDRESS"), std::string::npos);
    held.clear();
    EXPECT_TRUE(eventually([&] {  // the host sees the closes soon after
        RawConnection again(host.port());
        const auto health = ask(again, "/health");
        return health && health->status == 200;
    })) << "a connection was refused after the others closed";
}

}  // namespace
}  // namespace aw::test
