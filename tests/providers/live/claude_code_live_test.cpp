// Claude Code 2.1.330 through the claude-code plugin, live against the scripted model server.
#include "providers/live/live_scenarios.h"

namespace aw::live {
namespace {

class ClaudeCodeLive : public LiveTest {
protected:
    ClaudeCodeLive() : LiveTest({Cli::ClaudeCode, "Bash", "Write", "toolu_", "TaskUpdate", true}) {}

    //! approval_mode "ask": the stdio protocol mode, human.request answered from `replies`.
    RunResult runAsking(const std::string& prompt, std::vector<Json> replies,
                        RunOptions options = {}) {
        options.replies = std::move(replies);
        options.timeoutSeconds = 120;
        return sandbox_->run(sandbox_->request(prompt, {{"approval_mode", "ask"}}), options);
    }
};

std::vector<Json> humanRequests(const RunResult& run, const std::string& tool) {
    std::vector<Json> found;
    for (const auto& data : run.ofType("human.request")) {
        if (data.value("tool", "") == tool) found.push_back(data);
    }
    return found;
}

TEST_F(ClaudeCodeLive, RunsToolsAndTodos) {
    checkToolsAndTodos(traits_, *sandbox_, *server_);
}

TEST_F(ClaudeCodeLive, APromptTooLongForAnArgumentGoesThroughStdin) {
    checkLongPrompt(*sandbox_);
}

TEST_F(ClaudeCodeLive, ResumesTheSameSession) {
    checkResume(traits_, *sandbox_, *server_);
}

TEST_F(ClaudeCodeLive, Http500FailsWithTheServersMessageWithinSeconds) {
    // The plugin sets CLAUDE_CODE_MAX_RETRIES=2: two quick retries, then the error.
    checkHttpFailure(traits_, *sandbox_, "FAIL500 now", 500,
                     "scripted failure: the model server answers 500", 30);
}

TEST_F(ClaudeCodeLive, Http400FailsWithTheServersMessage) {
    checkHttpFailure(traits_, *sandbox_, "FAIL400 now", 400,
                     "scripted failure: the model server refuses this request (400)", 30);
}

TEST_F(ClaudeCodeLive, InterruptMidToolStops) {
    checkInterruptMidTool(traits_, *sandbox_);
}

TEST_F(ClaudeCodeLive, InterruptAfterToolStartStops) {
    checkInterruptAfterToolStart(traits_, *sandbox_);
}

TEST_F(ClaudeCodeLive, HumanLoopAllowRunsTheTools) {
    const RunResult run =
        runAsking("TOOLS_AND_TODOS: create hello.txt and notes.txt", {{{"decision", "allow"}},
                                                                      {{"decision", "allow"}},
                                                                      {{"decision", "allow"}},
                                                                      {{"decision", "allow"}}});
    expectWellFormed(run, *sandbox_);
    ASSERT_EQ(run.terminal().value("type", ""), "run.completed") << run.describe();
    const auto bash = humanRequests(run, "Bash");
    ASSERT_EQ(bash.size(), 1u) << run.describe();
    EXPECT_EQ(bash[0].value("kind", ""), "permission");
    EXPECT_FALSE(bash[0].value("request_id", "").empty());
    EXPECT_EQ(bash[0]["input"].value("command", ""), "echo hello > hello.txt");
    const auto starts = run.ofType("tool.start");
    const bool matchesACall = std::any_of(starts.begin(), starts.end(), [&](const Json& start) {
        return start.value("tool_call_id", "") == bash[0].value("tool_call_id", "-");
    });
    EXPECT_TRUE(matchesACall) << bash[0].dump();
    EXPECT_EQ(humanRequests(run, "Write").size(), 1u) << run.describe();
    EXPECT_EQ(test::readText(sandbox_->workspace() / "hello.txt"), "hello\n");
    EXPECT_EQ(test::readText(sandbox_->workspace() / "notes.txt"),
              "notes written by the scripted model\n");
    EXPECT_LT(run.seconds, 60) << "stdin was not closed after the result?";
}

TEST_F(ClaudeCodeLive, HumanLoopDenyRefusesTheTools) {
    const RunResult run =
        runAsking("TOOLS_AND_TODOS: create hello.txt and notes.txt",
                  {{{"decision", "deny"}, {"message", "Not in this workspace, please."}},
                   {{"decision", "deny"}, {"message", "No notes either."}}});
    expectWellFormed(run, *sandbox_);
    ASSERT_EQ(run.terminal().value("type", ""), "run.completed") << run.describe();
    ASSERT_EQ(humanRequests(run, "Bash").size(), 1u) << run.describe();
    const std::string bashCall = humanRequests(run, "Bash")[0].value("tool_call_id", "");
    bool refused = false;
    for (const auto& result : run.ofType("tool.result")) {
        if (result.value("tool_call_id", "") != bashCall) continue;
        refused = true;
        EXPECT_TRUE(result.value("is_error", false)) << result.dump();
        EXPECT_NE(result.value("output", "").find("Not in this workspace, please."),
                  std::string::npos)
            << result.dump();
    }
    EXPECT_TRUE(refused) << run.describe();
    EXPECT_FALSE(std::filesystem::exists(sandbox_->workspace() / "hello.txt"));
    EXPECT_FALSE(std::filesystem::exists(sandbox_->workspace() / "notes.txt"));
}

TEST_F(ClaudeCodeLive, InterruptInAskModeStopsThroughTheProtocol) {
    // In stdio protocol mode the plugin interrupts with a control request on stdin.
    RunOptions options;
    options.interruptWhenFileExists = sandbox_->workspace() / "slow.started";
    const RunResult run =
        runAsking("SLOWTOOL: wait for something", {{{"decision", "allow"}}}, options);
    expectWellFormed(run, *sandbox_);
    EXPECT_TRUE(run.interruptSent) << run.describe();
    EXPECT_EQ(run.terminal().value("type", ""), "run.stopped") << run.describe();
    EXPECT_NE(run.stderrText.find("): {\"stdin\":"), std::string::npos)
        << "not interrupted through the protocol\n"
        << run.describe();
    EXPECT_LT(run.seconds, 30);
}

TEST_F(ClaudeCodeLive, AskUserQuestionIsAnswered) {
    const RunResult run = runAsking(
        "ASKUSER: which greeting?",
        {{{"decision", "allow"}, {"answers", {{"Which greeting should I write?", "bonjour"}}}}});
    expectWellFormed(run, *sandbox_);
    ASSERT_EQ(run.terminal().value("type", ""), "run.completed") << run.describe();
    const auto questions = humanRequests(run, "AskUserQuestion");
    ASSERT_EQ(questions.size(), 1u) << run.describe();
    EXPECT_EQ(questions[0].value("kind", ""), "question");
    ASSERT_EQ(questions[0]["questions"].size(), 1u) << questions[0].dump();
    const Json& question = questions[0]["questions"][0];
    EXPECT_EQ(question.value("question", ""), "Which greeting should I write?");
    ASSERT_EQ(question["options"].size(), 2u);
    EXPECT_EQ(question["options"][1].value("label", ""), "bonjour");
    const auto texts = run.texts("text");
    ASSERT_FALSE(texts.empty());
    EXPECT_NE(texts.back().find("\"bonjour\""), std::string::npos)
        << "the model did not get the answer: " << texts.back();
}

}  // namespace
}  // namespace aw::live
