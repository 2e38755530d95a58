// agent-executor's delivery never wedges a session: a line over the host's body limit
// arrives in pieces that fit it, batches shrink when the host answers 413, a run whose
// lines the host refuses for good is given up (its exit says how many lines and why) and
// the runs after it are delivered, and transient errors are retried.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <thread>

#include "executor/http_executor_client.h"
#include "process/subprocess.h"
#include "support/callback_sink.h"
#include "support/executor_process.h"
#include "support/temp_dir.h"

namespace aw::test {
namespace {

using namespace std::chrono_literals;
using Json = nlohmann::json;

class ExecutorDelivery : public ::testing::Test {
protected:
    void startExecutor(std::vector<std::string> extra = {}) {
        SubprocessOptions options;
        options.argv = {std::string(AW_BUILD_DIR) + "/bin/agent-executor",
                        "--socket",
                        socket(),
                        "--spool-dir",
                        (dir_ / "spool").string(),
                        "--callback-url",
                        sink_.url(),
                        "--executor-id",
                        "exec-1",
                        "--session-id",
                        "chat-1"};
        options.argv.insert(options.argv.end(), extra.begin(), extra.end());
        options.stderrFile = (dir_ / "executor.log").string();
        executor_ = test::startExecutor(options, "exec-token", "cb-token");
        const auto line = executor_->readLine(10s);
        ASSERT_TRUE(line && line->find("listening") != std::string::npos)
            << readText(dir_ / "executor.log");
    }
    void stopExecutor() {
        executor_->signal(SIGTERM);
        ASSERT_TRUE(executor_->waitFor(10s).has_value());
    }
    std::string socket() const { return (dir_ / "executor.sock").string(); }
    void startRun(const std::string& runId, const std::string& script) {
        HttpExecutorClientOptions options;
        options.retry.maxAttempts = 1;
        HttpExecutorClient client({"unix://" + socket(), "exec-token"}, options);
        client.startRun(
            {"", "chat-1", "exec-1", runId},
            {{"run_id", runId}, {"argv", {"sh", "-c", script}}, {"cwd", dir_.path().string()}});
    }
    //! The run's stdout lines, their pieces joined.
    std::vector<std::string> joinedLines(const std::string& runId) {
        std::vector<std::string> lines;
        bool continuing = false;
        for (const auto& record : sink_.events(runId, "stdout")) {
            if (continuing) {
                lines.back() += record["line"].get<std::string>();
            } else {
                lines.push_back(record["line"].get<std::string>());
            }
            continuing = record.value("continued", false);
        }
        return lines;
    }
    std::string log() { return readText(dir_ / "executor.log"); }
    //! True once the run's exit record is in the spool.
    bool exited(const std::string& runId) {
        return readText(dir_ / "spool" / (runId + ".log")).find("\"stream\":\"exit\"") !=
               std::string::npos;
    }

    TempDir dir_{"aw-exec-delivery"};
    CallbackSink sink_;
    std::unique_ptr<Subprocess> executor_;
};

// 1.5 MB of text without a newline, then a newline: one line (head -c keeps it fast).
const std::string kLongLineScript = "head -c 1500000 /dev/zero | tr '\\0' 'x'; echo; echo after";

TEST_F(ExecutorDelivery, ALineOverTheHostsBodyLimitArrivesInPiecesThatFitIt) {
    sink_.setMaxBodyBytes(1024 * 1024);  // agent-host's default http.max_body_bytes
    startExecutor();
    startRun("run-1", kLongLineScript);
    ASSERT_TRUE(sink_.waitForExit("run-1")) << log();
    const auto lines = joinedLines("run-1");
    ASSERT_EQ(lines.size(), 2u);
    EXPECT_EQ(lines[0], std::string(1500000, 'x'));
    EXPECT_EQ(lines[1], "after");
    for (const auto& delivery : sink_.deliveries("run-1")) {
        EXPECT_EQ(delivery.status, 200) << delivery.bytes << " bytes";
        EXPECT_LE(delivery.bytes, 1024u * 1024u);
    }
    const auto exit = sink_.events("run-1", "exit").at(0);
    EXPECT_EQ(exit["exit_code"], 0);
    EXPECT_FALSE(exit.contains("lost_stdout_lines")) << exit.dump();
}

TEST_F(ExecutorDelivery, TheHostsLimitGivenAtStartSizesEveryCallback) {
    sink_.setMaxBodyBytes(64 * 1024);
    startExecutor({"--callback-max-body-bytes", "65536"});
    startRun("run-1",
             kLongLineScript + "; i=1; while [ $i -le 300 ]; do echo line $i; i=$((i+1)); done");
    ASSERT_TRUE(sink_.waitForExit("run-1")) << log();
    const auto lines = joinedLines("run-1");
    ASSERT_EQ(lines.size(), 302u);
    EXPECT_EQ(lines[0], std::string(1500000, 'x'));
    EXPECT_EQ(lines[301], "line 300");
    for (const auto& delivery : sink_.deliveries("run-1"))
        EXPECT_EQ(delivery.status, 200) << delivery.bytes;
}

TEST_F(ExecutorDelivery, BatchesShrinkWhenTheHostAnswers413) {
    sink_.setMaxBodyBytes(200 * 1024);  // lower than the executor assumes (1 MiB)
    sink_.setDown(true);                // until the run's lines have piled up
    startExecutor();
    // 600 lines of 2 KB: 256 of them make a body over the host's limit.
    startRun("run-1",
             "i=1; while [ $i -le 600 ]; do printf \"%s %04d\\n\" \"$(head -c 2000 /dev/zero | tr "
             "'\\0' 'y')\" $i;"
             " i=$((i+1)); done");
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    auto spooled = [&] {
        std::error_code notYet;
        const auto size = std::filesystem::file_size(dir_ / "spool" / "run-1.log", notYet);
        return notYet ? 0 : size;
    };
    while (spooled() < 1024 * 1024 && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(20ms);
    }
    sink_.setDown(false);
    ASSERT_TRUE(sink_.waitForExit("run-1")) << log();
    const auto lines = joinedLines("run-1");
    ASSERT_EQ(lines.size(), 600u);
    EXPECT_EQ(lines[599].substr(2000), " 0600");
    const auto deliveries = sink_.deliveries("run-1");
    EXPECT_TRUE(std::any_of(deliveries.begin(), deliveries.end(),
                            [](const auto& d) { return d.status == 413; }));
    EXPECT_EQ(deliveries.back().status, 200);
    EXPECT_NE(log().find("callback body limit lowered"), std::string::npos);
    EXPECT_TRUE(sink_.events("run-1", "exit").at(0)["exit_code"] == 0);
}

TEST_F(ExecutorDelivery, ABatchShrinksToOneRecordWhereTheLimitCannotGoLower) {
    sink_.setMaxBodyBytes(8 * 1024);  // under the executor's floor (16 KiB)
    sink_.setDown(true);              // until every line is spooled: batches of several
    startExecutor({"--callback-max-body-bytes", "8192"});
    // 30 lines of 3 KB: a few make a body the host refuses, one or two fit.
    startRun("run-1",
             "i=1; while [ $i -le 30 ]; do printf \"%s %02d\\n\" \"$(head -c 3000 /dev/zero | tr "
             "'\\0' 'z')\" $i;"
             " i=$((i+1)); done");
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (!exited("run-1") && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(20ms);
    sink_.setDown(false);
    ASSERT_TRUE(sink_.waitForExit("run-1")) << log();
    const auto lines = joinedLines("run-1");
    ASSERT_EQ(lines.size(), 30u);
    EXPECT_EQ(lines[29].substr(3000), " 30");
    const auto deliveries = sink_.deliveries("run-1");
    EXPECT_TRUE(std::any_of(deliveries.begin(), deliveries.end(),
                            [](const auto& d) { return d.status == 413; }));
    EXPECT_FALSE(sink_.events("run-1", "exit").at(0).contains("lost_stdout_lines"));
}

TEST_F(ExecutorDelivery, ARunTheHostRefusesIsGivenUpAndTheNextRunIsDelivered) {
    sink_.refuseLinesOf("run-1", 400);
    startExecutor();
    startRun("run-1",
             "i=1; while [ $i -le 10 ]; do echo $i; echo err >&2; i=$((i+1)); done; exit 4");
    ASSERT_TRUE(sink_.waitForExit("run-1", 10s)) << log();
    startRun("run-2", "echo next");
    ASSERT_TRUE(sink_.waitForExit("run-2", 10s)) << log();

    EXPECT_TRUE(sink_.events("run-1", "stdout").empty());
    const auto exit = sink_.events("run-1", "exit").at(0);
    EXPECT_EQ(exit["exit_code"], 4);
    EXPECT_EQ(exit["stdout_lines"], 10);
    EXPECT_EQ(exit["lost_stdout_lines"], 10);
    EXPECT_EQ(exit["lost_stderr_lines"], 10);
    EXPECT_NE(exit["lost_reason"].get<std::string>().find("400"), std::string::npos) << exit.dump();
    EXPECT_NE(exit["lost_reason"].get<std::string>().find("invalid_callback"), std::string::npos)
        << exit.dump();
    EXPECT_EQ(joinedLines("run-2"), std::vector<std::string>{"next"});
    // Refused once, not retried for ever.
    std::size_t refusals = 0;
    for (const auto& delivery : sink_.deliveries("run-1")) refusals += delivery.status == 400;
    EXPECT_EQ(refusals, 1u);
}

TEST_F(ExecutorDelivery, AGivenUpRunStaysGivenUpAcrossAnExecutorRestart) {
    sink_.refuseLinesOf("run-1", 403);
    startExecutor();
    // Refused while it still runs: what it prints later is given up too.
    startRun("run-1", "echo first; sleep 1; echo second; sleep 1; echo third");
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (sink_.deliveries("run-1").empty() && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(20ms);
    }
    ASSERT_FALSE(sink_.deliveries("run-1").empty()) << log();
    stopExecutor();  // kills the run: its exit comes from nowhere now; a new run follows
    startExecutor();
    startRun("run-2", "echo next");
    ASSERT_TRUE(sink_.waitForExit("run-2", 10s)) << log();
    EXPECT_EQ(joinedLines("run-2"), std::vector<std::string>{"next"});
    EXPECT_TRUE(sink_.events("run-1", "stdout").empty());
    // The killed run's exit came after the restart, with every line it printed given up.
    ASSERT_TRUE(sink_.waitForExit("run-1", 10s)) << log();
    const auto exit = sink_.events("run-1", "exit").at(0);
    EXPECT_GE(exit["stdout_lines"], 1) << exit.dump();
    EXPECT_EQ(exit["lost_stdout_lines"], exit["stdout_lines"]) << exit.dump();
    std::size_t refusals = 0;
    for (const auto& delivery : sink_.deliveries("run-1")) refusals += delivery.status == 403;
    EXPECT_EQ(refusals, 1u) << "the restarted executor sent the given-up lines again";
}

TEST_F(ExecutorDelivery, TransientAnswersAreRetriedUntilDelivered) {
    for (const int status : {503, 429, 408}) {
        const std::string runId = "run-" + std::to_string(status);
        sink_.refuseLinesOf(runId, status);
        if (!executor_) startExecutor();
        startRun(runId, "echo one; echo two");
        const auto deadline = std::chrono::steady_clock::now() + 10s;
        while (sink_.deliveries(runId).size() < 3 && std::chrono::steady_clock::now() < deadline) {
            std::this_thread::sleep_for(20ms);
        }
        ASSERT_GE(sink_.deliveries(runId).size(), 3u) << status << log();
        sink_.refuseLinesOf(runId, 200);
        ASSERT_TRUE(sink_.waitForExit(runId)) << status << log();
        EXPECT_EQ(joinedLines(runId), (std::vector<std::string>{"one", "two"})) << status;
        EXPECT_FALSE(sink_.events(runId, "exit").at(0).contains("lost_stdout_lines")) << status;
    }
}

}  // namespace
}  // namespace aw::test
