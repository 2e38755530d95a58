// ClusterLock against a real PostgreSQL: one host at a time holds it, a host that dies
// (its session ended by the server) frees it at once, and a waiting host gets it when the
// holder lets go. On SQLite (one host) it is the process's own turn-taking.
#include <gtest/gtest.h>

#include <future>
#include <memory>
#include <thread>

#include "db/cluster_lock.h"
#include "db/database.h"
#include "support/postgres_cluster.h"
#include "support/temp_dir.h"

namespace aw {
namespace {

using namespace std::chrono_literals;

class ClusterLockOnPostgres : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        if (!test::PostgresCluster::unavailableReason().empty()) return;
        cluster_ = std::make_unique<test::PostgresCluster>();
        cluster_->createDatabase("locks");
    }
    static void TearDownTestSuite() { cluster_.reset(); }

    void SetUp() override {
        if (const auto reason = test::PostgresCluster::unavailableReason(); !reason.empty()) {
            GTEST_FAIL() << "PostgreSQL is needed for these tests: " << reason;
        }
        url_ = parseDatabaseUrl(cluster_->url("locks"));
    }

    //! Ends the session holding the advisory lock, as the server does when its host dies.
    int endHoldersSession() {
        Database db(url_, 1, 10s);
        return db.withSession([](soci::session& sql) {
            int ended = 0;
            sql << "SELECT COUNT(pg_terminate_backend(pid)) FROM pg_locks WHERE locktype = "
                   "'advisory'",
                soci::into(ended);
            return ended;
        });
    }

    static std::unique_ptr<test::PostgresCluster> cluster_;
    DatabaseUrl url_;
};

std::unique_ptr<test::PostgresCluster> ClusterLockOnPostgres::cluster_;

TEST_F(ClusterLockOnPostgres, OneHostAtATimeHoldsIt) {
    ClusterLock a(url_, "aw.maintenance"), b(url_, "aw.maintenance"), other(url_, "aw.other");
    bool ranInside = false, otherRan = false;
    EXPECT_TRUE(a.tryRun([&] {
        EXPECT_FALSE(b.tryRun([&] { ranInside = true; })) << "b ran while a held the lock";
        EXPECT_TRUE(other.tryRun([&] { otherRan = true; }))
            << "another lock's name is another lock";
    }));
    EXPECT_FALSE(ranInside);
    EXPECT_TRUE(otherRan);
    bool ranAfter = false;
    EXPECT_TRUE(b.tryRun([&] { ranAfter = true; }));
    EXPECT_TRUE(ranAfter);
}

TEST_F(ClusterLockOnPostgres, AHostWhoseSessionEndsFreesItAtOnce) {
    ClusterLock a(url_, "aw.maintenance"), b(url_, "aw.maintenance");
    EXPECT_TRUE(a.tryRun([&] {
        ASSERT_EQ(endHoldersSession(), 1);
        EXPECT_TRUE(b.tryRun([] {})) << "the dead host's lock outlived its session";
    }));
    // a reconnects and takes it again.
    bool ran = false;
    EXPECT_TRUE(a.tryRun([&] { ran = true; }));
    EXPECT_TRUE(ran);
}

TEST_F(ClusterLockOnPostgres, AWaitingHostGetsItWhenTheHolderLetsGo) {
    ClusterLock a(url_, "aw.maintenance"), b(url_, "aw.maintenance");
    std::promise<void> letGo, holding;
    std::thread holder([&] {
        a.tryRun([&] {
            holding.set_value();
            letGo.get_future().wait();
        });
    });
    holding.get_future().wait();
    EXPECT_FALSE(b.run([] {}, 300ms)) << "b ran while a held the lock";
    std::atomic<bool> ran{false};
    auto waiting = std::async(std::launch::async, [&] { return b.run([&] { ran = true; }, 30s); });
    EXPECT_FALSE(ran.load());
    letGo.set_value();
    EXPECT_TRUE(waiting.get());
    EXPECT_TRUE(ran.load());
    holder.join();
}

TEST(ClusterLockOnSqlite, TheProcessTakesTurns) {
    test::TempDir dir;
    ClusterLock lock(parseDatabaseUrl("sqlite://" + (dir / "aw.db").string()), "aw.maintenance");
    bool other = true;
    EXPECT_TRUE(lock.tryRun(
        [&] { other = std::async(std::launch::async, [&] { return lock.tryRun([] {}); }).get(); }));
    EXPECT_FALSE(other) << "a second caller ran while the first held the lock";
    EXPECT_TRUE(lock.tryRun([] {}));
}

}  // namespace
}  // namespace aw
