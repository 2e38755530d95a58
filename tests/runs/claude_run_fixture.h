// The world of the claude runs tests: a scripted model server (build/tests/aw-model-server)
// and an agent-host (the one harness, support/agent_host_harness.h) whose claude-code
// provider runs the real Claude Code CLI against it, with local workers (agent-executor),
// on SQLite or on a database of the binary's shared PostgreSQL cluster.
#pragma once

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <map>
#include <memory>
#include <string>

#include "support/agent_clis.h"
#include "support/agent_host_harness.h"
#include "support/run_events.h"
#include "support/sse_client.h"
#include "support/temp_dir.h"

namespace aw::runs {

using Json = nlohmann::json;
using live::Cli;
using test::Db;

struct HarnessOptions {
    Db db = Db::Sqlite;
    //! Extra AW_* settings of agent-host (e.g. AW_SSE_KEEPALIVE_MS).
    std::map<std::string, std::string> hostEnv;
    //! providers.codex-cli.binary; codex-cli is configured only when set.
    std::string codexBinary;
    //! Waits until both providers are healthy before the harness is handed out.
    bool waitForProviders = true;
    //! A PostgreSQL database to share with other harnesses (replicas); empty: one of its own.
    std::string dbUrl;
};

//! What must exist before agent-host starts, and outlive it: its data dir, the model server.
struct ClaudeRunWorld {
    test::TempDir data{"aw-runs"};
    std::unique_ptr<live::ModelServer> model = std::make_unique<live::ModelServer>();
};

//! The agent-host of a claude runs test (all of test::AgentHost) with its model server.
//! The host goes first (its executors and their CLIs end with it), then the model server.
class RunHarness : private ClaudeRunWorld, public test::AgentHost {
public:
    explicit RunHarness(HarnessOptions options);

    live::ModelServer& model() { return *ClaudeRunWorld::model; }
    test::AgentHost& host() { return *this; }

    //! Posts `{provider: claude-code, prompt}` (+ `extra`) and returns the new run id; the
    //! test fails (empty id) when the host does not answer 202 with created: true.
    std::string startRun(const std::string& sessionId, const std::string& prompt,
                         const Json& extra = Json::object());
    //! Until the run is completed, failed or stopped (the last answer: check it).
    Json waitForEnd(const std::string& runId,
                    std::chrono::milliseconds timeout = std::chrono::seconds(90));
    //! Until the run's status is `status` (the last answer: check it).
    Json waitForStatus(const std::string& runId, const std::string& status,
                       std::chrono::milliseconds timeout = std::chrono::seconds(90));
    //! For failure messages: the run, its events and the end of the host's log.
    std::string describe(const std::string& runId) const { return describeRun(runId); }

private:
    static test::HostLaunch launchFor(const HarnessOptions& options, const ClaudeRunWorld& world);
};

}  // namespace aw::runs
