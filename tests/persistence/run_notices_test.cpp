// What an append tells the other hosts on PostgreSQL (their SSE streams follow the runs this
// host drives): one notice `<host id> <run id>` for an append that stored new events, sent
// with its commit, and none for an append whose events were all stored before (a replay) or
// that only moved the run's translated seq.
#include <gtest/gtest.h>

#include <libpq-fe.h>
#include <poll.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "db/database.h"
#include "db/migrator.h"
#include "db/pg_event_listener.h"
#include "db/soci_run_store.h"
#include "support/postgres_cluster.h"

namespace aw {
namespace {

using namespace std::chrono_literals;

//! A connection listening on kRunEventsChannel, as PgEventListener's.
class Listener {
public:
    explicit Listener(const std::string& url) : connection_(PQconnectdb(url.c_str()), &PQfinish) {
        exec("LISTEN " + std::string(kRunEventsChannel));
    }

    //! Waits (at most `deadline`) until `count` notices arrived; then, after a round trip
    //! that delivers any notice sent before it, returns every payload received.
    std::vector<std::string> payloadsOnceThereAre(std::size_t count,
                                                  std::chrono::seconds deadline) {
        const auto until = std::chrono::steady_clock::now() + deadline;
        while (payloads_.size() < count && std::chrono::steady_clock::now() < until) {
            pollfd socket{PQsocket(connection_.get()), POLLIN, 0};
            ::poll(&socket, 1, 100);
            take();
        }
        exec("SELECT 1");
        take();
        return payloads_;
    }

private:
    void exec(const std::string& command) {
        std::unique_ptr<PGresult, decltype(&PQclear)> result(
            PQexec(connection_.get(), command.c_str()), &PQclear);
        ASSERT_NE(PQresultStatus(result.get()), PGRES_FATAL_ERROR)
            << PQerrorMessage(connection_.get());
    }
    void take() {
        PQconsumeInput(connection_.get());
        while (PGnotify* notice = PQnotifies(connection_.get())) {
            payloads_.push_back(notice->extra);
            PQfreemem(notice);
        }
    }

    std::unique_ptr<PGconn, decltype(&PQfinish)> connection_;
    std::vector<std::string> payloads_;
};

TEST(RunNotices, AnAppendOfNewEventsAnnouncesItsRunOnceAndAReplayNothing) {
    if (const auto reason = test::PostgresCluster::unavailableReason(); !reason.empty()) {
        GTEST_FAIL() << "PostgreSQL is needed for this test: " << reason;
    }
    test::PostgresCluster cluster;
    cluster.createDatabase("notices");
    const std::string url = cluster.url("notices");
    Database db(parseDatabaseUrl(url), 2, 10s);
    applyMigrations(db, std::filesystem::path(AW_SOURCE_DIR) / "sql");
    SociRunStore store(db, {}, "host-a");
    NewRun run;
    run.runId = "r1";
    run.sessionId = "s1";
    run.workspaceS3Prefix = "s3://bucket/aw/default/s1/";
    run.provider = "claude-code";
    run.prompt = "hello";
    run.nowMs = 1;
    ASSERT_TRUE(store.createRun(run).created);
    Listener listener(url);

    const auto delta = [](const std::string& id) {
        return NewEvent{id, "message.delta", {{"text", "x"}}, 1};
    };
    ASSERT_EQ(store.appendEvents("r1", {delta("r1/stdout/1#0"), delta("r1/stdout/1#1")}, {1, {}}, 1)
                  .size(),
              2u);
    // A replay of what is stored, and a line that made no events: nothing new to announce.
    ASSERT_TRUE(store.appendEvents("r1", {delta("r1/stdout/1#0")}, {1, {}}, 1).empty());
    ASSERT_TRUE(store.appendEvents("r1", {}, {2, {}}, 1).empty());
    ASSERT_EQ(store.appendEvents("r1", {delta("r1/stdout/3#0")}, {3, {}}, 1).size(), 1u);

    EXPECT_EQ(listener.payloadsOnceThereAre(2, 10s),
              (std::vector<std::string>{"host-a r1", "host-a r1"}));
}

}  // namespace
}  // namespace aw
