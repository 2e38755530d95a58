// SQLite's write-ahead log is copied into the database file by the checkpointer's thread,
// not by the commits that grow it (db/sqlite_checkpointer.h), against a real SQLite file.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <thread>

#include "db/database.h"
#include "support/temp_dir.h"

namespace aw {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

TEST(SqliteCheckpoints, TheLogReachesTheDatabaseFileWithoutACheckpointOfOurOwn) {
    test::TempDir dir;
    const auto file = dir.path() / "aw.db";
    Database db(parseDatabaseUrl("sqlite://" + file.string()), 2, 1s);
    const std::string row(1000, 'x');
    db.withSession([&](soci::session& sql) {
        sql << "CREATE TABLE filler (id INTEGER PRIMARY KEY, text TEXT NOT NULL)";
        // Small commits, as the run path makes them: well past the log's 1,000 pages.
        for (int i = 0; i < 6000; ++i)
            sql << "INSERT INTO filler (text) VALUES (:text)", soci::use(row);
    });
    // Nothing here checkpoints: the pages reach the database file once the checkpointer
    // copied them.
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (fs::file_size(file) < 4'000'000 && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(20ms);
    }
    EXPECT_GE(fs::file_size(file), 4'000'000u) << "the log was not checkpointed";
    int rows = 0;
    db.withSession(
        [&](soci::session& sql) { sql << "SELECT COUNT(*) FROM filler", soci::into(rows); });
    EXPECT_EQ(rows, 6000);
}

}  // namespace
}  // namespace aw
