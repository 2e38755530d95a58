// agent-host as a real process on the embedded default (SQLite): health, error shapes,
// auth, migrations across restarts, clean shutdown.
#include <gtest/gtest.h>

#include <soci/soci.h>
#include <soci/sqlite3/soci-sqlite3.h>

#include <csignal>
#include <filesystem>
#include <set>
#include <sstream>
#include <thread>
#include <vector>

#include "support/agent_host_harness.h"
#include "support/http_client.h"

namespace aw::test {
namespace {

std::string errorCode(const HttpResult& result) {
    const auto json = result.json();
    if (!json.contains("error")) return "(no error object in " + result.body + ")";
    EXPECT_TRUE(json["error"].contains("message"));
    EXPECT_TRUE(json["error"].contains("hint"));
    return json["error"]["code"].get<std::string>();
}

int sqliteCount(const std::filesystem::path& db, const std::string& query) {
    soci::session sql(soci::sqlite3, "db=" + db.string());
    int n = -1;
    sql << query, soci::into(n);
    return n;
}

TEST(AgentHostOnSqlite, ServesHealthAndReadinessOnTheEmbeddedDefault) {
    TempDir data;
    AgentHost host(defaultLaunch(data.path().string()));
    const auto health = httpGet(host.port(), "/health");
    EXPECT_EQ(health.status, 200);
    EXPECT_EQ(health.json(), nlohmann::json({{"status", "ok"}}));
    const auto ready = httpGet(host.port(), "/ready");
    EXPECT_EQ(ready.status, 200);
    EXPECT_EQ(ready.json()["status"], "ready");
    EXPECT_TRUE(std::filesystem::exists(data / "agent.db"));
}

TEST(AgentHostOnSqlite, AnswersBadRequestsInTheErrorShape) {
    TempDir data;
    auto launch = defaultLaunch(data.path().string());
    launch.env["AW_HTTP_MAX_BODY_BYTES"] = "1024";
    AgentHost host(launch);

    const auto missing = httpGet(host.port(), "/no/such/route");
    EXPECT_EQ(missing.status, 404);
    EXPECT_EQ(errorCode(missing), "not_found");

    const auto wrongMethod = httpRequest(host.port(), {"POST", "/health"});
    EXPECT_EQ(wrongMethod.status, 405);
    EXPECT_EQ(errorCode(wrongMethod), "method_not_allowed");

    const std::string big(4096, 'x');
    const auto declared = httpRequest(host.port(), {"GET", "/health", big});
    EXPECT_EQ(declared.status, 413);
    EXPECT_EQ(errorCode(declared), "body_too_large");
    const auto chunked = httpRequest(host.port(), {"GET", "/health", big, {}, true});
    EXPECT_EQ(chunked.status, 413);

    const auto badId = httpGet(host.port(), "/v1/sessions/bad%2Fid");
    EXPECT_EQ(badId.status, 400);
    EXPECT_EQ(errorCode(badId), "invalid_session");

    const auto unknownSession = httpGet(host.port(), "/v1/sessions/chat-1");
    EXPECT_EQ(unknownSession.status, 404);
    EXPECT_EQ(errorCode(unknownSession), "session_not_found");

    EXPECT_EQ(httpGet(host.port(), "/health").status, 200);
}

TEST(AgentHostOnSqlite, HandlerFailureIs500AndTheHostStaysUp) {
    TempDir data;
    AgentHost host(defaultLaunch(data.path().string()));
    // Break the schema underneath the running host: the handler's query now fails.
    {
        soci::session sql(soci::sqlite3, "db=" + (data / "agent.db").string() + " timeout=10");
        sql << "DROP TABLE session_workers";
    }
    const auto broken = httpGet(host.port(), "/v1/sessions/chat-1");
    EXPECT_EQ(broken.status, 500);
    EXPECT_EQ(errorCode(broken), "internal_error");
    EXPECT_EQ(broken.body.find("no such table"), std::string::npos) << "internals leaked";
    EXPECT_NE(host.log().find("no such table"), std::string::npos) << "cause not logged";
    EXPECT_EQ(httpGet(host.port(), "/health").status, 200);
}

TEST(AgentHostOnSqlite, BearerTokensGuardClientAndAdminRoutesSeparately) {
    TempDir data;
    auto launch = defaultLaunch(data.path().string());
    launch.env["AW_AUTH_CLIENT_TOKENS"] = "client-secret-1";
    launch.env["AW_AUTH_ADMIN_TOKENS"] = "admin-secret-1";
    AgentHost host(launch);
    const std::map<std::string, std::string> client{{"Authorization", "Bearer client-secret-1"}};
    const std::map<std::string, std::string> admin{{"Authorization", "Bearer admin-secret-1"}};

    EXPECT_EQ(httpGet(host.port(), "/health").status, 200);
    EXPECT_EQ(httpGet(host.port(), "/v1/sessions/chat-1").status, 401);
    EXPECT_EQ(httpGet(host.port(), "/v1/sessions/chat-1", admin).status, 403);
    EXPECT_EQ(httpGet(host.port(), "/v1/sessions/chat-1", client).status, 404);
    EXPECT_EQ(httpGet(host.port(), "/admin/config").status, 401);
    EXPECT_EQ(httpGet(host.port(), "/admin/config", client).status, 403);
    const auto config = httpGet(host.port(), "/admin/config", admin);
    EXPECT_EQ(config.status, 200);
    EXPECT_EQ(config.body.find("secret-1"), std::string::npos);
    EXPECT_EQ(host.log().find("secret-1"), std::string::npos) << "a token reached the log";
}

TEST(AgentHostOnSqlite, ConfigurationLayersResolveFileThenEnvironmentThenFlags) {
    TempDir data;
    const auto file = data.write("aw.json", R"({"log_level": "debug", "auth": {"admin_tokens": ["a1"]},
        "http": {"max_body_bytes": 100, "threads": 5}})");
    auto launch = defaultLaunch(data.path().string());
    launch.args.insert(launch.args.end(), {"--config", file.string(), "--log-level", "warning"});
    launch.env["AW_HTTP_MAX_BODY_BYTES"] = "200";
    AgentHost host(launch);
    const auto config = httpGet(host.port(), "/admin/config", {{"Authorization", "Bearer a1"}}).json();
    EXPECT_EQ(config["log_level"], "warning");           // flag over file
    EXPECT_EQ(config["http"]["max_body_bytes"], 200);    // environment over file
    EXPECT_EQ(config["http"]["threads"], 5);             // file over default
    EXPECT_EQ(config["auth"]["admin_tokens"], "1 configured");
}

TEST(AgentHostOnSqlite, MigrationsAreAppliedOnceAcrossRestarts) {
    TempDir data;
    const std::string applied =
        R"("migrations_applied":["001_init.sql","002_runs.sql",)"
        R"("003_queue_done.sql","004_queue_claim.sql","005_translation_progress.sql",)"
        R"("006_forwarded_replies.sql","007_runs_newest.sql","008_worker_callback_tokens.sql",)"
        R"("009_worker_executors.sql","010_cluster_replicas.sql"])";
    for (int start = 0; start < 3; ++start) {
        AgentHost host(defaultLaunch(data.path().string()));
        EXPECT_EQ(httpGet(host.port(), "/ready").status, 200);
        const bool firstStart = start == 0;
        EXPECT_EQ(host.log().find(applied) != std::string::npos, firstStart) << host.log();
        EXPECT_EQ(host.stop().code, 0);
    }
    const auto files = std::distance(
        std::filesystem::directory_iterator(std::string(AW_BUILD_DIR) + "/sql/sqlite"),
        std::filesystem::directory_iterator());
    EXPECT_EQ(sqliteCount(data / "agent.db", "SELECT COUNT(*) FROM schema_migrations"), files);
}

TEST(AgentHostOnSqlite, FailedMigrationLeavesTheDatabaseUnchangedAndNamesTheFile) {
    TempDir data;
    TempDir sql;
    std::filesystem::copy(std::string(AW_BUILD_DIR) + "/sql", sql.path(),
                          std::filesystem::copy_options::recursive);
    sql.write("sqlite/950_broken.sql", "CREATE TABLE partial (x INTEGER);\nCREATE TABLE (;\n");
    auto launch = defaultLaunch(data.path().string());
    launch.env["AW_SQL_DIR"] = sql.path().string();
    const auto refused = runHostExpectingExit(launch);
    EXPECT_EQ(refused.status.code, 70);
    EXPECT_NE(refused.stderrText.find("sql/sqlite/950_broken.sql"), std::string::npos)
        << refused.stderrText;
    EXPECT_EQ(sqliteCount(data / "agent.db",
                          "SELECT COUNT(*) FROM sqlite_master WHERE name = 'partial'"),
              0);
    EXPECT_EQ(sqliteCount(data / "agent.db",
                          "SELECT COUNT(*) FROM schema_migrations WHERE version = 950"),
              0);
}

//! The first JSON log line whose "msg" is `message`, waiting up to 5 s for it; null if none.
nlohmann::json logLine(const AgentHost& host, const std::string& message) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    do {
        std::istringstream lines(host.log());
        for (std::string line; std::getline(lines, line);) {
            const auto json = nlohmann::json::parse(line, nullptr, false);
            if (json.is_object() && json.value("msg", "") == message) return json;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    } while (std::chrono::steady_clock::now() < deadline);
    return nullptr;
}

TEST(AgentHostOnSqlite, TheStartLogNamesThePortChosenForPortZeroAndTheHostIdInUse) {
    TempDir data;
    AgentHost host(defaultLaunch(data.path().string()));  // --listen 127.0.0.1:0
    const std::string url = "http://127.0.0.1:" + std::to_string(host.port());

    const auto listening = logLine(host, "listening");
    ASSERT_TRUE(listening.is_object()) << host.log();
    EXPECT_EQ(listening["url"], url);
    EXPECT_EQ(listening["config"]["listen"], url) << "the configured :0, not the bound port";
    const std::string hostId = listening.value("host_id", "");
    EXPECT_FALSE(hostId.empty()) << listening.dump();
    const std::string portSuffix = ":" + std::to_string(host.port());
    EXPECT_TRUE(hostId.size() > portSuffix.size() &&
                hostId.compare(hostId.size() - portSuffix.size(), portSuffix.size(), portSuffix) == 0)
        << "documented default <hostname>:<port> with the real port, got " << hostId;
    EXPECT_EQ(listening["config"]["host_id"], hostId);

    // Without tokens the host warns that it serves unauthenticated: on the real address.
    const auto open = logLine(host, "no API tokens configured: serving unauthenticated on loopback only");
    ASSERT_TRUE(open.is_object()) << host.log();
    EXPECT_EQ(open["listen"], url);
}

TEST(AgentHostOnSqlite, SigtermShutsDownCleanly) {
    TempDir data;
    AgentHost host(defaultLaunch(data.path().string()));
    const auto status = host.stop();
    EXPECT_TRUE(status.exitedNormally());
    EXPECT_EQ(status.code, 0);
    EXPECT_NE(host.log().find("\"msg\":\"stopped\""), std::string::npos);
}

TEST(AgentHostOnSqlite, TheAccessLogHasOneWholeLinePerRequestOfABurstOnceStopped) {
    TempDir data;
    auto launch = defaultLaunch(data.path().string());
    launch.env["AW_HTTP_ACCESS_LOG_SAMPLE"] = "1";  // every request, not one read in ten
    AgentHost host(launch);
    constexpr int kThreads = 4;
    constexpr int kPerThread = 250;
    std::vector<std::thread> clients;
    for (int t = 0; t < kThreads; ++t) {
        clients.emplace_back([&host, t] {
            for (int i = 0; i < kPerThread; ++i) {
                const auto id = "burst-" + std::to_string(t * kPerThread + i);
                EXPECT_EQ(httpGet(host.port(), "/health", {{"X-Request-Id", id}}).status, 200);
            }
        });
    }
    for (auto& client : clients) client.join();
    // Stopped at once: lines still buffered must be written on the way out, not lost.
    EXPECT_EQ(host.stop().code, 0);

    std::set<std::string> logged;
    std::istringstream lines(host.log());
    for (std::string line; std::getline(lines, line);) {
        const auto json = nlohmann::json::parse(line, nullptr, false);
        ASSERT_TRUE(json.is_object()) << "not a whole JSON line: " << line;
        const std::string id = json.value("request_id", "");
        if (json.value("msg", "") != "request" || id.rfind("burst-", 0) != 0) continue;
        EXPECT_EQ(json.value("path", ""), "/health");
        EXPECT_EQ(json.value("status", 0), 200);
        EXPECT_TRUE(json.contains("duration_ms"));
        logged.insert(id);
    }
    EXPECT_EQ(logged.size(), static_cast<std::size_t>(kThreads * kPerThread));
}

TEST(AgentHostOnSqlite, SuccessfulReadsAreSampledInTheAccessLogAndEverythingElseIsLogged) {
    TempDir data;
    AgentHost host(defaultLaunch(data.path().string()));  // http.access_log_sample 10
    for (int i = 0; i < 100; ++i) EXPECT_EQ(httpGet(host.port(), "/health").status, 200);
    for (int i = 0; i < 5; ++i) EXPECT_EQ(httpGet(host.port(), "/v1/runs/no-such-run").status, 404);
    EXPECT_EQ(host.postMessage("s1", {{"prompt", "no provider"}}).status, 400);
    EXPECT_EQ(host.stop().code, 0);  // every buffered line written

    int health = 0, missing = 0, posts = 0;
    std::istringstream lines(host.log());
    for (std::string line; std::getline(lines, line);) {
        const auto json = nlohmann::json::parse(line, nullptr, false);
        if (!json.is_object() || json.value("msg", "") != "request") continue;
        const std::string path = json.value("path", "");
        if (path == "/health") {
            ++health;
            EXPECT_EQ(json.value("sampled", 0), 10) << line;
        } else if (path == "/v1/runs/no-such-run") {
            ++missing;
            EXPECT_FALSE(json.contains("sampled")) << line;
        } else if (path == "/v1/sessions/s1/messages") {
            ++posts;
        }
    }
    EXPECT_EQ(health, 10);  // /health is answered on one thread: exactly one in ten
    EXPECT_EQ(missing, 5);
    EXPECT_EQ(posts, 1);
}

TEST(AgentHostOnSqlite, RequestIdsMadeByTheHostAreThirtyTwoHexDigitsAndDistinct) {
    TempDir data;
    AgentHost host(defaultLaunch(data.path().string()));
    std::set<std::string> ids;
    for (int i = 0; i < 50; ++i) {
        const auto answer = httpGet(host.port(), "/health");
        const std::string id =
            answer.headers.count("X-Request-Id") ? answer.headers.at("X-Request-Id") : "";
        EXPECT_EQ(id.size(), 32u) << id;
        EXPECT_EQ(id.find_first_not_of("0123456789abcdef"), std::string::npos) << id;
        ids.insert(id);
    }
    EXPECT_EQ(ids.size(), 50u);
}

TEST(AgentHostOnSqlite, HelpListsTheFlagsAndConfigurationKeys) {
    const auto result = runHostExpectingExit({{"--help"}, {}});
    EXPECT_EQ(result.status.code, 0);
    for (const char* expected : {"--listen", "--data-dir", "--db", "--plugins-dir", "--log-level",
                                 "--config", "AW_AUTH_CLIENT_TOKENS", "AW_HTTP_MAX_BODY_BYTES"}) {
        EXPECT_NE(result.stdoutText.find(expected), std::string::npos) << expected;
    }
}

}  // namespace
}  // namespace aw::test
