#include <gtest/gtest.h>

#include "agent_worker/core/capabilities.h"
#include "agent_worker/provider_abi.h"

namespace aw {
namespace {

TEST(Capabilities, NamesFollowTheAbiBits) {
    EXPECT_EQ(capabilityNames(AW_CAP_RUN | AW_CAP_HUMAN_LOOP | AW_CAP_GRACEFUL_INTERRUPT),
              (std::vector<std::string>{"run", "human_loop", "graceful_interrupt"}));
    EXPECT_TRUE(capabilityNames(0).empty());
    EXPECT_EQ(capabilityBit("todo"), AW_CAP_TODO);
    EXPECT_EQ(capabilityBit("long_prompt"), AW_CAP_LONG_PROMPT);
    EXPECT_EQ(capabilityBit("teleport"), 0u);
}

TEST(Capabilities, UnknownBitsFromNewerPluginsAreShownNotHidden) {
    EXPECT_EQ(capabilityNames(AW_CAP_STOP | (std::uint64_t{1} << 40)),
              (std::vector<std::string>{"stop", "bit40"}));
}

}  // namespace
}  // namespace aw
