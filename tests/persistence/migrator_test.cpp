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
