#include <gtest/gtest.h>

#include "agent_worker/core/problem.h"
#include "db/database_url.h"

namespace aw {
namespace {

TEST(DatabaseUrl, SqliteUrlsNameAFile) {
    EXPECT_EQ(parseDatabaseUrl("sqlite:///var/lib/aw/agent.db").target, "/var/lib/aw/agent.db");
    EXPECT_EQ(parseDatabaseUrl("sqlite://./data/agent.db").target, "./data/agent.db");
    EXPECT_EQ(parseDatabaseUrl("sqlite://./data/agent.db").dialect, Dialect::Sqlite);
}

TEST(DatabaseUrl, PostgresUrlsGoToLibpqAsTheyAre) {
    const auto url = parseDatabaseUrl("postgresql://aw:secret@db.local:5432/aw");
    EXPECT_EQ(url.dialect, Dialect::Postgresql);
    EXPECT_EQ(url.target, "postgresql://aw:secret@db.local:5432/aw");
    EXPECT_EQ(parseDatabaseUrl("postgres:///aw?host=/tmp").dialect, Dialect::Postgresql);
}

TEST(DatabaseUrl, PasswordsNeverShowInTheRedactedForm) {
    EXPECT_EQ(redactUrl("postgresql://aw:secret@db:5432/aw"), "postgresql://aw:****@db:5432/aw");
    EXPECT_EQ(redactUrl("postgresql:///aw?user=aw&password=secret&sslmode=require"),
              "postgresql:///aw?user=aw&password=****&sslmode=require");
    EXPECT_EQ(redactUrl("postgresql://db/aw"), "postgresql://db/aw");
}

TEST(DatabaseUrl, UnknownSchemeIsRefusedWithTheSchemeNamed) {
    try {
        parseDatabaseUrl("mysql://root:pw@localhost/aw");
        FAIL() << "mysql accepted";
    } catch (const ProblemError& e) {
        EXPECT_EQ(e.problem().code, "unsupported_database");
        EXPECT_NE(e.problem().message.find("'mysql'"), std::string::npos);
        EXPECT_EQ(e.problem().message.find("pw"), std::string::npos);
    }
}

}  // namespace
}  // namespace aw
