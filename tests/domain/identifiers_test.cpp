#include <gtest/gtest.h>

#include "agent_worker/core/identifiers.h"

namespace aw {
namespace {

TEST(Identifiers, AcceptsOrdinarySessionIds) {
    EXPECT_FALSE(checkIdentifier("session", "chat-42_a.b").has_value());
    EXPECT_FALSE(checkIdentifier("session", std::string(kMaxIdentifierLength, 'x')).has_value());
}

TEST(Identifiers, RejectsTraversalSlashesControlCharactersAndEmptiness) {
    EXPECT_EQ(checkIdentifier("session", "")->code, "invalid_session");
    EXPECT_TRUE(checkIdentifier("session", "..").has_value());
    EXPECT_TRUE(checkIdentifier("session", ".hidden").has_value());
    EXPECT_TRUE(checkIdentifier("session", "a/b").has_value());
    EXPECT_TRUE(checkIdentifier("session", "a\\b").has_value());
    EXPECT_TRUE(checkIdentifier("session", "-rf").has_value());
    const auto control = checkIdentifier("tenant", std::string("a\nb"));
    ASSERT_TRUE(control.has_value());
    EXPECT_EQ(control->code, "invalid_tenant");
    EXPECT_NE(control->message.find("control character"), std::string::npos);
}

TEST(Identifiers, NamesTheOffendingCharacterAndTheLimit) {
    const auto slash = checkIdentifier("session", "ab/c");
    ASSERT_TRUE(slash.has_value());
    EXPECT_NE(slash->message.find("'/' at position 2"), std::string::npos);
    const auto tooLong = checkIdentifier("session", std::string(kMaxIdentifierLength + 1, 'x'));
    ASSERT_TRUE(tooLong.has_value());
    EXPECT_NE(tooLong->message.find("129"), std::string::npos);
}

}  // namespace
}  // namespace aw
