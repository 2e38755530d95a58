// The one way the end-to-end suites start agent-host: build/bin/agent-host as a child
// process (in its own process group, its pid known, its stderr kept in a file), waited on
// until it prints the URL it listens on, plus its HTTP API as JSON calls and bounded waits
// on providers and runs. SQLite lives in the data dir; SharedPostgres hands out databases on
// one throwaway PostgreSQL cluster per test binary.
#pragma once

#include <sys/types.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <ostream>
#include <set>
#include <string>
#include <vector>

#include "process/subprocess.h"
#include "support/http_client.h"
#include "support/postgres_cluster.h"
#include "support/temp_dir.h"

namespace aw::test {

using Json = nlohmann::json;

std::string agentHostBinary();  //!< <build>/bin/agent-host

//! The command line and environment of one agent-host.
struct HostLaunch {
    std::vector<std::string> args;           //!< after the program name
    std::map<std::string, std::string> env;  //!< AW_* and friends
};

//! Sets `--flag value`, replacing the flag's value when it is already there.
void setFlag(HostLaunch& launch, const std::string& flag, const std::string& value);

//! Arguments for a host on a free loopback port with its data in `dataDir` and an empty
//! plugins directory of its own (`dataDir`/plugins): tests that want providers pass theirs.
HostLaunch defaultLaunch(const std::string& dataDir);

//! The same, said by its parts.
struct HostSpec {
    std::filesystem::path dataDir;
    std::filesystem::path pluginsDir;
    std::string db;                          //!< --db; empty: SQLite in the data dir
    std::map<std::string, std::string> env;  //!< AW_* settings (and PATH when wanted)
    HostLaunch launch() const;
};

//! The token hosts started with quickHostEnv() accept on POST /v1/callbacks/executor.
inline constexpr const char* kExecutorToken = "rr-executor-token";

//! Settings for tests that break things: the executor token, reapers only on request,
//! quick supervisor restarts and queue retries, a short stop grace.
std::map<std::string, std::string> quickHostEnv();

//! agent-host as a child process; SIGTERM (15 s grace) when the object goes.
class AgentHost {
public:
    //! Starts the host; throws with its stderr when it exits or stays silent instead.
    explicit AgentHost(HostLaunch launch);
    explicit AgentHost(const HostSpec& spec) : AgentHost(spec.launch()) {}
    ~AgentHost();
    AgentHost(const AgentHost&) = delete;
    AgentHost& operator=(const AgentHost&) = delete;

    // ---- the process ------------------------------------------------------------------
    unsigned short port() const { return port_; }
    pid_t pid() const { return process_->pid(); }
    const HostLaunch& launch() const { return launch_; }
    //! SIGTERM and wait; returns the exit status.
    ExitStatus stop();
    //! SIGKILL to agent-host alone (not its process group), then reaps it.
    void killHard();
    //! Stops the host if it still runs and starts it again with the same launch (on a new
    //! port; the data dir and database stay).
    void restart();
    //! Everything the host wrote to stderr (its JSON log), over all its starts.
    std::string log() const;
    //! The log's last `bytes` bytes, for failure messages.
    std::string logTail(std::size_t bytes = 6000) const;

    // ---- its files (--data-dir) ---------------------------------------------------------
    std::filesystem::path dataDir() const;
    std::filesystem::path workerDir(const std::string& sessionId) const;  //!< workers/<sid>
    std::filesystem::path workspace(const std::string& sessionId) const;  //!< .../workspace

    // ---- its API (with the launch's first client or admin token, when it has them) -------
    HttpResult get(const std::string& path) const;
    HttpResult post(const std::string& path, const Json& body = Json::object(),
                    std::map<std::string, std::string> headers = {}) const;
    //! POST /v1/sessions/{sid}/messages as it is.
    HttpResult postMessage(const std::string& sessionId, const Json& body,
                           std::map<std::string, std::string> headers = {}) const;
    //! POST /v1/sessions/{sid}/messages {provider, prompt}; throws unless 202; the run id.
    std::string sendMessage(const std::string& sessionId, const std::string& provider,
                            const std::string& prompt) const;
    Json run(const std::string& runId) const;  //!< GET /v1/runs/{rid}; throws unless 200
    //! Every event of the run, paging through ?after=; throws unless each page answers 200
    //! with next_after equal to the seq of its last event.
    std::vector<Json> events(const std::string& runId, std::int64_t pageSize = 500) const;
    Json session(const std::string& sessionId) const;    //!< GET /v1/sessions/{sid}; null on 404
    Json todos(const std::string& sessionId) const;      //!< GET /v1/sessions/{sid}/todos
    HttpResult stopRun(const std::string& runId) const;  //!< POST .../stop
    HttpResult humanReply(const std::string& runId, const Json& body) const;  //!< .../human-reply
    Json providers() const;                        //!< GET /admin/providers "providers"
    Json provider(const std::string& name) const;  //!< its row, or null
    //! POST /v1/callbacks/executor with kExecutorToken as executor local-<sid>.
    HttpResult callback(const std::string& sessionId, const std::string& runId,
                        const Json& records) const;

    // ---- bounded waits ------------------------------------------------------------------
    //! Until the provider is healthy; throws with the log after `timeout`.
    Json waitProviderHealthy(const std::string& name,
                             std::chrono::milliseconds timeout = std::chrono::seconds(20)) const;
    //! Until `count` providers are healthy (the plugins hand-shake after the host listens);
    //! throws with the providers and the log after `timeout`.
    Json waitProvidersHealthy(int count,
                              std::chrono::milliseconds timeout = std::chrono::seconds(30)) const;
    //! Polls GET /v1/runs/{rid} until `done(run)` holds or `timeout` passes; returns the last
    //! answer (check it: the condition may not hold).
    Json waitForRun(const std::string& runId, const std::function<bool(const Json&)>& done,
                    std::chrono::milliseconds timeout = std::chrono::seconds(90)) const;
    //! Until the run has one of `statuses`; throws with its events and the log after `timeout`.
    Json waitRunStatus(const std::string& runId, const std::set<std::string>& statuses,
                       std::chrono::milliseconds timeout) const;
    //! Until the run is completed, failed or stopped; throws after `timeout`.
    Json waitRunFinished(const std::string& runId, std::chrono::milliseconds timeout) const;

    //! For failure messages: the run, its events (clipped) and the end of the host's log.
    std::string describeRun(const std::string& runId) const;

private:
    void start();

    HostLaunch launch_;
    TempDir logDir_{"aw-host-log"};
    int starts_ = 0;
    std::unique_ptr<Subprocess> process_;
    unsigned short port_ = 0;
};

struct RefusedStart {
    ExitStatus status;
    std::string stderrText;
    std::string stdoutText;
};

//! Runs a host expected to refuse to start; returns how it ended and what it said.
RefusedStart runHostExpectingExit(HostLaunch launch);

// ---- the database ---------------------------------------------------------------------

enum class Db { Sqlite, Postgres };
const char* toString(Db db);
inline void PrintTo(Db db, std::ostream* out) {
    *out << toString(db);
}

//! The PostgreSQL cluster of the whole test binary, started on first use and stopped after
//! the last test (a gtest Environment). Each caller gets a database of its own.
class SharedPostgres : public ::testing::Environment {
public:
    static SharedPostgres& instance();
    //! A new database on the shared cluster; throws when PostgreSQL cannot run here.
    std::string newDatabaseUrl(const std::string& prefix = "db");
    void TearDown() override;

private:
    std::unique_ptr<PostgresCluster> cluster_;
    int databases_ = 0;
};

//! "" (SQLite in the data dir) or a new database URL on the shared cluster.
std::string databaseUrlFor(Db db, const std::string& prefix = "db");

}  // namespace aw::test
