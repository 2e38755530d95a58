// The pinned agent CLIs (installed by scripts/install-agent-clis.sh into the CLI cache) and
// the scripted model server (build/tests/aw-model-server) on 127.0.0.1, shared by the live
// CLI tests (providers/live: the CLIs driven through their plugins by
// `agent-provider-host --run`, each test with its own model server, HOME, CLI configuration
// and workspace) and the runs through agent-host (runs/).
#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "process/subprocess.h"
#include "support/temp_dir.h"

namespace aw::live {

using Json = nlohmann::json;

enum class Cli { ClaudeCode, CodexCli, Opencode };

//! The pinned CLI of a plugin; keep in step with scripts/install-agent-clis.sh.
struct CliPin {
    const char* package;
    const char* version;
    const char* binary;
    const char* plugin;  //!< build/plugins/<plugin>.so
};
const CliPin& pinOf(Cli cli);

//! ${AW_CLI_CACHE:-$HOME/.cache/agent-worker/clis}, as the install script has it.
std::filesystem::path cliCacheDir();
//! <cache>/<package>@<version>/node_modules/.bin/<binary>
std::filesystem::path cliBinary(Cli cli);
//! Empty when the CLI is there; otherwise why not and what to do.
std::string missingCli(Cli cli);

//! build/tests/aw-model-server on a free loopback port; stopped with the object.
class ModelServer {
public:
    ModelServer();
    ~ModelServer();
    unsigned short port() const { return port_; }
    std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
    //! What it was asked so far (GET /_aw/requests).
    Json requests() const;
    //! Its request log (stderr).
    std::string log() const;

private:
    test::TempDir dir_{"aw-model"};
    std::unique_ptr<Subprocess> process_;
    unsigned short port_ = 0;
};

struct RunOptions {
    std::vector<Json> replies;        //!< --replies, one per human.request
    std::string interruptAfterEvent;  //!< --interrupt-after-event
    int interruptAfterMs = -1;        //!< --interrupt-after-ms
    int timeoutSeconds = 0;           //!< --timeout-s
    //! Sends SIGINT to agent-provider-host (its Ctrl-C: interrupt the run) once this file
    //! exists, e.g. the marker the slow tool touches when it has started.
    std::filesystem::path interruptWhenFileExists;
    std::chrono::seconds deadline{240};  //!< the test fails when the run takes longer
};

struct RunResult {
    std::vector<Json> events;  //!< {"type","data"} as agent-provider-host printed them
    std::string stderrText;    //!< agent-provider-host's and the CLI's stderr
    ExitStatus status;         //!< of agent-provider-host
    double seconds = 0;        //!< wall time of the whole run
    bool interruptSent = false;

    std::vector<Json> ofType(const std::string& type) const;  //!< their data
    std::vector<std::string> types() const;
    int terminalCount() const;
    //! The last event if it is terminal (whole event), else null.
    Json terminal() const;
    //! message.stop texts of that kind, in order.
    std::vector<std::string> texts(const std::string& kind = "text") const;
    //! For failure messages: the events (clipped) and the end of stderr.
    std::string describe() const;
};

//! One CLI's world for a test: HOME, its configuration pointing at the model server, the
//! workspace. Runs keep it, so a second run can resume the first one's session.
class CliSandbox {
public:
    //! `codexProviderExtra`: extra lines for config.toml's [model_providers.fake] table.
    CliSandbox(Cli cli, const ModelServer& server, const std::string& codexProviderExtra = "");

    const std::filesystem::path& workspace() const { return workspace_; }
    //! A run request for `prompt` (approval_mode auto), the binary and CLI settings set.
    Json request(const std::string& prompt, const Json& overrides = Json::object()) const;
    RunResult run(const Json& request, const RunOptions& options = {});

private:
    Cli cli_;
    test::TempDir dir_;
    std::filesystem::path workspace_;
    std::map<std::string, std::string> processEnv_;  //!< of agent-provider-host (and the CLI)
    Json settingsEnv_ = Json::object();              //!< the operator's providers.<name>.env
    int runs_ = 0;
};

//! Processes whose working directory is `dir` or below it (leftovers of a run).
std::vector<std::string> processesIn(const std::filesystem::path& dir);

}  // namespace aw::live
