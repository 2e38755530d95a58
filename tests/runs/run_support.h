// End-to-end run tests: agent-host as a child process with the shipped provider plugins,
// local workers (agent-executor) and the real agent CLIs pointed at the scripted model server
// (build/tests/aw-model-server), on SQLite or on a throwaway PostgreSQL cluster shared by the
// whole test binary (one database per test).
#pragma once

#include <Poco/Net/HTTPClientSession.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <filesystem>
#include <functional>
#include <ostream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "live/live_support.h"
#include "support/agent_host_process.h"
#include "support/http_client.h"
#include "support/postgres_cluster.h"
#include "support/temp_dir.h"

namespace aw::runs {

using Json = nlohmann::json;
using live::Cli;

enum class Db { Sqlite, Postgres };
const char* toString(Db db);
inline void PrintTo(Db db, std::ostream* out) { *out << toString(db); }

//! The PostgreSQL cluster of the whole binary, started on first use and stopped at the end
//! (a gtest Environment). Each caller gets a database of its own.
class SharedPostgres : public ::testing::Environment {
public:
    static SharedPostgres& instance();
    //! A new database on the shared cluster; throws when PostgreSQL cannot run here.
    std::string newDatabaseUrl();
    void TearDown() override;

private:
    std::unique_ptr<test::PostgresCluster> cluster_;
    int databases_ = 0;
};

struct HarnessOptions {
    Db db = Db::Sqlite;
    //! Extra AW_* settings of agent-host (e.g. AW_SSE_KEEPALIVE_MS).
    std::map<std::string, std::string> hostEnv;
    //! providers.codex-cli.binary; codex-cli is configured only when set.
    std::string codexBinary;
    //! Waits until both providers are healthy before the harness is handed out.
    bool waitForProviders = true;
};

//! A model server and an agent-host whose claude-code provider talks to it.
class RunHarness {
public:
    explicit RunHarness(HarnessOptions options);
    ~RunHarness();

    unsigned short port() const { return host_->port(); }
    live::ModelServer& model() { return *model_; }
    test::AgentHostProcess& host() { return *host_; }
    const std::filesystem::path& dataDir() const { return data_.path(); }
    std::filesystem::path workerDir(const std::string& sessionId) const;
    std::filesystem::path workspace(const std::string& sessionId) const;

    test::HttpResult postMessage(const std::string& sessionId, const Json& body,
                                 std::map<std::string, std::string> headers = {});
    //! Posts `{provider: claude-code, prompt}` (+ `extra`) and returns the new run id; the
    //! test fails (empty id) when the host does not answer 202.
    std::string startRun(const std::string& sessionId, const std::string& prompt,
                         const Json& extra = Json::object());

    Json run(const std::string& runId);
    Json session(const std::string& sessionId);
    Json todos(const std::string& sessionId);
    //! Every event of the run, paging through GET /v1/runs/{rid}/events.
    std::vector<Json> events(const std::string& runId, std::int64_t pageSize = 500);
    test::HttpResult stop(const std::string& runId);
    test::HttpResult humanReply(const std::string& runId, const Json& body);

    //! Polls GET /v1/runs/{rid} until `done(run)` holds or `timeout` passes; returns the last
    //! answer (check it: the condition may not hold).
    Json waitForRun(const std::string& runId, const std::function<bool(const Json&)>& done,
                    std::chrono::milliseconds timeout = std::chrono::seconds(90));
    //! Until the run is completed, failed or stopped.
    Json waitForEnd(const std::string& runId,
                    std::chrono::milliseconds timeout = std::chrono::seconds(90));
    //! Until the run's status is `status`.
    Json waitForStatus(const std::string& runId, const std::string& status,
                       std::chrono::milliseconds timeout = std::chrono::seconds(90));

    //! For failure messages: the run, its events (clipped) and the end of the host's log.
    std::string describe(const std::string& runId);

private:
    HarnessOptions options_;
    test::TempDir data_{"aw-runs"};
    std::unique_ptr<live::ModelServer> model_;
    std::unique_ptr<test::AgentHostProcess> host_;
};

bool isTerminalStatus(const std::string& status);
//! The data of the run's events of `type`, in order.
std::vector<Json> dataOf(const std::vector<Json>& events, const std::string& type);
std::vector<std::string> typesOf(const std::vector<Json>& events);

//! Polls `condition` every 50 ms until it holds or `timeout` passes; returns its last value.
bool eventually(const std::function<bool()>& condition,
                std::chrono::milliseconds timeout = std::chrono::seconds(30));

//! One block of an SSE stream, up to its blank line.
struct SseFrame {
    std::optional<std::string> id;
    std::string event;
    std::string data;
    std::vector<std::string> comments;  //!< ": keep-alive" -> " keep-alive"
    std::optional<std::string> retry;
    Json json() const;  //!< `data` parsed; null when it is not JSON
    bool isEvent() const { return id.has_value() || !event.empty() || !data.empty(); }
};

//! GET /v1/runs/{rid}/events with Accept: text/event-stream on a raw Poco connection, read
//! frame by frame as the host writes them.
class SseClient {
public:
    SseClient(unsigned short port, const std::string& runId, const std::string& lastEventId = "",
              std::chrono::milliseconds readTimeout = std::chrono::seconds(60));
    ~SseClient();

    int status() const { return status_; }
    const std::string& contentType() const { return contentType_; }
    const std::string& body() const { return body_; }  //!< of a non-200 answer
    //! The next frame; nullopt once the stream ended (or a read timed out: see timedOut()).
    std::optional<SseFrame> next();
    //! The next frame carrying an event (comments and `retry:` blocks are kept in skipped).
    std::optional<SseFrame> nextEvent();
    //! Reads event frames until the stream ends.
    std::vector<SseFrame> readToEnd();
    bool ended() const { return ended_; }
    bool timedOut() const { return timedOut_; }
    int keepAlives() const { return keepAlives_; }
    //! Drops the connection without reading further.
    void close();

private:
    std::unique_ptr<Poco::Net::HTTPClientSession> session_;
    std::istream* in_ = nullptr;
    int status_ = 0;
    std::string contentType_;
    std::string body_;
    bool ended_ = false;
    bool timedOut_ = false;
    int keepAlives_ = 0;
};

}  // namespace aw::runs
