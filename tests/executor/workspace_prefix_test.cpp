// The one place a session's storage prefix is made: format, validation, containment.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "agent_worker/core/problem.h"
#include "agent_worker/core/workspace_prefix.h"

namespace aw {
namespace {

using ::testing::HasSubstr;

Problem problemOf(std::string_view bucket, std::string_view root, std::string_view tenant,
                  std::string_view session) {
    try {
        computeWorkspacePrefix(bucket, root, tenant, session);
    } catch (const ProblemError& error) {
        return error.problem();
    }
    ADD_FAILURE() << "accepted " << root << " " << tenant << " " << session;
    return {};
}

TEST(WorkspacePrefix, HasTheDocumentedFormat) {
    const WorkspacePrefix prefix =
        computeWorkspacePrefix("agent-workspaces", "prod", "acme", "chat-42");
    EXPECT_EQ(prefix.bucket, "agent-workspaces");
    EXPECT_EQ(prefix.keyPrefix, "prod/acme/chat-42/");
    EXPECT_EQ(prefix.uri(), "s3://agent-workspaces/prod/acme/chat-42/");
}

TEST(WorkspacePrefix, RootPrefixMayBeNestedEmptyOrSlashed) {
    EXPECT_EQ(computeWorkspacePrefix("bkt", "a/b", "t", "s").keyPrefix, "a/b/t/s/");
    EXPECT_EQ(computeWorkspacePrefix("bkt", "/a/b/", "t", "s").keyPrefix, "a/b/t/s/");
    EXPECT_EQ(computeWorkspacePrefix("bkt", "", "t", "s").keyPrefix, "t/s/");
}

TEST(WorkspacePrefix, PrefixRejectsTraversal) {
    EXPECT_EQ(problemOf("bkt", "prod", "acme", "..").code, "invalid_session");
    EXPECT_EQ(problemOf("bkt", "prod", "acme", "../other").code, "invalid_session");
    EXPECT_EQ(problemOf("bkt", "prod", "..", "chat").code, "invalid_tenant");
    EXPECT_EQ(problemOf("bkt", "prod", "acme/other", "chat").code, "invalid_tenant");
    const Problem root = problemOf("bkt", "prod/../elsewhere", "acme", "chat");
    EXPECT_EQ(root.code, "invalid_root_prefix");
    EXPECT_THAT(root.message, HasSubstr("\"..\""));
    EXPECT_EQ(problemOf("bkt", "prod//x", "acme", "chat").code, "invalid_root_prefix");
}

TEST(WorkspacePrefix, PrefixRejectsBadCharactersAndEmptiness) {
    EXPECT_EQ(problemOf("bkt", "prod", "acme", "").code, "invalid_session");
    EXPECT_EQ(problemOf("bkt", "prod", "", "chat").code, "invalid_tenant");
    const Problem control = problemOf("bkt", "prod", "acme", std::string("chat\r1"));
    EXPECT_EQ(control.code, "invalid_session");
    EXPECT_THAT(control.message, HasSubstr("control character"));
    EXPECT_FALSE(control.hint.empty());
    EXPECT_EQ(problemOf("bkt", "prod", "acme", "chat 1").code, "invalid_session");
    EXPECT_EQ(problemOf("bkt", std::string("pr\0d", 4), "acme", "chat").code,
              "invalid_root_prefix");
    EXPECT_EQ(problemOf("Bucket", "prod", "acme", "chat").code, "invalid_bucket");
    EXPECT_EQ(problemOf("b/k", "prod", "acme", "chat").code, "invalid_bucket");
    EXPECT_EQ(problemOf("bk", "prod", "acme", "chat").code, "invalid_bucket");
}

TEST(WorkspacePrefix, ResultAlwaysStaysUnderTheRootPrefix) {
    for (const std::string& session :
         std::vector<std::string>{"a", "chat.1", "x..y", "_private", std::string(128, 'z')}) {
        const WorkspacePrefix prefix =
            computeWorkspacePrefix("bkt", "prod/agents", "acme", session);
        EXPECT_TRUE(prefix.keyPrefix.starts_with("prod/agents/acme/")) << prefix.keyPrefix;
        EXPECT_TRUE(prefix.keyPrefix.ends_with("/"));
        EXPECT_EQ(prefix.keyPrefix.find("/../"), std::string::npos);
    }
}

TEST(WorkspacePrefix, StoredPrefixReadsBackOnlyInCanonicalForm) {
    const WorkspacePrefix prefix = computeWorkspacePrefix("bkt", "prod", "acme", "chat-42");
    EXPECT_EQ(parseWorkspacePrefix(prefix.uri()), prefix);
    EXPECT_EQ(parseWorkspacePrefix("s3://bkt/acme/chat-42/").keyPrefix, "acme/chat-42/");
    for (const char* bad :
         {"s3://bkt/prod/acme/chat-42", "http://bkt/prod/acme/chat-42/", "s3://bkt/prod/acme/../x/",
          "s3://bkt//acme/chat/", "s3://bkt/chat/", "s3://bkt/"}) {
        EXPECT_THROW(parseWorkspacePrefix(bad), ProblemError) << bad;
    }
}

}  // namespace
}  // namespace aw
