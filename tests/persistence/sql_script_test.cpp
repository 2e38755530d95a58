#include <gtest/gtest.h>

#include "db/sql_script.h"

namespace aw {
namespace {

TEST(SqlScript, SplitsOnSemicolonsAndDropsEmptyAndCommentOnlyPieces) {
    const auto statements = splitSqlStatements(
        "-- header comment\nCREATE TABLE a (x INT);\n\n  ;\nINSERT INTO a VALUES (1);\n-- trailing\n");
    ASSERT_EQ(statements.size(), 2u);
    EXPECT_EQ(statements[0], "-- header comment\nCREATE TABLE a (x INT)");
    EXPECT_EQ(statements[1], "INSERT INTO a VALUES (1)");
}

TEST(SqlScript, KeepsSemicolonsInsideQuotesCommentsAndDollarQuotes) {
    const auto statements = splitSqlStatements(
        "INSERT INTO t VALUES ('a;b', \"c;d\"); -- not; a split\n"
        "/* block; comment */ SELECT 1;"
        "CREATE FUNCTION f() RETURNS int AS $body$ SELECT 1; $body$ LANGUAGE sql;"
        "SELECT $$x;y$$");
    ASSERT_EQ(statements.size(), 4u);
    EXPECT_EQ(statements[0], "INSERT INTO t VALUES ('a;b', \"c;d\")");
    EXPECT_EQ(statements[1], "-- not; a split\n/* block; comment */ SELECT 1");
    EXPECT_NE(statements[2].find("SELECT 1; $body$"), std::string::npos);
    EXPECT_EQ(statements[3], "SELECT $$x;y$$");
}

TEST(SqlScript, HandlesDoubledQuotesAndPositionalParameters) {
    const auto statements = splitSqlStatements("SELECT 'it''s;'; SELECT $1");
    ASSERT_EQ(statements.size(), 2u);
    EXPECT_EQ(statements[0], "SELECT 'it''s;'");
    EXPECT_EQ(statements[1], "SELECT $1");
}

}  // namespace
}  // namespace aw
