// Codex CLI 0.169.0 through the codex-cli plugin, live against the scripted model server.
#include "providers/live/live_scenarios.h"

namespace aw::live {
namespace {

class CodexCliLive : public LiveTest {
protected:
    CodexCliLive()
        : LiveTest(
              {Cli::CodexCli, "command_execution", "file_change", "item_", "todo_list", true}) {}
};

TEST_F(CodexCliLive, RunsToolsAndTodos) {
    checkToolsAndTodos(traits_, *sandbox_, *server_);
}

TEST_F(CodexCliLive, APromptTooLongForAnArgumentGoesThroughStdin) {
    checkLongPrompt(*sandbox_);
}

TEST_F(CodexCliLive, ResumesTheSameSession) {
    checkResume(traits_, *sandbox_, *server_);
}

TEST_F(CodexCliLive, Http500FailsWithTheCliMessageWithinSeconds) {
    // Codex retries five times (~25 s) and then reports its own text, not the server's.
    checkHttpFailure(traits_, *sandbox_, "FAIL500 now", 500, "experiencing high demand", 60);
}

TEST_F(CodexCliLive, Http500FailsFastWhenTheProviderDisablesRetries) {
    // The operator's model provider may turn Codex's retries off (config.toml).
    useCodexProviderExtra("request_max_retries = 0\nstream_max_retries = 0\n");
    checkHttpFailure(traits_, *sandbox_, "FAIL500 now", 500, "experiencing high demand", 15);
}

TEST_F(CodexCliLive, Http400FailsWithTheServersMessage) {
    checkHttpFailure(traits_, *sandbox_, "FAIL400 now", 400,
                     "scripted failure: the model server refuses this request (400)", 30);
}

TEST_F(CodexCliLive, InterruptMidToolStops) {
    checkInterruptMidTool(traits_, *sandbox_);
}

TEST_F(CodexCliLive, InterruptAfterToolStartStops) {
    checkInterruptAfterToolStart(traits_, *sandbox_);
}

TEST_F(CodexCliLive, InterruptAfterMillisecondsStops) {
    RunOptions options;
    options.interruptAfterMs = 5000;  // Codex has long started the 30 s command by then
    const RunResult run = sandbox_->run(sandbox_->request("SLOWTOOL: wait for something"), options);
    expectWellFormed(run, *sandbox_);
    EXPECT_EQ(run.terminal().value("type", ""), "run.stopped") << run.describe();
    EXPECT_TRUE(std::filesystem::exists(sandbox_->workspace() / "slow.started"));
    EXPECT_LT(run.seconds, 25);
}

}  // namespace
}  // namespace aw::live
