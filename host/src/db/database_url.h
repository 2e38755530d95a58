// Database URLs: which SQL dialect, what to hand the driver, and how to print it safely.
#pragma once

#include <string>

namespace aw {

enum class Dialect { Sqlite, Postgresql };

//! `sqlite` or `postgresql`: also the name of the migrations folder under sql/.
std::string dialectName(Dialect dialect);

struct DatabaseUrl {
    Dialect dialect = Dialect::Sqlite;
    std::string target;  //!< SQLite: file path; PostgreSQL: the URL, as libpq accepts it
    std::string redacted;  //!< the URL with any password masked, safe for logs and errors
};

//! `sqlite:///abs/file.db`, `sqlite://relative/file.db`, `postgresql://...` or
//! `postgres://...`. Throws ProblemError `unsupported_database` for any other scheme.
DatabaseUrl parseDatabaseUrl(const std::string& url);

//! A PostgreSQL URL with a connect timeout of 3 s unless it names one: libpq waits for the
//! OS's TCP timeout by default.
std::string withConnectTimeout(const std::string& url);

//! Masks user-info passwords and `password=` parameters.
std::string redactUrl(const std::string& url);

}  // namespace aw
