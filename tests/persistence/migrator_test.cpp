// Migrations against a real SQLite file.
#include <gtest/gtest.h>

#include <filesystem>

#include "agent_worker/core/problem.h"
#include "db/migrator.h"
#include "support/temp_dir.h"

namespace aw {
namespace {

int count(Database& db, const std::string& query) {
    return db.withSession([&](soci::session& sql) {
        int n = 0;
        sql << query, soci::into(n);
        return n;
    });
}

class SqliteMigrations : public ::testing::Test {
protected:
    std::unique_ptr<Database> open() {
        return std::make_unique<Database>(parseDatabaseUrl("sqlite://" + (dir_ / "aw.db").string()),
                                          2, std::chrono::seconds(1));
    }
    std::filesystem::path projectSql() const { return std::filesystem::path(AW_SOURCE_DIR) / "sql"; }

    test::TempDir dir_;
};

TEST_F(SqliteMigrations, CreatesTheDesignTablesAndAppliesNothingTwice) {
    auto db = open();
    const auto first = applyMigrations(*db, projectSql());
    ASSERT_FALSE(first.applied.empty());
    EXPECT_EQ(first.applied.front().name, "001_init.sql");
    for (const char* table : {"session_workers", "runs", "run_queue", "run_events", "raw_output",
                              "human_loop", "todos"}) {
        EXPECT_EQ(count(*db, std::string("SELECT COUNT(*) FROM sqlite_master WHERE name = '") +
                                 table + "'"),
                  1)
            << table;
    }
    const auto second = applyMigrations(*db, projectSql());
    EXPECT_TRUE(second.applied.empty());
    EXPECT_EQ(second.alreadyApplied, static_cast<int>(first.applied.size()));
    EXPECT_EQ(count(*db, "SELECT COUNT(*) FROM schema_migrations"),
              static_cast<int>(first.applied.size()));
}

TEST_F(SqliteMigrations, FailedFileIsRolledBackWholeAndNamed) {
    test::TempDir sql;
    std::filesystem::copy(projectSql(), sql.path(), std::filesystem::copy_options::recursive);
    sql.write("sqlite/900_broken.sql",
              "CREATE TABLE half_done (x INTEGER);\nINSERT INTO half_done VALUES (1);\n"
              "CREATE TABLE broken (;\n");
    auto db = open();
    try {
        applyMigrations(*db, sql.path());
        FAIL() << "broken migration applied";
    } catch (const ProblemError& e) {
        EXPECT_EQ(e.problem().code, "migration_failed");
        EXPECT_NE(e.problem().message.find("sql/sqlite/900_broken.sql"), std::string::npos);
        EXPECT_NE(e.problem().message.find("statement 3"), std::string::npos);
    }
    EXPECT_EQ(count(*db, "SELECT COUNT(*) FROM sqlite_master WHERE name = 'half_done'"), 0);
    EXPECT_EQ(count(*db, "SELECT COUNT(*) FROM schema_migrations WHERE version = 900"), 0);
    EXPECT_EQ(count(*db, "SELECT COUNT(*) FROM schema_migrations WHERE version = 1"), 1);
}

TEST_F(SqliteMigrations, TheQueueClaimMigrationLeavesOneClaimedEntryPerSession) {
    // A database at version 3 where a session has two claimed entries (an older version
    // allowed it after an out-of-order enqueue and an expired lease).
    test::TempDir version3;
    std::filesystem::copy(projectSql(), version3.path(), std::filesystem::copy_options::recursive);
    std::filesystem::remove(version3 / "sqlite/004_queue_claim.sql");
    auto db = open();
    applyMigrations(*db, version3.path());
    db->withSession([](soci::session& sql) {
        sql << "INSERT INTO session_workers (session_id, workspace_s3_prefix, created_at_ms,"
               " updated_at_ms) VALUES ('s1', 'p', 0, 0)";
        for (const char* run : {"r1", "r2", "r3"}) {
            sql << "INSERT INTO runs (run_id, session_id, provider, prompt, created_at_ms)"
                   " VALUES ('"
                << run << "', 's1', 'p', 'x', 0)";
        }
        sql << "INSERT INTO run_queue (enqueue_key, run_id, session_id, status, available_at_ms,"
               " lock_expires_at_ms, created_at_ms, updated_at_ms) VALUES"
               " ('r1', 'r1', 's1', 'claimed', 0, 100, 0, 0),"
               " ('r2', 'r2', 's1', 'claimed', 0, 500, 0, 0),"
               " ('r3', 'r3', 's1', 'queued', 0, 0, 0, 0)";
    });
    applyMigrations(*db, projectSql());
    EXPECT_EQ(
        count(*db, "SELECT COUNT(*) FROM run_queue WHERE status = 'claimed' AND run_id = 'r2'"), 1);
    EXPECT_EQ(
        count(*db, "SELECT COUNT(*) FROM run_queue WHERE status = 'retry_wait' AND run_id = 'r1'"),
        1);
    EXPECT_EQ(count(*db, "SELECT COUNT(*) FROM run_queue WHERE status = 'queued'"), 1);
}

TEST_F(SqliteMigrations, TheTranslationProgressMigrationTakesOverEachRunsMarkedLines) {
    // A database at version 4, where each translated line's row was marked (1), a
    // quarantined one 2: each run's translated seq becomes its highest marked stdout line.
    test::TempDir version4;
    std::filesystem::copy(projectSql(), version4.path(), std::filesystem::copy_options::recursive);
    std::filesystem::remove(version4 / "sqlite/005_translation_progress.sql");
    auto db = open();
    applyMigrations(*db, version4.path());
    db->withSession([](soci::session& sql) {
        sql << "INSERT INTO session_workers (session_id, workspace_s3_prefix, created_at_ms,"
               " updated_at_ms) VALUES ('s1', 'p', 0, 0)";
        for (const char* run : {"r1", "r2"}) {
            sql << "INSERT INTO runs (run_id, session_id, provider, prompt, created_at_ms)"
                   " VALUES ('"
                << run << "', 's1', 'p', 'x', 0)";
        }
        sql << "INSERT INTO raw_output (event_id, run_id, stream, seq, line, translated,"
               " received_at_ms) VALUES"
               " ('r1/stdout/1', 'r1', 'stdout', 1, 'a', 1, 0),"
               " ('r1/stdout/2', 'r1', 'stdout', 2, 'b', 2, 0),"
               " ('r1/stdout/3', 'r1', 'stdout', 3, 'c', 1, 0),"
               " ('r1/stdout/4', 'r1', 'stdout', 4, 'd', 0, 0),"
               " ('r1/exit/1', 'r1', 'exit', 1, '{}', 1, 0),"
               " ('r2/stdout/1', 'r2', 'stdout', 1, 'e', 0, 0)";
    });
    applyMigrations(*db, projectSql());
    EXPECT_EQ(count(*db, "SELECT stdout_seq FROM run_translation WHERE run_id = 'r1'"), 3);
    EXPECT_EQ(count(*db, "SELECT COUNT(*) FROM run_translation WHERE run_id = 'r2'"), 0);
}

TEST_F(SqliteMigrations, BadlyNamedOrDuplicateFilesAreRefused) {
    test::TempDir sql;
    sql.write("sqlite/001_a.sql", "SELECT 1;");
    sql.write("sqlite/001_b.sql", "SELECT 1;");
    try {
        listMigrations(sql.path(), Dialect::Sqlite);
        FAIL();
    } catch (const ProblemError& e) {
        EXPECT_EQ(e.problem().code, "migrations_invalid");
    }
    test::TempDir other;
    other.write("sqlite/init.sql", "SELECT 1;");
    EXPECT_THROW(listMigrations(other.path(), Dialect::Sqlite), ProblemError);
    EXPECT_THROW(listMigrations(other / "nowhere", Dialect::Sqlite), ProblemError);
}

TEST_F(SqliteMigrations, DatabaseNewerThanTheBinaryIsRefused) {
    auto db = open();
    applyMigrations(*db, projectSql());
    db->withSession([](soci::session& sql) {
        sql << "INSERT INTO schema_migrations (version, name, applied_at_ms) VALUES (999, 'x', 0)";
    });
    try {
        applyMigrations(*db, projectSql());
        FAIL();
    } catch (const ProblemError& e) {
        EXPECT_EQ(e.problem().code, "schema_too_new");
    }
}

}  // namespace
}  // namespace aw
