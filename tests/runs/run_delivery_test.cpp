// Delivery never wedges a session, end to end through agent-host and a local worker: a CLI
// that prints one 1.5 MB line ends its run (its output delivered in pieces under the host's
// body limit, or, when the host refuses it for good, given up with the loss on the terminal
// event), and the session's next run completes, also after agent-host restarts.
#include <gtest/gtest.h>

#include <fstream>

#include "support/agent_host_harness.h"
#include "support/fake_cli.h"
#include "support/plugins.h"
#include "support/run_events.h"

namespace aw::test {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

class RunDelivery : public ::testing::Test {
protected:
    void SetUp() override {
        fs::create_directories(root_ / "plugins");
        fs::create_directories(root_ / "bin");
        dropPlugin(shippedPlugin("claude-code"), root_ / "plugins", "claude-code.so");
        // A fake `claude`: a recorded turn, then (when the prompt says "long") one 1.5 MB
        // line of plain text and "tail" after it.
        const auto claude =
            writeScript(root_ / "bin" / "long-line-claude",
                        "cat " + shellQuote(fixturePath("claude-basic.jsonl").string()) +
                            "\n"
                            "case \"$*\" in *long*) head -c 1500000 /dev/zero | tr '\\0' 'x'; "
                            "echo; echo tail;; esac\n"
                            "exit 0\n");
        providers_ = Json{{"claude-code", {{"binary", claude.string()}}}}.dump();
    }

    HostSpec spec(std::map<std::string, std::string> extra = {}) {
        HostSpec spec{root_ / "data", root_ / "plugins", "", quickHostEnv()};
        spec.env["AW_PROVIDERS"] = providers_;
        for (auto& [name, value] : extra) spec.env[name] = value;
        return spec;
    }

    //! Sends `prompt` to the session and waits until its run ends; returns the run.
    Json runToEnd(AgentHost& host, const std::string& sid, const std::string& prompt) {
        const auto rid = host.sendMessage(sid, "claude-code", prompt);
        return host.waitRunFinished(rid, 60s);
    }

    //! The run's terminal event.
    Json terminalOf(AgentHost& host, const std::string& rid) {
        for (const auto& event : host.events(rid)) {
            if (isTerminalType(event.value("type", ""))) return event;
        }
        return nullptr;
    }

    TempDir root_{"aw-delivery"};
    std::string providers_;
};

TEST_F(RunDelivery, AOneAndAHalfMegabyteLineEndsItsRunAndTheNextRunsComplete) {
    AgentHost host(spec());
    host.waitProviderHealthy("claude-code");
    const std::string sid = "delivery-long";
    const Json first = runToEnd(host, sid, "print a long line");
    ASSERT_EQ(first.value("status", ""), "completed")
        << host.describeRun(first.value("run_id", ""));
    // Delivered whole, in pieces under the host's 1 MiB limit: nothing was lost.
    const Json terminal = terminalOf(host, first["run_id"]);
    EXPECT_FALSE(terminal["data"].contains("output_lost")) << terminal.dump();
    EXPECT_EQ(host.log().find("body_too_large"), std::string::npos) << host.logTail();

    const Json second = runToEnd(host, sid, "hello again");
    EXPECT_EQ(second.value("status", ""), "completed")
        << host.describeRun(second.value("run_id", ""));
    host.restart();
    host.waitProviderHealthy("claude-code");
    const Json third = runToEnd(host, sid, "print a long line once more");
    EXPECT_EQ(third.value("status", ""), "completed")
        << host.describeRun(third.value("run_id", ""));
    const Json fourth = runToEnd(host, sid, "and hello");
    EXPECT_EQ(fourth.value("status", ""), "completed")
        << host.describeRun(fourth.value("run_id", ""));
}

TEST_F(RunDelivery, TheHostsOwnBodyLimitReachesItsExecutors) {
    // A host that takes 256 KiB bodies: its executors are told, and cut the line to fit.
    AgentHost host(spec({{"AW_HTTP_MAX_BODY_BYTES", std::to_string(256 * 1024)}}));
    host.waitProviderHealthy("claude-code");
    const Json run = runToEnd(host, "delivery-small-limit", "print a long line");
    const std::string rid = run.value("run_id", "");
    ASSERT_EQ(run.value("status", ""), "completed") << host.describeRun(rid);
    EXPECT_FALSE(terminalOf(host, rid)["data"].contains("output_lost"));
    EXPECT_EQ(host.log().find("body_too_large"), std::string::npos) << host.logTail();
}

TEST_F(RunDelivery, ALineTheHostRefusesForGoodIsGivenUpAndTheLossShownOnTheRun) {
    // 8 KiB: below the smallest piece an executor cuts (16 KiB bodies), so the long line's
    // pieces are refused (413) one by one, for good; the recorded turn's lines fit.
    AgentHost host(spec({{"AW_HTTP_MAX_BODY_BYTES", "8192"}}));
    host.waitProviderHealthy("claude-code");
    const std::string sid = "delivery-refused";
    const Json first = runToEnd(host, sid, "print a long line");
    const std::string rid = first.value("run_id", "");
    // The recorded turn came before the long line: the run completed with it.
    ASSERT_EQ(first.value("status", ""), "completed") << host.describeRun(rid);
    const Json terminal = terminalOf(host, rid);
    ASSERT_TRUE(terminal["data"].contains("output_lost")) << terminal.dump();
    const Json lost = terminal["data"]["output_lost"];
    EXPECT_GE(lost.value("stdout_lines", 0), 2) << lost.dump();  // the line's pieces and "tail"
    EXPECT_NE(lost.value("reason", "").find("413"), std::string::npos) << lost.dump();

    const Json second = runToEnd(host, sid, "hello again");
    EXPECT_EQ(second.value("status", ""), "completed")
        << host.describeRun(second.value("run_id", ""));
    EXPECT_FALSE(terminalOf(host, second["run_id"])["data"].contains("output_lost"));
    host.restart();
    host.waitProviderHealthy("claude-code");
    const Json third = runToEnd(host, sid, "and hello after a restart");
    EXPECT_EQ(third.value("status", ""), "completed")
        << host.describeRun(third.value("run_id", ""));
}

}  // namespace
}  // namespace aw::test
