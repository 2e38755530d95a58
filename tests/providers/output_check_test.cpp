// Every recorded CLI stream through its shipped plugin: each output of feed and exit_run passes
// the host's check of plugin output (core/plugin_output_check.h), so no line of a real run is
// ever rejected. A plugin change that breaks the event table fails here, not in production.
#include <gtest/gtest.h>

#include <algorithm>

#include "agent_worker/core/plugin_output_check.h"
#include "provider_harness.h"

namespace aw::provider_tests {
namespace {

//! The plugin that translates a fixture, by its name's prefix ("" for none).
std::string pluginFor(const std::string& fixture) {
    if (fixture.starts_with("claude-")) return "claude-code";
    if (fixture.starts_with("codex-")) return "codex-cli";
    if (fixture.starts_with("opencode-")) return "opencode";
    return "";
}

class ShippedOutput : public ::testing::TestWithParam<std::string> {};

TEST_P(ShippedOutput, EveryOutputOfARecordedRunPassesTheHostsCheck) {
    const std::string name = GetParam();
    const std::string plugin = pluginFor(name);
    ASSERT_FALSE(plugin.empty()) << "which plugin translates " << name << "?";
    const Fixture fixture = loadFixture(name);
    // Claude Code's stdio recordings ran in "ask" mode, where its human loop speaks.
    const bool ask = name.starts_with("claude-stdio-");
    PluginRun run(loadProvider(plugin), runRequest({{"approval_mode", ask ? "ask" : "auto"}}));
    ASSERT_TRUE(run.opened()) << run.openResult().error;
    for (std::size_t i = 0; i < fixture.lines.size(); ++i) {
        const CallResult fed = run.feed(fixture.lines[i]);
        ASSERT_EQ(fed.status, AW_OK) << "line " << i + 1 << ": " << fed.error;
        const CheckedOutput checked = checkPluginOutput(fed.document, PluginCall::Feed);
        EXPECT_TRUE(checked.accepted()) << name << " line " << i + 1 << ": " << checked.reason();
    }
    const CallResult exited = run.exit(fixture.exitCode(), fixture.signal(), fixture.stopWasSent());
    ASSERT_EQ(exited.status, AW_OK) << exited.error;
    const CheckedOutput checked = checkPluginOutput(exited.document, PluginCall::Exit);
    EXPECT_TRUE(checked.accepted()) << name << " exit: " << checked.reason();
}

INSTANTIATE_TEST_SUITE_P(Fixtures, ShippedOutput, ::testing::ValuesIn(allFixtureNames()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                             std::string name = info.param;
                             std::replace(name.begin(), name.end(), '-', '_');
                             return name;
                         });

}  // namespace
}  // namespace aw::provider_tests
