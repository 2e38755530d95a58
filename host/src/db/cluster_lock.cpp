#include "db/cluster_lock.h"

#include <libpq-fe.h>

#include <memory>
#include <thread>

#include "agent_worker/core/repositories.h"

namespace aw {
namespace {

using Result = std::unique_ptr<PGresult, decltype(&PQclear)>;

constexpr auto kRetryEvery = std::chrono::milliseconds(100);

}  // namespace

ClusterLock::ClusterLock(DatabaseUrl url, std::string name)
    : url_(std::move(url)), name_(std::move(name)) {}

ClusterLock::~ClusterLock() {
    if (connection_) PQfinish(connection_);  // ends the session, and any lock with it
}

std::string ClusterLock::ask(const std::string& function) {
    for (int attempt = 0; attempt < 2; ++attempt) {
        if (!connection_ || PQstatus(connection_) != CONNECTION_OK) {
            if (connection_) PQfinish(connection_);
            connection_ = PQconnectdb(withConnectTimeout(url_.target).c_str());
        }
        const char* values[] = {name_.c_str()};
        const std::string query = "SELECT " + function + "(hashtextextended($1, 0))";
        Result result(
            PQexecParams(connection_, query.c_str(), 1, nullptr, values, nullptr, nullptr, 0),
            &PQclear);
        if (PQresultStatus(result.get()) == PGRES_TUPLES_OK && PQntuples(result.get()) == 1) {
            return PQgetvalue(result.get(), 0, 0);
        }
        // A session the server ended (a restart, an operator) is reopened once.
        if (PQstatus(connection_) == CONNECTION_OK) break;
    }
    throw StoreUnavailableError(
        {"database_unavailable",
         "cannot take the cluster lock '" + name_ +
             "': " + std::string(connection_ ? PQerrorMessage(connection_) : "no connection"),
         "check that the database at " + url_.redacted + " is up"});
}

bool ClusterLock::tryLock() {
    if (url_.dialect != Dialect::Postgresql)
        return true;  // one host: this process's mutex is the lock
    return ask("pg_try_advisory_lock") == "t";
}

void ClusterLock::unlock() {
    if (url_.dialect != Dialect::Postgresql) return;
    try {
        ask("pg_advisory_unlock");
    } catch (const StoreUnavailableError&) {
        // The session is gone, and the lock with it.
    }
}

bool ClusterLock::tryRun(const std::function<void()>& work) {
    std::unique_lock turn(mutex_, std::try_to_lock);
    if (!turn.owns_lock() || !tryLock()) return false;
    struct Release {
        ClusterLock& lock;
        ~Release() { lock.unlock(); }
    } release{*this};
    work();
    return true;
}

bool ClusterLock::run(const std::function<void()>& work, std::chrono::milliseconds patience) {
    const auto deadline = std::chrono::steady_clock::now() + patience;
    while (!tryRun(work)) {
        if (std::chrono::steady_clock::now() >= deadline) return false;
        std::this_thread::sleep_for(kRetryEvery);
    }
    return true;
}

}  // namespace aw
