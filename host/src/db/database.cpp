#include "db/database.h"

#include <soci/postgresql/soci-postgresql.h>
#include <soci/sqlite3/soci-sqlite3.h>

#include <Poco/Logger.h>

#include <filesystem>
#include <thread>

#include "agent_worker/core/problem.h"
#include "files/private_files.h"
#include "logging/json_formatter.h"

namespace aw {
namespace {

Poco::Logger& logger() { return Poco::Logger::get("db"); }

std::string oneLine(std::string text) {
    for (char& c : text) {
        if (c == '\n' || c == '\r') c = ' ';
    }
    while (!text.empty() && text.back() == ' ') text.pop_back();
    return text;
}

//! SQLITE_CORRUPT and SQLITE_NOTADB, without SOCI's error text to go on alone.
bool isSqliteDamage(const soci::soci_error& error) {
    if (const auto* sqlite = dynamic_cast<const soci::sqlite3_soci_error*>(&error)) {
        const int primary = sqlite->result() & 0xff;
        if (primary == SQLITE_CORRUPT || primary == SQLITE_NOTADB) return true;
    }
    const std::string message = error.get_error_message();
    return message.find("file is not a database") != std::string::npos ||
           message.find("database disk image is malformed") != std::string::npos;
}

//! How long a statement waits for another connection's write to end before it fails.
constexpr auto kBusyTimeout = std::chrono::seconds(10);

//! SQLite's own busy handler sleeps 1, 2, 5, 10... ms between tries. The writers of one
//! host take turns often and briefly (a callback's admission beside a run's append, each
//! a millisecond or so), and each turn lost that way was milliseconds of event latency.
//! This one tries again after 50 us, doubling up to 1 ms, for up to kBusyTimeout.
int retryWhileBusy(void*, int attempts) {
    thread_local std::chrono::steady_clock::time_point since;
    const auto now = std::chrono::steady_clock::now();
    if (attempts == 0) since = now;
    if (now - since >= kBusyTimeout) return 0;
    const auto pause = std::chrono::microseconds(50) * (1 << std::min(attempts, 5));
    std::this_thread::sleep_for(
        std::min<std::chrono::microseconds>(pause, std::chrono::milliseconds(1)));
    return 1;
}

}  // namespace

Database::Database(DatabaseUrl url, int poolSize, std::chrono::seconds connectTimeout)
    : url_(std::move(url)),
      poolSize_(poolSize),
      pool_(std::make_unique<soci::connection_pool>(static_cast<std::size_t>(poolSize))),
      prepared_(static_cast<std::size_t>(poolSize)) {
    if (url_.dialect == Dialect::Sqlite && url_.target != ":memory:") {
        // The database is its owner's alone, and SQLite gives its -wal and -shm files the
        // database file's mode: so the file is made here, 0600, before SQLite opens it (an
        // empty file is an empty database). A failure shows when SQLite opens it.
        std::error_code ignored;
        createPrivateDirectories(std::filesystem::path(url_.target).parent_path(), ignored);
        createPrivateFile(url_.target);
        checkpointer_ = std::make_unique<SqliteCheckpointer>(url_.target);
    }
    const auto deadline = std::chrono::steady_clock::now() + connectTimeout;
    auto pause = std::chrono::milliseconds(200);
    for (int attempt = 1;; ++attempt) {
        try {
            for (int i = 0; i < poolSize_; ++i) {
                auto& session = pool_->at(static_cast<std::size_t>(i));
                if (!session.is_connected()) open(session);
            }
            return;
        } catch (const soci::soci_error& e) {
            throwCorruptIfDamaged(e);  // a damaged file stays damaged: no retry
            const std::string reason = oneLine(e.get_error_message());
            if (std::chrono::steady_clock::now() + pause >= deadline) {
                throw ProblemError(
                    {"database_unreachable",
                     "cannot connect to database " + url_.redacted + " after " +
                         std::to_string(attempt) + " attempts: " + reason,
                     url_.dialect == Dialect::Sqlite
                         ? "check that the directory exists and is writable"
                         : "check that PostgreSQL is running and the URL (host, port, user, "
                           "database) is right"});
            }
            logFields(logger(), Poco::Message::PRIO_WARNING, "database not reachable yet, retrying",
                      {{"attempt", attempt}, {"db", url_.redacted}, {"error", reason}});
            std::this_thread::sleep_for(pause);
            pause = std::min(pause * 2, std::chrono::milliseconds(2000));
        }
    }
}

Database::~Database() = default;

void Database::open(soci::session& session) {
    if (url_.dialect == Dialect::Sqlite) {
        session.open(soci::sqlite3, "db=\"" + url_.target + "\" timeout=10");
        session << "PRAGMA journal_mode=WAL";
        session << "PRAGMA synchronous=NORMAL";
        session << "PRAGMA foreign_keys=ON";
        auto* backend = static_cast<soci::sqlite3_session_backend*>(session.get_backend());
        sqlite_api::sqlite3_busy_handler(backend->conn_, retryWhileBusy, nullptr);
        if (checkpointer_) checkpointer_->watch(backend->conn_);
    } else {
        session.open(soci::postgresql, withConnectTimeout(url_.target));
    }
}

void Database::throwCorruptIfDamaged(const soci::soci_error& error) const {
    if (url_.dialect != Dialect::Sqlite || !isSqliteDamage(error)) return;
    throw StoreCorruptError(
        {"database_corrupt",
         "the SQLite database " + url_.redacted +
             " is not a database or is damaged: " + oneLine(error.get_error_message()),
         "retrying will not help: restore the file from a backup, or move it (with its "
         "-wal and -shm files) aside to start with an empty database"});
}

void Database::throwUnavailableIfLost(std::size_t slot, const soci::soci_error& error) {
    soci::session& session = pool_->at(slot);
    if (session.is_connected()) return;
    try {
        prepared_[slot].clear();  // they belong to the connection being replaced
        session.close();
        open(session);
        logFields(logger(), Poco::Message::PRIO_NOTICE, "database connection reopened",
                  {{"db", url_.redacted}});
    } catch (const std::exception& e) {
        // The server is still away; the next caller tries again.
        logFields(logger(), Poco::Message::PRIO_DEBUG, "database connection still broken",
                  {{"db", url_.redacted}, {"error", oneLine(e.what())}});
    }
    throw StoreUnavailableError({"database_unavailable",
                                 "the database " + url_.redacted +
                                     " is not reachable: " + oneLine(error.get_error_message()),
                                 "retry shortly; if it persists, check the database server"});
}

std::optional<std::string> Database::unhealthyReason() {
    // Each pooled connection dropped by a server restart fails once before it is reopened;
    // trying once more than the pool holds means a healthy server is never reported down.
    std::string reason;
    for (int attempt = 0; attempt <= poolSize_; ++attempt) {
        try {
            int one = 0;
            withSession([&](soci::session& session) { session << "SELECT 1", soci::into(one); });
            if (one == 1) return std::nullopt;
            reason = "SELECT 1 returned " + std::to_string(one);
        } catch (const std::exception& e) {
            reason = oneLine(e.what());
        }
    }
    return "database " + url_.redacted + " is not answering: " + reason;
}

WriteTransaction::WriteTransaction(soci::session& session, Dialect dialect) : session_(session) {
    session_ << (dialect == Dialect::Sqlite ? "BEGIN IMMEDIATE" : "BEGIN");
}

WriteTransaction::~WriteTransaction() {
    if (!open_) return;
    try {
        session_ << "ROLLBACK";
    } catch (const std::exception&) {
        // The connection is gone; the server rolled the transaction back itself.
    }
}

void WriteTransaction::commit() {
    session_ << "COMMIT";
    open_ = false;
}

}  // namespace aw
