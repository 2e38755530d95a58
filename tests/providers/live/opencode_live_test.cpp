// opencode 1.18.33 through the opencode plugin, live against the scripted model server.
#include "providers/live/live_scenarios.h"

namespace aw::live {
namespace {

class OpencodeLive : public LiveTest {
protected:
    OpencodeLive() : LiveTest({Cli::Opencode, "bash", "write", "call_", "todowrite", false}) {}
};

TEST_F(OpencodeLive, RunsToolsAndTodos) {
    checkToolsAndTodos(traits_, *sandbox_, *server_);
}

TEST_F(OpencodeLive, APromptTooLongForAnArgumentGoesThroughStdin) {
    checkLongPrompt(*sandbox_);
}

TEST_F(OpencodeLive, ResumesTheSameSession) {
    checkResume(traits_, *sandbox_, *server_);
}

TEST_F(OpencodeLive, Http500IsStoppedByTheHostRunTimeout) {
    // opencode retries a 500 five times with backoff (2+4+8+16+32 s, ~70-80 s) and has no
    // setting to shorten it: the host's run timeout ends the run, as the host asked.
    // 30 s: well under opencode's retries, and time enough for opencode to start and ask the
    // model server even on a machine busy with the rest of the suite (15 s was not, once).
    RunOptions options;
    options.timeoutSeconds = 30;
    const RunResult run = sandbox_->run(sandbox_->request("FAIL500 now"), options);
    expectWellFormed(run, *sandbox_);
    std::cout << "[ measured ] FAIL500 with a 30 s host timeout: " << run.seconds << " s"
              << std::endl;
    EXPECT_EQ(run.terminal().value("type", ""), "run.stopped") << run.describe();
    EXPECT_LT(run.seconds, 60);
    EXPECT_GE(server_->requests().size(), 2u) << "the model server never saw the request";
}

TEST_F(OpencodeLive, Http500WithRetryAfterFailsWithTheServersMessage) {
    // With the retry-after-ms header real OpenAI-compatible servers send, opencode's five
    // retries are quick and the run fails with the server's message.
    checkHttpFailure(traits_, *sandbox_, "FAIL500 RETRYAFTER now", 500,
                     "scripted failure: the model server answers 500", 60);
}

TEST_F(OpencodeLive, Http400FailsWithTheServersMessage) {
    checkHttpFailure(traits_, *sandbox_, "FAIL400 now", 400,
                     "scripted failure: the model server refuses this request (400)", 60);
}

TEST_F(OpencodeLive, InterruptMidToolStops) {
    checkInterruptMidTool(traits_, *sandbox_);
}

}  // namespace
}  // namespace aw::live
