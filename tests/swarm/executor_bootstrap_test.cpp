// agent-executor's side of the bootstrap exchange, run as a process on this machine against
// the host's real route (addExecutorBootstrapRoutes) with a stand-in exchange: a refused token
// ends it before it serves anything; a granted one makes it serve with the granted token at
// the address it reported, which for a wildcard listen address is the one its connection to
// the host came from; and the token leaves its environment.
#include <gtest/gtest.h>

#include <fstream>
#include <mutex>

#include "api/routes.h"
#include "http/http_server.h"
#include "http/listening_socket.h"
#include "process/subprocess.h"
#include "support/temp_dir.h"

namespace aw::test {
namespace {

using namespace std::chrono_literals;
using Json = nlohmann::json;

//! The host's bootstrap route, granting `kGood` once and recording the addresses reported.
class FakeBootstrapHost {
public:
    static constexpr const char* kGood = "good-bootstrap-token";
    static constexpr const char* kExecutorToken = "granted-executor-token";

    FakeBootstrapHost() : listening_(listenTcp("127.0.0.1", 0)), port_(boundPort(listening_)) {
        addExecutorBootstrapRoutes(
            router_,
            [this](const std::string& token, const std::string& address) -> std::optional<Json> {
                std::lock_guard lock(mutex_);
                reported_.push_back(address);
                if (token != kGood || used_) return std::nullopt;
                used_ = true;
                return Json{{"executor_id", "swarm-chat"},
                            {"executor_token", kExecutorToken},
                            {"callback_token", "granted-callback-token"}};
            });
        server_ = std::make_unique<HttpServer>(router_, listening_, HttpServerOptions{});
        server_->start();
    }
    ~FakeBootstrapHost() { server_->stop(); }

    std::string url() const {
        return "http://127.0.0.1:" + std::to_string(port_) + "/v1/executors/bootstrap";
    }
    std::vector<std::string> reported() {
        std::lock_guard lock(mutex_);
        return reported_;
    }

private:
    int listening_;
    unsigned short port_;
    Router router_{TokenAuth({"client-token"}, {}), 1 << 20};
    std::unique_ptr<HttpServer> server_;
    std::mutex mutex_;
    std::vector<std::string> reported_;
    bool used_ = false;
};

class ExecutorBootstrap : public ::testing::Test {
protected:
    std::unique_ptr<Subprocess> executor(const std::string& token, const std::string& listen) {
        SubprocessOptions options;
        options.argv = {std::string(AW_BUILD_DIR) + "/bin/agent-executor",
                        "--listen",
                        listen,
                        "--bootstrap-url",
                        host_.url(),
                        "--spool-dir",
                        (dir_ / "spool").string(),
                        "--callback-url",
                        "http://127.0.0.1:9/v1/callbacks/executor",
                        "--executor-id",
                        "swarm-chat",
                        "--session-id",
                        "chat"};
        options.env["AW_BOOTSTRAP_TOKEN"] = token;
        options.stderrFile = (dir_ / "stderr.log").string();
        return std::make_unique<Subprocess>(options);
    }
    std::string stderrText() {
        std::ifstream in(dir_ / "stderr.log");
        return std::string(std::istreambuf_iterator<char>(in), {});
    }

    TempDir dir_{"awxb"};
    FakeBootstrapHost host_;
};

TEST_F(ExecutorBootstrap, ARefusedTokenEndsTheExecutorBeforeItServes) {
    auto process = executor("wrong-token", "127.0.0.1:0");
    const auto status = process->waitFor(20s);
    ASSERT_TRUE(status) << "the executor kept running with a refused token";
    EXPECT_EQ(status->code, 77) << status->describe();
    EXPECT_NE(stderrText().find("refused"), std::string::npos) << stderrText();
    EXPECT_EQ(stderrText().find("wrong-token"), std::string::npos) << "the token was logged";
    std::string out;
    while (auto line = process->readLine(100ms)) out += *line;
    EXPECT_EQ(out.find("listening"), std::string::npos) << out;
    EXPECT_EQ(host_.reported().size(), 1u) << "a 4xx is not retried";
}

TEST_F(ExecutorBootstrap, AGrantedTokenServesWithTheGrantedTokenWhereItReported) {
    // A wildcard listen address: it reports the address its connection to the host left from.
    auto process = executor(FakeBootstrapHost::kGood, "0.0.0.0:0");
    const auto line = process->readLine(20s);
    ASSERT_TRUE(line) << stderrText();
    ASSERT_EQ(host_.reported().size(), 1u);
    const std::string address = host_.reported()[0];
    ASSERT_EQ(address.rfind("127.0.0.1:", 0), 0u) << address;
    const auto port = static_cast<unsigned short>(std::stoi(address.substr(10)));
    EXPECT_NE(port, 0);

    HttpExecutorClientOptions once;
    once.retry.maxAttempts = 1;
    const TraceContext trace{"trace-1", "chat", "swarm-chat", ""};
    const std::string url = "http://" + address;
    EXPECT_EQ(HttpExecutorClient({url, FakeBootstrapHost::kExecutorToken}, once)
                  .health(trace)
                  .value("executor_id", ""),
              "swarm-chat");
    EXPECT_THROW(HttpExecutorClient({url, FakeBootstrapHost::kGood}, once).health(trace),
                 std::exception)
        << "the bootstrap token opens the executor";
    // The token left the executor's environment (its runs inherit nothing of it).
    std::ifstream environ("/proc/" + std::to_string(process->pid()) + "/environ");
    const std::string variables(std::istreambuf_iterator<char>(environ), {});
    EXPECT_EQ(variables.find(FakeBootstrapHost::kGood), std::string::npos);
}

}  // namespace
}  // namespace aw::test
