// A test run on each dialect whose "hosts" each open their own connections to one migrated
// database, as replicas of agent-host do: SQLite in a temp dir, or a database of its own on
// the tests' PostgreSQL. Each host is a `Host` made from the database's URL.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <string>

#include "db/database.h"
#include "db/migrator.h"
#include "support/agent_host_harness.h"
#include "support/postgres_cluster.h"
#include "support/temp_dir.h"

namespace aw::test {

template <typename Host>
class SharedDatabaseTest : public ::testing::TestWithParam<Dialect> {
protected:
    //! `name`: the PostgreSQL database's name prefix.
    explicit SharedDatabaseTest(std::string name) : name_(std::move(name)) {}

    void SetUp() override {
        if (GetParam() == Dialect::Postgresql) {
            if (const auto reason = PostgresCluster::unavailableReason(); !reason.empty()) {
                GTEST_FAIL() << "PostgreSQL is needed for these tests: " << reason;
            }
            url_ = databaseUrlFor(Db::Postgres, name_);
        } else {
            url_ = "sqlite://" + (dir_ / "aw.db").string();
        }
        Database migrated(parseDatabaseUrl(url_), 1, std::chrono::seconds(10));
        applyMigrations(migrated, std::filesystem::path(AW_SOURCE_DIR) / "sql");
    }

    std::unique_ptr<Host> host() { return std::make_unique<Host>(url_); }

    std::string name_;
    TempDir dir_;
    std::string url_;
};

//! The instantiation's names: `sqlite`, `postgresql`.
inline std::string dialectName(const ::testing::TestParamInfo<Dialect>& info) {
    return info.param == Dialect::Sqlite ? "sqlite" : "postgresql";
}

}  // namespace aw::test
