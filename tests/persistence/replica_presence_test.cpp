// ReplicaPresence against a real PostgreSQL: a replica that dies (its session ended by the
// server, as when its process is killed) has its leases ended by a live one after two rounds
// that find its lock free, and its runs can be claimed at once, even when it died before any
// other replica looked; a live replica's leases are never touched, nor those of a holder that
// never listed itself (a replica of an older version); a replica that lost its session takes
// its lock again. On SQLite it does nothing.
#include <gtest/gtest.h>

#include <memory>
#include <thread>
#include <vector>

#include "db/database.h"
#include "db/migrator.h"
#include "db/replica_presence.h"
#include "db/soci_run_store.h"
#include "support/postgres_cluster.h"
#include "support/temp_dir.h"

namespace aw {
namespace {

using namespace std::chrono_literals;

constexpr std::int64_t kNow = 1'700'000'000'000;
constexpr std::int64_t kLeaseMs = 3'600'000;  // an hour: only presence can end it soon

class ReplicaPresenceOnPostgres : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        if (!test::PostgresCluster::unavailableReason().empty()) return;
        cluster_ = std::make_unique<test::PostgresCluster>();
    }
    static void TearDownTestSuite() { cluster_.reset(); }

    void SetUp() override {
        if (const auto reason = test::PostgresCluster::unavailableReason(); !reason.empty()) {
            GTEST_FAIL() << "PostgreSQL is needed for these tests: " << reason;
        }
        const std::string name = "presence" + std::to_string(++databases_);
        cluster_->createDatabase(name);
        url_ = parseDatabaseUrl(cluster_->url(name));
        db_ = std::make_unique<Database>(url_, 2, 10s);
        applyMigrations(*db_, std::filesystem::path(AW_SOURCE_DIR) / "sql");
        store_ = std::make_unique<SociRunStore>(*db_);
    }

    //! A run of its own session, claimed by `holder` under a long lease.
    void claimedBy(const std::string& holder, const std::string& runId) {
        NewRun run;
        run.runId = runId;
        run.sessionId = "session-" + runId;
        run.workspaceS3Prefix = "s3://bucket/aw/default/" + run.sessionId + "/";
        run.provider = "claude-code";
        run.prompt = "hello";
        run.nowMs = kNow;
        ASSERT_TRUE(store_->createRun(run).created);
        const auto claimed = store_->claim(holder, kNow, kLeaseMs, 1);
        ASSERT_EQ(claimed.size(), 1u);
        ASSERT_EQ(claimed[0].runId, runId);
    }

    std::unique_ptr<ReplicaPresence> presence(const std::string& hostId) {
        return std::make_unique<ReplicaPresence>(
            *db_, hostId, *store_, [this](const std::string& replica, std::size_t leases) {
                gone_.push_back({replica, leases});
            });
    }

    //! Ends every session holding an advisory lock on `hostId`'s name, as the server does
    //! when its host dies.
    void endSessionOf(const std::string& hostId) {
        db_->withSession([&](soci::session& sql) {
            const std::string name = "aw.replica:" + hostId;
            int ended = 0;
            sql << "SELECT COUNT(pg_terminate_backend(l.pid)) FROM pg_locks l WHERE"
                   " l.locktype = 'advisory' AND ((l.classid::bigint << 32) | l.objid::bigint)"
                   " = hashtextextended(:name, 0)",
                soci::use(name), soci::into(ended);
            ASSERT_EQ(ended, 1);
        });
    }

    //! Waits until no session holds `hostId`'s lock: the server frees a session's locks as
    //! its backend exits, a moment after the session was ended.
    void awaitFree(const std::string& hostId) {
        PgAdvisorySession probe(url_);
        const std::string name = "aw.replica:" + hostId;
        const auto deadline = std::chrono::steady_clock::now() + 10s;
        while (!probe.tryLock(name)) {
            ASSERT_LT(std::chrono::steady_clock::now(), deadline) << name << " stayed held";
            std::this_thread::sleep_for(10ms);
        }
        probe.unlock(name);
    }

    static std::unique_ptr<test::PostgresCluster> cluster_;
    static int databases_;
    DatabaseUrl url_;
    std::unique_ptr<Database> db_;
    std::unique_ptr<SociRunStore> store_;
    std::vector<std::pair<std::string, std::size_t>> gone_;
};

std::unique_ptr<test::PostgresCluster> ReplicaPresenceOnPostgres::cluster_;
int ReplicaPresenceOnPostgres::databases_ = 0;

TEST_F(ReplicaPresenceOnPostgres, ADeadReplicasLeasesEndAfterTwoRoundsAndItsRunsAreClaimable) {
    auto a = presence("replica-a");
    auto b = presence("replica-b");
    a->check(kNow);
    b->check(kNow);
    claimedBy("replica-a", "run-1");
    claimedBy("replica-a", "run-2");

    b->check(kNow + 1000);  // A holds its lock: seen alive
    b->check(kNow + 2000);
    EXPECT_TRUE(gone_.empty());
    EXPECT_TRUE(store_->claim("replica-b", kNow + 2000, kLeaseMs, 1).empty());

    a.reset();  // A's session ends with it, as when its process is killed
    awaitFree("replica-a");
    b->check(kNow + 3000);
    EXPECT_TRUE(gone_.empty()) << "gone after one round";
    b->check(kNow + 4000);
    ASSERT_EQ(gone_.size(), 1u);
    EXPECT_EQ(gone_[0].first, "replica-a");
    EXPECT_EQ(gone_[0].second, 2u);
    const auto taken = store_->claim("replica-b", kNow + 4000, kLeaseMs, 2);
    ASSERT_EQ(taken.size(), 2u);
    for (const auto& entry : taken) EXPECT_EQ(entry.lockedBy, "replica-b");
    b->check(kNow + 5000);
    EXPECT_EQ(gone_.size(), 1u) << "told twice";
}

TEST_F(ReplicaPresenceOnPostgres, AReplicaThatDiesBeforeAnyOtherLookedIsSeenGoneAllTheSame) {
    auto a = presence("replica-a");
    a->check(kNow);  // holds its lock, listed
    claimedBy("replica-a", "run-1");
    a.reset();
    awaitFree("replica-a");
    auto b = presence("replica-b");  // started after A died
    b->check(kNow + 1000);
    b->check(kNow + 2000);
    ASSERT_EQ(gone_.size(), 1u);
    EXPECT_EQ(gone_[0], std::make_pair(std::string("replica-a"), std::size_t{1}));
    EXPECT_EQ(store_->claim("replica-b", kNow + 2000, kLeaseMs, 1).size(), 1u);
}

TEST_F(ReplicaPresenceOnPostgres, AHolderThatNeverListedItselfIsLeftToItsLease) {
    auto b = presence("replica-b");
    claimedBy("replica-old", "run-1");  // a replica that holds no presence lock
    for (int round = 1; round <= 5; ++round) b->check(kNow + round * 1000);
    EXPECT_TRUE(gone_.empty());
    EXPECT_TRUE(store_->claim("replica-b", kNow + 5000, kLeaseMs, 1).empty());
}

TEST_F(ReplicaPresenceOnPostgres, AReplicaThatLostItsSessionTakesItsLockAgainAndStaysAlive) {
    auto a = presence("replica-a");
    auto b = presence("replica-b");
    a->check(kNow);
    claimedBy("replica-a", "run-1");
    b->check(kNow + 1000);  // seen alive

    endSessionOf("replica-a");  // a connection lost, the process alive
    awaitFree("replica-a");
    b->check(kNow + 2000);  // free once
    a->check(kNow + 2500);  // A's round: its lock taken again on a new session
    b->check(kNow + 3000);
    b->check(kNow + 4000);
    EXPECT_TRUE(gone_.empty()) << "a live replica's leases were ended";
    EXPECT_TRUE(store_->claim("replica-b", kNow + 4000, kLeaseMs, 1).empty());
}

TEST(ReplicaPresenceOnSqlite, DoesNothing) {
    test::TempDir dir;
    const auto url = parseDatabaseUrl("sqlite://" + (dir.path() / "aw.db").string());
    Database db(url, 1, 10s);
    applyMigrations(db, std::filesystem::path(AW_SOURCE_DIR) / "sql");
    SociRunStore store(db);
    bool told = false;
    ReplicaPresence presence(db, "only", store,
                             [&](const std::string&, std::size_t) { told = true; });
    presence.start();
    presence.check(kNow);
    EXPECT_FALSE(told);
}

}  // namespace
}  // namespace aw
