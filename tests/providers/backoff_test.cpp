// The one backoff policy and the one random-id maker.
#include <gtest/gtest.h>

#include <set>

#include "agent_worker/core/backoff.h"
#include "agent_worker/core/random_id.h"

namespace aw {
namespace {

using std::chrono::milliseconds;

TEST(Backoff, DoublesPerAttemptUpToItsCap) {
    const Backoff backoff{milliseconds(100), milliseconds(1000), 0.2};
    EXPECT_EQ(backoff.after(1, 0.5), milliseconds(100));
    EXPECT_EQ(backoff.after(2, 0.5), milliseconds(200));
    EXPECT_EQ(backoff.after(4, 0.5), milliseconds(800));
    EXPECT_EQ(backoff.after(5, 0.5), milliseconds(1000));
    EXPECT_EQ(backoff.after(500, 0.5), milliseconds(1000));
}

TEST(Backoff, JitterStaysWithinItsShareEitherWay) {
    const Backoff backoff{milliseconds(1000), milliseconds(60000), 0.2};
    EXPECT_EQ(backoff.after(1, 0.0), milliseconds(800));
    EXPECT_EQ(backoff.after(1, 1.0), milliseconds(1200));
    for (int i = 0; i < 200; ++i) {
        const auto wait = backoff.after(1);
        EXPECT_GE(wait, milliseconds(800));
        EXPECT_LE(wait, milliseconds(1200));
    }
}

TEST(Backoff, AttemptZeroOrBelowWaitsTheInitialTime) {
    const Backoff backoff{milliseconds(300), milliseconds(5000), 0.0};
    EXPECT_EQ(backoff.after(0, 0.9), milliseconds(300));
    EXPECT_EQ(backoff.after(-3, 0.1), milliseconds(300));
}

TEST(RandomId, IdsAndTokensAreHexOfTheirLengthAndDoNotRepeat) {
    std::set<std::string> seen;
    for (int i = 0; i < 1000; ++i) {
        const auto token = newToken();
        ASSERT_EQ(token.size(), 64u);
        ASSERT_EQ(token.find_first_not_of("0123456789abcdef"), std::string::npos);
        EXPECT_TRUE(seen.insert(token).second);
    }
    EXPECT_EQ(newTraceId().size(), 32u);
    const auto runId = newRandomId("run_");
    EXPECT_EQ(runId.rfind("run_", 0), 0u);
    EXPECT_EQ(runId.size(), 36u);
}

}  // namespace
}  // namespace aw
