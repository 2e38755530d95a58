// The live scenarios shared by the three CLIs, with what differs per CLI in `CliTraits`.
// Each helper runs one scenario through agent-provider-host --run and checks the events.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "support/agent_clis.h"

namespace aw::live {

struct CliTraits {
    Cli cli;
    std::string shellTool;  //!< tool.start name of a shell command
    std::string writeTool;  //!< tool.start name of the file write
    std::string callIdPrefix;
    std::string lastTodoSource;  //!< todo.update source of the final list
    bool toolStartWhileRunning;  //!< false: the CLI reports a tool only once it has finished
};

//! A test with its own model server and CLI sandbox; fails (does not skip) when the CLI is
//! not installed.
class LiveTest : public ::testing::Test {
protected:
    explicit LiveTest(CliTraits traits) : traits_(std::move(traits)) {}
    void SetUp() override;
    //! A sandbox with extra [model_providers.fake] lines (Codex) replacing the default one.
    void useCodexProviderExtra(const std::string& lines);

    CliTraits traits_;
    std::unique_ptr<ModelServer> server_;
    std::unique_ptr<CliSandbox> sandbox_;
};

//! Invariants of every run: agent-provider-host exited 0, exactly one terminal event and it
//! is the last, messages closed, every tool.start has its tool.result, no leftover process
//! in the workspace.
void expectWellFormed(const RunResult& run, const CliSandbox& sandbox);

//! TOOLS_AND_TODOS: texts, reasoning, shell + write tools with the CLI's call ids, the whole
//! todo list, provider.session, usage and run.completed; the files exist.
//! `out` (optional) receives the run.
void checkToolsAndTodos(const CliTraits& traits, CliSandbox& sandbox, ModelServer& server,
                        RunResult* out = nullptr);
//! The first run, then RECALL with its provider_session_id and usage: same session, the
//! model saw the first prompt, the second run's usage is its own.
void checkResume(const CliTraits& traits, CliSandbox& sandbox, ModelServer& server);
//! LONGPROMPT with 200 KB, more than fits in a command-line argument: the plugin passes it on
//! the CLI's stdin, the model server gets all of it, the run completes; then again, 150 KB,
//! resuming that session.
void checkLongPrompt(CliSandbox& sandbox);
//! FAIL500 -> run.failed carrying `expectedMessage`, in less than `maxSeconds`.
void checkHttpFailure(const CliTraits& traits, CliSandbox& sandbox, const std::string& prompt,
                      int expectedStatus, const std::string& expectedMessage, double maxSeconds);
//! SLOWTOOL, interrupted while the command runs (SIGINT to agent-provider-host once the
//! command has touched its marker) -> run.stopped, nothing left running.
void checkInterruptMidTool(const CliTraits& traits, CliSandbox& sandbox);
//! SLOWTOOL with --interrupt-after-event tool.start -> run.stopped.
void checkInterruptAfterToolStart(const CliTraits& traits, CliSandbox& sandbox);

}  // namespace aw::live
