// agent-host as a real process on a throwaway PostgreSQL cluster: migrations once,
// readiness that follows the database down and back up.
#include <gtest/gtest.h>

#include <soci/postgresql/soci-postgresql.h>
#include <soci/soci.h>

#include <thread>

#include "support/agent_host_harness.h"
#include "support/http_client.h"
#include "support/postgres_cluster.h"

namespace aw::test {
namespace {

class AgentHostOnPostgres : public ::testing::Test {
protected:
    void SetUp() override {
        if (const auto reason = PostgresCluster::unavailableReason(); !reason.empty()) {
            GTEST_FAIL() << "PostgreSQL is needed for these tests: " << reason;
        }
        cluster_ = std::make_unique<PostgresCluster>();
        cluster_->createDatabase("agent");
    }

    HostLaunch launch() {
        auto launch = defaultLaunch(data_.path().string());
        launch.args.insert(launch.args.end(), {"--db", cluster_->url("agent")});
        return launch;
    }

    int count(const std::string& query) {
        soci::session sql(soci::postgresql, cluster_->url("agent"));
        int n = -1;
        sql << query, soci::into(n);
        return n;
    }

    //! Polls `path` until it answers `status` or `timeout` passes; returns the last answer.
    static HttpResult waitForStatus(unsigned short port, const std::string& path, int status,
                                    std::chrono::seconds timeout) {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        HttpResult last = httpGet(port, path);
        while (last.status != status && std::chrono::steady_clock::now() < deadline) {
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
            last = httpGet(port, path);
        }
        return last;
    }

    TempDir data_;
    std::unique_ptr<PostgresCluster> cluster_;
};

TEST_F(AgentHostOnPostgres, MigratesOnceAndServesReadiness) {
    for (int start = 0; start < 3; ++start) {
        AgentHost host(launch());
        EXPECT_EQ(httpGet(host.port(), "/health").status, 200);
        EXPECT_EQ(httpGet(host.port(), "/ready").status, 200);
        EXPECT_EQ(host.stop().code, 0);
    }
    // 001_init, 002_runs, 003_queue_done, 004_queue_claim, 005_log_appends,
    // 006_translation_progress, 007_forwarded_replies, 008_runs_newest
    EXPECT_EQ(count("SELECT COUNT(*) FROM schema_migrations"), 11);
    EXPECT_EQ(
        count("SELECT COUNT(*) FROM information_schema.tables WHERE table_name IN "
              "('session_workers','runs','run_queue','run_queue_done','run_events','raw_output',"
              "'human_loop','todos','run_translation')"),
        9);
}

TEST_F(AgentHostOnPostgres, ReadinessFollowsTheDatabaseDownAndBackUp) {
    AgentHost host(launch());
    ASSERT_EQ(httpGet(host.port(), "/ready").status, 200);

    cluster_->stop();
    const auto down = httpGet(host.port(), "/ready");
    EXPECT_EQ(down.status, 503);
    EXPECT_EQ(down.json()["error"]["code"], "database_unavailable");
    EXPECT_FALSE(down.json()["checks"]["database"]["reason"].get<std::string>().empty());
    EXPECT_EQ(httpGet(host.port(), "/health").status, 200) << "liveness must not follow the db";
    const auto query = httpGet(host.port(), "/v1/sessions/chat-1");
    EXPECT_EQ(query.status, 503) << query.body;

    cluster_->start();
    EXPECT_EQ(waitForStatus(host.port(), "/ready", 200, std::chrono::seconds(20)).status, 200);
    EXPECT_EQ(waitForStatus(host.port(), "/v1/sessions/chat-1", 404, std::chrono::seconds(20)).status,
              404);
}

}  // namespace
}  // namespace aw::test
