// A small harness for the run robustness tests: agent-host as a child process whose pid the
// test knows (so it can SIGKILL exactly that process), its API as JSON calls, fake agent CLIs
// as shell scripts, bounded polling and checks on a run's event log.
#pragma once

#include <sys/types.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "process/subprocess.h"
#include "support/http_client.h"
#include "support/temp_dir.h"

namespace aw::rr {

using Json = nlohmann::json;
using namespace std::chrono_literals;

//! The token the test's host accepts on POST /v1/callbacks/executor.
inline constexpr const char* kExecutorToken = "rr-executor-token";

//! How to start agent-host: data dir, database, plugins dir, AW_* settings.
struct HostSpec {
    std::filesystem::path dataDir;
    std::filesystem::path pluginsDir;
    std::string db;  //!< empty: SQLite in the data dir
    std::map<std::string, std::string> env;  //!< AW_* settings (and PATH when wanted)
};

//! agent-host as a child process in its own process group; its stderr is kept in a file.
class Host {
public:
    explicit Host(const HostSpec& spec);
    ~Host();
    Host(const Host&) = delete;
    Host& operator=(const Host&) = delete;

    unsigned short port() const { return port_; }
    pid_t pid() const { return process_->pid(); }
    //! SIGKILL to agent-host alone (not its process group), then reaps it.
    void killHard();
    //! SIGTERM and wait.
    ExitStatus stop();
    std::string log() const;
    //! The log's last `bytes` bytes, for failure messages.
    std::string logTail(std::size_t bytes = 6000) const;

    test::HttpResult get(const std::string& path) const;
    test::HttpResult post(const std::string& path, const Json& body = Json::object(),
                          std::map<std::string, std::string> headers = {}) const;

    // ---- the API, asserting nothing ------------------------------------------------------
    //! POST /v1/sessions/{sid}/messages; throws unless 202; returns the run id.
    std::string sendMessage(const std::string& sessionId, const std::string& provider,
                            const std::string& prompt) const;
    Json run(const std::string& runId) const;  //!< GET /v1/runs/{rid}
    //! Every event of the run, paging through ?after=.
    std::vector<Json> events(const std::string& runId) const;
    Json worker(const std::string& sessionId) const;  //!< GET /v1/sessions/{sid} (null on 404)
    Json providers() const;                           //!< GET /admin/providers "providers"
    Json provider(const std::string& name) const;     //!< its row, or null
    //! POST /v1/callbacks/executor with the executor token; returns the HTTP result.
    test::HttpResult callback(const std::string& sessionId, const std::string& runId,
                              const Json& records) const;

    //! Polls until the provider is healthy; throws with the log after `timeout`.
    Json waitProviderHealthy(const std::string& name, std::chrono::milliseconds timeout = 20s) const;
    //! Polls until the run has one of `statuses`; throws after `timeout`.
    Json waitRunStatus(const std::string& runId, const std::set<std::string>& statuses,
                       std::chrono::milliseconds timeout) const;
    //! Polls until the run is completed, failed or stopped.
    Json waitRunFinished(const std::string& runId, std::chrono::milliseconds timeout) const;

private:
    test::TempDir logDir_{"aw-rr-host-log"};
    std::unique_ptr<Subprocess> process_;
    unsigned short port_ = 0;
};

//! The usual settings: executor token, reapers only on request, quick supervisor restarts.
std::map<std::string, std::string> baseEnv();

//! Polls `condition` every 50 ms until it is true or `timeout` passed; returns its last value.
bool waitFor(const std::function<bool()>& condition, std::chrono::milliseconds timeout);

//! A shell script (mode 0755) at `path` with `body` after the #! line.
std::filesystem::path writeScript(const std::filesystem::path& path, const std::string& body);
//! POSIX single-quoted `text` for a shell script.
std::string shellQuote(const std::string& text);

//! tests/fixtures/providers/<name>: the recorded CLI stream's lines.
std::vector<std::string> fixtureLines(const std::string& name);
std::filesystem::path fixturePath(const std::string& name);

//! Processes whose working directory is `dir` or below it: pid -> command line.
std::map<pid_t, std::string> processesUnder(const std::filesystem::path& dir);
//! True while /proc/<pid> exists and is not a zombie.
bool processAlive(pid_t pid);
//! True when `ancestor` is `pid` or one of its parents (by /proc/<pid>/stat).
bool descendsFrom(pid_t pid, pid_t ancestor);

// ---- event log checks -------------------------------------------------------------------

std::vector<std::string> typesOf(const std::vector<Json>& events);
int countType(const std::vector<Json>& events, const std::string& type);
bool isTerminalType(const std::string& type);
//! Empty when seq is 1..n in order and event ids are unique; otherwise what is wrong.
std::string denseAndUnique(const std::vector<Json>& events);
//! The events as comparable values: {event_id with the run id replaced, type, data} where
//! the data of host events whose figures vary from run to run (durations, executor ids)
//! is reduced to what must not vary. workspace.sync events are left out: one sync covers
//! the messages of one batch of lines, so their number follows the batching.
Json comparable(const std::vector<Json>& events, const std::string& runId);
//! For failure messages: one line per event, clipped.
std::string describe(const std::vector<Json>& events);

}  // namespace aw::rr
