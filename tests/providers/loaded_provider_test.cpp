// Loading plugins in-process through the C ABI: precise refusals, version rules, and
// validation of everything a plugin returns.
#include <gtest/gtest.h>

#include "provider/loaded_provider.h"
#include "support/plugins.h"

namespace aw {
namespace {

std::string refusalOf(const std::string& plugin) {
    try {
        LoadedProvider::load(test::testPlugin(plugin).string());
    } catch (const ProblemError& e) {
        return e.problem().code + ": " + e.problem().message;
    }
    return "loaded";
}

TEST(LoadedProvider, ExampleLoadsWithItsDeclaredFacts) {
    auto provider = LoadedProvider::load(test::testPlugin("example").string());
    EXPECT_EQ(provider->info().name, "example");
    EXPECT_EQ(provider->info().version, "1.0.0");
    EXPECT_EQ(provider->info().abiMajor, AW_PROVIDER_ABI_MAJOR);
    EXPECT_EQ(provider->info().capabilities, AW_CAP_RUN | AW_CAP_STREAM | AW_CAP_STOP);
}

TEST(LoadedProvider, RefusalsNameThePreciseReason) {
    EXPECT_EQ(refusalOf("wrong-abi-major").rfind("abi_mismatch: ", 0), 0u);
    EXPECT_NE(refusalOf("wrong-abi-major").find("built for provider ABI 2.0"), std::string::npos);
    EXPECT_EQ(refusalOf("missing-entry").rfind("missing_entry: ", 0), 0u);
    EXPECT_EQ(refusalOf("invalid-name").rfind("invalid_name: ", 0), 0u);
    EXPECT_EQ(refusalOf("table-too-small").rfind("table_too_small: ", 0), 0u);
    EXPECT_EQ(refusalOf("no-such-plugin").rfind("plugin_load_failed: ", 0), 0u);
}

TEST(LoadedProvider, ANewerMinorLoadsReadingOnlyWhatItKnows) {
    auto provider = LoadedProvider::load(test::testPlugin("newer-minor").string());
    EXPECT_EQ(provider->info().abiMinor, AW_PROVIDER_ABI_MINOR + 5);
    nlohmann::json invocation;
    aw_run* run = provider->open({{"run_id", "r"}}, invocation);
    EXPECT_FALSE(provider->feed(run, "hi")["events"].empty());
    provider->close(run);
}

TEST(LoadedProvider, ARunTranslatesLinesAndEndsWithOneTerminalEvent) {
    auto provider = LoadedProvider::load(test::testPlugin("example").string());
    nlohmann::json invocation;
    aw_run* run = provider->open({{"run_id", "r"}, {"prompt", "p"}}, invocation);
    EXPECT_EQ(invocation["argv"][0], "cat");
    const auto delta = provider->feed(run, "say \"hi\"\n\ttab");
    EXPECT_EQ(delta["events"][0]["type"], "message.delta");
    EXPECT_EQ(delta["events"][0]["data"]["text"], "say \"hi\"\n\ttab");
    EXPECT_EQ(provider->exit(run, 0, 0, false)["events"][0]["type"], "run.completed");
    EXPECT_EQ(provider->exit(run, -1, 2, true)["events"][0]["type"], "run.stopped");
    EXPECT_EQ(provider->exit(run, 1, 0, false)["events"][0]["type"], "run.failed");
    EXPECT_EQ(provider->interrupt(run)["signal"], "INT");
    try {
        provider->reply(run, {{"request_id", "x"}, {"decision", "allow"}});
        FAIL() << "example has no human loop";
    } catch (const PluginCallError& e) {
        EXPECT_EQ(e.problem().code, "plugin_error");
        EXPECT_NE(e.problem().message.find("unsupported"), std::string::npos);
    }
    provider->close(run);
}

TEST(LoadedProvider, InvalidOrOversizedOutputIsAnErrorOfThatCallOnly) {
    auto garbage = LoadedProvider::load(test::testPlugin("garbage-stdout").string());
    nlohmann::json invocation;
    aw_run* run = garbage->open({{"run_id", "r"}}, invocation);
    try {
        garbage->feed(run, "bad-json");
        FAIL() << "non-JSON output accepted";
    } catch (const PluginCallError& e) {
        EXPECT_EQ(e.problem().code, "invalid_plugin_output");
    }
    EXPECT_EQ(garbage->feed(run, "fine")["events"].size(), 1u);
    garbage->close(run);

    auto flood = LoadedProvider::load(test::testPlugin("flood-events").string(), {1 << 20, 100});
    run = flood->open({{"run_id", "r"}}, invocation);
    try {
        flood->feed(run, "x");
        FAIL() << "flood accepted";
    } catch (const PluginCallError& e) {
        EXPECT_EQ(e.problem().code, "invalid_plugin_output");
        EXPECT_NE(e.problem().message.find("over the limit"), std::string::npos);
    }
    flood->close(run);
}

TEST(LoadedProvider, ProviderNamesFollowTheRule) {
    EXPECT_TRUE(isValidProviderName("claude-code"));
    EXPECT_TRUE(isValidProviderName("a1"));
    EXPECT_FALSE(isValidProviderName(""));
    EXPECT_FALSE(isValidProviderName("-x"));
    EXPECT_FALSE(isValidProviderName("Claude"));
    EXPECT_FALSE(isValidProviderName("a_b"));
    EXPECT_FALSE(isValidProviderName(std::string(AW_PROVIDER_NAME_MAX + 1, 'a')));
}

}  // namespace
}  // namespace aw
