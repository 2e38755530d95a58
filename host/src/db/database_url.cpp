#include "db/database_url.h"

#include <regex>

#include "agent_worker/core/problem.h"

namespace aw {

std::string dialectName(Dialect dialect) {
    return dialect == Dialect::Sqlite ? "sqlite" : "postgresql";
}

std::string redactUrl(const std::string& url) {
    static const std::regex userInfoPassword(R"((://[^:/@?]*):[^@/?]*@)");
    static const std::regex passwordParam(R"(([?&]password=)[^&]*)");
    const std::string out = std::regex_replace(url, userInfoPassword, "$1:****@");
    return std::regex_replace(out, passwordParam, "$1****");
}

DatabaseUrl parseDatabaseUrl(const std::string& url) {
    const std::string redacted = redactUrl(url);
    if (url.rfind("sqlite://", 0) == 0) {
        const std::string path = url.substr(std::string("sqlite://").size());
        if (path.empty()) {
            throw ProblemError({"unsupported_database", "database URL '" + redacted +
                                                            "' names no SQLite file",
                                "use sqlite:///absolute/path/agent.db"});
        }
        return DatabaseUrl{Dialect::Sqlite, path, redacted};
    }
    if (url.rfind("postgresql://", 0) == 0 || url.rfind("postgres://", 0) == 0) {
        return DatabaseUrl{Dialect::Postgresql, url, redacted};
    }
    const auto scheme = url.substr(0, url.find("://"));
    throw ProblemError({"unsupported_database",
                        "database URL '" + redacted + "' has the unsupported scheme '" + scheme +
                            "'",
                        "use sqlite:///path/agent.db (embedded default) or "
                        "postgresql://user@host:5432/dbname"});
}

std::string withConnectTimeout(const std::string& url) {
    if (url.find("connect_timeout=") != std::string::npos) return url;
    return url + (url.find('?') == std::string::npos ? "?" : "&") + "connect_timeout=3";
}

}  // namespace aw
