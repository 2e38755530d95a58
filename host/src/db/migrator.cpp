#include "db/migrator.h"

#include <algorithm>
#include <chrono>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>

#include "agent_worker/core/problem.h"
#include "agent_worker/core/time_format.h"
#include "db/sql_script.h"

namespace aw {
namespace {

// Any constant works; it only has to be the same for every agent-host.
constexpr long long kMigrationLockKey = 0x4157'4D49'4752;  // "AWMIGR"

std::string readFile(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

void ensureLedger(Database& database) {
    database.withSession([&](soci::session& sql) {
        sql << "CREATE TABLE IF NOT EXISTS schema_migrations ("
               " version INTEGER PRIMARY KEY,"
               " name TEXT NOT NULL,"
               " applied_at_ms BIGINT NOT NULL)";
    });
}

int highestRecordedVersion(Database& database) {
    return database.withSession([&](soci::session& sql) {
        int version = 0;
        soci::indicator ind = soci::i_null;
        sql << "SELECT MAX(version) FROM schema_migrations", soci::into(version, ind);
        return ind == soci::i_ok ? version : 0;
    });
}

//! Applies one file unless another host got there first. Returns true when applied here.
bool applyOne(Database& database, const Migration& migration, const std::string& shownPath) {
    const auto statements = splitSqlStatements(readFile(migration.path));
    return database.withSession([&](soci::session& sql) {
        WriteTransaction transaction(sql, database.dialect());
        if (database.dialect() == Dialect::Postgresql) {
            sql << "SELECT pg_advisory_xact_lock(" << kMigrationLockKey << ")";
        }
        int recorded = 0;
        sql << "SELECT COUNT(*) FROM schema_migrations WHERE version = :v",
            soci::use(migration.version), soci::into(recorded);
        if (recorded > 0) return false;
        for (std::size_t i = 0; i < statements.size(); ++i) {
            try {
                sql << statements[i];
            } catch (const soci::soci_error& e) {
                throw ProblemError({"migration_failed",
                                    "migration " + shownPath + " failed at statement " +
                                        std::to_string(i + 1) + ": " + e.get_error_message(),
                                    "the database was left unchanged by this file; fix it and "
                                    "start agent-host again"});
            }
        }
        std::int64_t appliedAt = unixMillisNow();
        sql << "INSERT INTO schema_migrations (version, name, applied_at_ms) VALUES (:v, :n, :t)",
            soci::use(migration.version), soci::use(migration.name), soci::use(appliedAt);
        transaction.commit();
        return true;
    });
}

}  // namespace

std::vector<Migration> listMigrations(const std::filesystem::path& sqlDir, Dialect dialect) {
    const auto dir = sqlDir / dialectName(dialect);
    std::error_code error;
    if (!std::filesystem::is_directory(dir, error)) {
        throw ProblemError({"migrations_missing",
                            "migrations directory '" + dir.string() + "' does not exist",
                            "point sql_dir (AW_SQL_DIR) at the project's sql/ folder, or build "
                            "with 'make' so build/sql is populated"});
    }
    static const std::regex fileName(R"((\d{3,})_[A-Za-z0-9_\-]+\.sql)");
    std::map<int, Migration> byVersion;
    for (const auto& entry : std::filesystem::directory_iterator(dir)) {
        const std::string name = entry.path().filename().string();
        if (entry.path().extension() != ".sql") continue;
        std::smatch match;
        if (!std::regex_match(name, match, fileName)) {
            throw ProblemError({"migrations_invalid",
                                "migration file '" + entry.path().string() +
                                    "' is not named NNN_name.sql",
                                "rename it, e.g. 002_add_index.sql"});
        }
        const int version = std::stoi(match[1].str());
        auto [it, inserted] = byVersion.emplace(version, Migration{version, name, entry.path()});
        if (!inserted) {
            throw ProblemError({"migrations_invalid",
                                "migrations '" + it->second.name + "' and '" + name +
                                    "' share version " + std::to_string(version),
                                "give each migration its own number"});
        }
    }
    std::vector<Migration> migrations;
    for (auto& [version, migration] : byVersion) migrations.push_back(std::move(migration));
    return migrations;
}

MigrationReport applyMigrations(Database& database, const std::filesystem::path& sqlDir) {
    const auto migrations = listMigrations(sqlDir, database.dialect());
    ensureLedger(database);
    const int highestKnown = migrations.empty() ? 0 : migrations.back().version;
    if (const int recorded = highestRecordedVersion(database); recorded > highestKnown) {
        throw ProblemError({"schema_too_new",
                            "the database is at schema version " + std::to_string(recorded) +
                                " but this agent-host only knows up to " +
                                std::to_string(highestKnown),
                            "run the agent-host version that migrated this database, or a newer "
                            "one"});
    }
    MigrationReport report;
    for (const auto& migration : migrations) {
        const std::string shownPath =
            (std::filesystem::path(dialectName(database.dialect())) / migration.name).string();
        if (applyOne(database, migration, "sql/" + shownPath)) {
            report.applied.push_back(migration);
        } else {
            ++report.alreadyApplied;
        }
    }
    return report;
}

}  // namespace aw
