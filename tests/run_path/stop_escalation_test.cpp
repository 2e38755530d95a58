// Step 6: a stop escalates from the graceful interrupt to TERM and KILL, each once.
#include <gtest/gtest.h>

#include "agent_worker/core/runs/stop_escalation.h"

namespace aw {
namespace {

using std::chrono::milliseconds;

TEST(StopEscalation, NothingIsDueBeforeTheStopBegins) {
    StopEscalation stop(milliseconds(100));
    EXPECT_FALSE(stop.due(StopEscalation::Clock::now() + milliseconds(10000)));
}

TEST(StopEscalation, TermAfterTheGraceThenKillAfterTwiceItEachOnce) {
    StopEscalation stop(milliseconds(100));
    const auto t0 = StopEscalation::Clock::now();
    EXPECT_TRUE(stop.begin(t0));
    EXPECT_FALSE(stop.due(t0 + milliseconds(99)));
    EXPECT_EQ(stop.due(t0 + milliseconds(100)), "TERM");
    EXPECT_FALSE(stop.due(t0 + milliseconds(150)));
    EXPECT_EQ(stop.due(t0 + milliseconds(200)), "KILL");
    EXPECT_FALSE(stop.due(t0 + milliseconds(10000)));
}

TEST(StopEscalation, ASecondBeginDoesNotRestartTheClock) {
    StopEscalation stop(milliseconds(100));
    const auto t0 = StopEscalation::Clock::now();
    EXPECT_TRUE(stop.begin(t0));
    EXPECT_FALSE(stop.begin(t0 + milliseconds(90)));
    EXPECT_EQ(stop.due(t0 + milliseconds(100)), "TERM");
}

TEST(StopEscalation, ALateCheckSendsTermFirstAndKillOnTheNext) {
    StopEscalation stop(milliseconds(100));
    const auto t0 = StopEscalation::Clock::now();
    stop.begin(t0);
    EXPECT_EQ(stop.due(t0 + milliseconds(500)), "TERM");
    EXPECT_EQ(stop.due(t0 + milliseconds(500)), "KILL");
}

}  // namespace
}  // namespace aw
