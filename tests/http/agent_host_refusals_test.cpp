// agent-host refuses to start, with a clear message and a telling exit code, when it
// cannot run safely.
#include <gtest/gtest.h>

#include <chrono>

#include <Poco/Net/ServerSocket.h>

#include "support/agent_host_harness.h"

namespace aw::test {
namespace {

constexpr int kExitConfig = 78;
constexpr int kExitUnavailable = 69;
constexpr int kExitDataErr = 65;

void expectRefusal(const RefusedStart& refused, int exitCode, const std::string& says) {
    EXPECT_EQ(refused.status.code, exitCode) << refused.stderrText;
    EXPECT_NE(refused.stderrText.find("agent-host: cannot start: "), std::string::npos)
        << refused.stderrText;
    EXPECT_NE(refused.stderrText.find(says), std::string::npos) << refused.stderrText;
}

TEST(AgentHostRefusesToStart, WhenTheConfigFileCannotBeRead) {
    TempDir data;
    auto launch = defaultLaunch(data.path().string());
    launch.args.insert(launch.args.end(), {"--config", (data / "missing.json").string()});
    expectRefusal(runHostExpectingExit(launch), kExitConfig, "cannot read configuration file");
}

TEST(AgentHostRefusesToStart, WhenTheConfigFileIsNotJson) {
    TempDir data;
    auto launch = defaultLaunch(data.path().string());
    launch.args.insert(launch.args.end(), {"--config", data.write("aw.json", "{listen:").string()});
    expectRefusal(runHostExpectingExit(launch), kExitConfig, "is not valid JSON");
}

TEST(AgentHostRefusesToStart, WhenTheDatabaseSchemeIsUnknown) {
    TempDir data;
    auto launch = defaultLaunch(data.path().string());
    launch.env["AW_DB"] = "mysql://root:hunter2@localhost/aw";
    const auto refused = runHostExpectingExit(launch);
    expectRefusal(refused, kExitConfig, "unsupported scheme 'mysql'");
    EXPECT_EQ(refused.stderrText.find("hunter2"), std::string::npos) << "password printed";
}

TEST(AgentHostRefusesToStart, WhenTheDatabaseStaysUnreachable) {
    TempDir data;
    auto launch = defaultLaunch(data.path().string());
    launch.args.insert(launch.args.end(),
                       {"--db", "postgresql:///aw?host=" + (data / "no-server").string() + "&user=aw"});
    launch.env["AW_DB_CONNECT_TIMEOUT_S"] = "1";
    const auto refused = runHostExpectingExit(launch);
    expectRefusal(refused, kExitUnavailable, "cannot connect to database");
    EXPECT_NE(refused.stderrText.find("retrying"), std::string::npos) << "no bounded retry seen";
}

TEST(AgentHostRefusesToStart, WhenTheSqliteFileIsGarbageAtOnceAndSaysItIsCorrupt) {
    TempDir data;
    std::string garbage;
    for (int i = 0; i < 8192; ++i) garbage.push_back(static_cast<char>((i * 131 + 7) % 251));
    data.write("agent.db", garbage);
    auto launch = defaultLaunch(data.path().string());
    launch.env["AW_DB_CONNECT_TIMEOUT_S"] = "20";
    const auto started = std::chrono::steady_clock::now();
    const auto refused = runHostExpectingExit(launch);
    const auto took = std::chrono::steady_clock::now() - started;
    expectRefusal(refused, kExitDataErr, "is not a database or is damaged");
    EXPECT_NE(refused.stderrText.find("database_corrupt"), std::string::npos) << refused.stderrText;
    EXPECT_NE(refused.stderrText.find("restore the file from a backup"), std::string::npos)
        << refused.stderrText;
    EXPECT_EQ(refused.stderrText.find("not reachable yet"), std::string::npos)
        << "a damaged file was retried";
    EXPECT_EQ(refused.stderrText.find("check the database server"), std::string::npos)
        << refused.stderrText;
    EXPECT_LT(took, std::chrono::seconds(10)) << "refused only after the connect timeout";
}

TEST(AgentHostRefusesToStart, WhenLocalWorkersCannotBeSandboxedUnlessToldSoAndSaysSo) {
    TempDir data;
    auto launch = defaultLaunch(data.path().string());
    // Without bubblewrap (nothing on PATH), a worker could not be sandboxed.
    std::filesystem::create_directories(data / "empty-bin");
    launch.env["PATH"] = (data / "empty-bin").string();
    const auto refused = runHostExpectingExit(launch);
    expectRefusal(refused, kExitConfig, "workers cannot be sandboxed on this machine");
    EXPECT_NE(refused.stderrText.find("apt-get install bubblewrap"), std::string::npos) << refused.stderrText;
    EXPECT_NE(refused.stderrText.find("runtime.local.unsandboxed"), std::string::npos) << refused.stderrText;

    // Told so explicitly (development), it starts and says in its log what that means.
    launch.env["AW_RUNTIME_LOCAL_UNSANDBOXED"] = "true";
    AgentHost host(launch);
    EXPECT_EQ(host.get("/health").status, 200);
    EXPECT_NE(host.log().find("workers run as agent-host's user without a sandbox"), std::string::npos)
        << host.logTail();
}

TEST(AgentHostRefusesToStart, WhenThePortIsInUse) {
    Poco::Net::ServerSocket taken(Poco::Net::SocketAddress("127.0.0.1", 0));
    TempDir data;
    auto launch = defaultLaunch(data.path().string());
    setFlag(launch, "--listen", "127.0.0.1:" + std::to_string(taken.address().port()));
    expectRefusal(runHostExpectingExit(launch), kExitUnavailable, "cannot listen on");
}

TEST(AgentHostRefusesToStart, WhenListeningBeyondLoopbackWithoutTokens) {
    TempDir data;
    auto launch = defaultLaunch(data.path().string());
    setFlag(launch, "--listen", "0.0.0.0:0");
    expectRefusal(runHostExpectingExit(launch), kExitConfig, "needs API tokens");
}

TEST(AgentHostRefusesToStart, WhenAValueIsMalformed) {
    TempDir data;
    auto launch = defaultLaunch(data.path().string());
    launch.env["AW_HTTP_MAX_BODY_BYTES"] = "lots";
    expectRefusal(runHostExpectingExit(launch), kExitConfig, "AW_HTTP_MAX_BODY_BYTES");
}

}  // namespace
}  // namespace aw::test
