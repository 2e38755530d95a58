// Schema migrations: sql/<dialect>/NNN_name.sql, applied in order, each in a transaction,
// recorded in schema_migrations so nothing is applied twice.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "db/database.h"

namespace aw {

struct Migration {
    int version = 0;
    std::string name;  //!< file name, e.g. 001_init.sql
    std::filesystem::path path;
};

//! The dialect's migration files in version order. Throws ProblemError
//! `migrations_missing` / `migrations_invalid` (duplicate version, bad file name).
std::vector<Migration> listMigrations(const std::filesystem::path& sqlDir, Dialect dialect);

struct MigrationReport {
    std::vector<Migration> applied;  //!< applied by this call
    int alreadyApplied = 0;
};

//! Applies what is not yet recorded. A failing file is rolled back completely and
//! reported as ProblemError `migration_failed` naming the file and the database's reason.
//! Safe to run from several hosts at once (PostgreSQL advisory lock, SQLite write lock).
MigrationReport applyMigrations(Database& database, const std::filesystem::path& sqlDir);

}  // namespace aw
