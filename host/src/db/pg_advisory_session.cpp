#include "db/pg_advisory_session.h"

#include <libpq-fe.h>

#include <memory>

#include "agent_worker/core/repositories.h"

namespace aw {
namespace {
using Result = std::unique_ptr<PGresult, decltype(&PQclear)>;
}

PgAdvisorySession::~PgAdvisorySession() {
    if (connection_) PQfinish(connection_);  // ends the session, and its locks with it
}

std::string PgAdvisorySession::ask(const std::string& function, const std::string& name) {
    for (int attempt = 0; attempt < 2; ++attempt) {
        if (!connection_ || PQstatus(connection_) != CONNECTION_OK) {
            if (connection_) PQfinish(connection_);
            connection_ = PQconnectdb(withConnectTimeout(url_.target).c_str());
            ++generation_;
        }
        const char* values[] = {name.c_str()};
        const std::string query =
            function.empty() ? "SELECT 1" : "SELECT " + function + "(hashtextextended($1, 0))";
        Result result(PQexecParams(connection_, query.c_str(), function.empty() ? 0 : 1, nullptr,
                                   values, nullptr, nullptr, 0),
                      &PQclear);
        if (PQresultStatus(result.get()) == PGRES_TUPLES_OK && PQntuples(result.get()) == 1) {
            return PQgetvalue(result.get(), 0, 0);
        }
        // A session the server ended (a restart, an operator) is reopened once.
        if (PQstatus(connection_) == CONNECTION_OK) break;
    }
    throw StoreUnavailableError(
        {"database_unavailable",
         "cannot ask for the advisory lock '" + name +
             "': " + std::string(connection_ ? PQerrorMessage(connection_) : "no connection"),
         "check that the database at " + url_.redacted + " is up"});
}

bool PgAdvisorySession::tryLock(const std::string& name) {
    return ask("pg_try_advisory_lock", name) == "t";
}

void PgAdvisorySession::unlock(const std::string& name) {
    try {
        ask("pg_advisory_unlock", name);
    } catch (const StoreUnavailableError&) {
        // The session is gone, and the lock with it.
    }
}

void PgAdvisorySession::ping() {
    ask("", "");
}

}  // namespace aw
