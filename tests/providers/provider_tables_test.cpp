// The three plugins' tables as the host sees them: ABI version checks, names, capabilities
// true to each CLI's driven mode, facts, and how requests and calls are refused.
#include <dlfcn.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <map>

#include "provider_harness.h"

namespace aw::provider_tests {
namespace {

const char* const kProviders[] = {"claude-code", "codex-cli", "opencode"};

TEST(ProviderTables, EveryPluginServesAbiOneWithAFullTable) {
    for (const char* name : kProviders) {
        const aw_provider& provider = loadProvider(name);
        EXPECT_STREQ(provider.name, name);
        EXPECT_EQ(provider.abi_major, AW_PROVIDER_ABI_MAJOR);
        EXPECT_GE(provider.struct_size, AW_PROVIDER_MIN_STRUCT_SIZE) << name;
        EXPECT_NE(provider.version, nullptr);
        for (auto fn : {(void*)provider.open_run, (void*)provider.feed, (void*)provider.exit_run,
                        (void*)provider.reply, (void*)provider.interrupt, (void*)provider.close_run,
                        (void*)provider.free_buffer}) {
            EXPECT_NE(fn, nullptr) << name;
        }
    }
}

TEST(ProviderTables, EntryRefusesAnotherAbiMajor) {
    for (const char* name : kProviders) {
        loadProvider(name);  // make sure it is loaded, then look the entry up again
        const std::string path = std::string(AW_PROVIDER_PLUGIN_DIR) + "/" + name + ".so";
        void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
        ASSERT_NE(handle, nullptr) << dlerror();
        auto entry =
            reinterpret_cast<aw_provider_entry_fn>(dlsym(handle, AW_PROVIDER_ENTRY_SYMBOL));
        ASSERT_NE(entry, nullptr);
        EXPECT_EQ(entry(AW_PROVIDER_ABI_MAJOR + 1, 0), nullptr) << name;
        EXPECT_NE(entry(AW_PROVIDER_ABI_MAJOR, AW_PROVIDER_ABI_MINOR + 5), nullptr) << name;
    }
}

TEST(ProviderTables, OnlyClaudeCodeDeclaresHumanLoopAndGracefulInterrupt) {
    // All three take long prompts: their CLIs read the prompt from stdin.
    const uint64_t common = AW_CAP_RUN | AW_CAP_STREAM | AW_CAP_STOP | AW_CAP_RESUME | AW_CAP_TODO |
                            AW_CAP_USAGE | AW_CAP_LONG_PROMPT;
    EXPECT_EQ(loadProvider("claude-code").capabilities,
              common | AW_CAP_HUMAN_LOOP | AW_CAP_GRACEFUL_INTERRUPT);
    EXPECT_EQ(loadProvider("codex-cli").capabilities, common);
    EXPECT_EQ(loadProvider("opencode").capabilities, common);
}

TEST(ProviderTables, FactsNameTheBinaryStatePathsArgsAndEnvironment) {
    const std::map<std::string, std::string> binaries{
        {"claude-code", "claude"}, {"codex-cli", "codex"}, {"opencode", "opencode"}};
    for (const auto& [name, binary] : binaries) {
        const Json facts = Json::parse(loadProvider(name).facts_json);
        EXPECT_EQ(facts.at("binary"), binary);
        EXPECT_FALSE(facts.at("state_paths").empty()) << name;
        EXPECT_FALSE(facts.at("default_args").empty()) << name;
        EXPECT_FALSE(facts.at("env_vars").empty()) << name;
    }
    const Json claude = Json::parse(loadProvider("claude-code").facts_json);
    EXPECT_NE(std::find(claude["env_vars"].begin(), claude["env_vars"].end(), "ANTHROPIC_API_KEY"),
              claude["env_vars"].end());
    const Json codex = Json::parse(loadProvider("codex-cli").facts_json);
    EXPECT_NE(std::find(codex["env_vars"].begin(), codex["env_vars"].end(), "OPENAI_API_KEY"),
              codex["env_vars"].end());
}

TEST(ProviderTables, MalformedRequestsAreRefusedWithTheFieldNamed) {
    for (const char* name : kProviders) {
        const aw_provider& provider = loadProvider(name);
        PluginRun notJson(provider, Json("not an object"));
        EXPECT_EQ(notJson.openResult().status, AW_ERR_INVALID_INPUT) << name;
        EXPECT_FALSE(notJson.openResult().error.empty());

        PluginRun noPrompt(provider, runRequest({{"prompt", ""}}));
        EXPECT_EQ(noPrompt.openResult().status, AW_ERR_INVALID_INPUT) << name;
        EXPECT_NE(noPrompt.openResult().error.find("prompt"), std::string::npos);

        PluginRun badArgs(provider, runRequest({{"settings", {{"args", "--x"}}}}));
        EXPECT_EQ(badArgs.openResult().status, AW_ERR_INVALID_INPUT) << name;
        EXPECT_NE(badArgs.openResult().error.find("settings.args"), std::string::npos);

        PluginRun badMode(provider, runRequest({{"approval_mode", "sometimes"}}));
        EXPECT_EQ(badMode.openResult().status, AW_ERR_INVALID_INPUT) << name;
    }
}

TEST(ProviderTables, AskModeIsRefusedWithAHintWhereThereIsNoHumanLoop) {
    for (const char* name : {"codex-cli", "opencode"}) {
        PluginRun run(loadProvider(name), runRequest({{"approval_mode", "ask"}}));
        EXPECT_EQ(run.openResult().status, AW_ERR_UNSUPPORTED) << name;
        EXPECT_NE(run.openResult().error.find("approval_mode \"auto\""), std::string::npos)
            << run.openResult().error;
    }
    PluginRun claude(loadProvider("claude-code"), runRequest({{"approval_mode", "ask"}}));
    EXPECT_EQ(claude.openResult().status, AW_OK);
}

TEST(ProviderTables, NullArgumentsAreRefusedNotDereferenced) {
    for (const char* name : kProviders) {
        const aw_provider& provider = loadProvider(name);
        aw_buffer buffer{};
        aw_error error{};
        EXPECT_EQ(provider.feed(nullptr, "x", 1, &buffer, &error), AW_ERR_INVALID_INPUT);
        EXPECT_EQ(provider.exit_run(nullptr, 0, 0, 0, &buffer, &error), AW_ERR_INVALID_INPUT);
        EXPECT_EQ(provider.interrupt(nullptr, &buffer, &error), AW_ERR_INVALID_INPUT);
        aw_run* run = nullptr;
        EXPECT_EQ(provider.open_run(nullptr, 0, &run, &buffer, &error), AW_ERR_INVALID_INPUT);
        EXPECT_EQ(run, nullptr);
        provider.close_run(nullptr);
        provider.free_buffer(&buffer);
    }
}

TEST(ProviderTables, ExitRunTwiceIsRefusedSoARunHasOneTerminalEvent) {
    for (const char* name : kProviders) {
        PluginRun run(loadProvider(name), runRequest());
        ASSERT_TRUE(run.opened()) << run.openResult().error;
        EXPECT_EQ(run.exit(0, 0, false).status, AW_OK);
        EXPECT_EQ(run.exit(0, 0, false).status, AW_ERR_INVALID_INPUT) << name;
        EXPECT_EQ(run.terminalTypes().size(), 1u) << name;
    }
}

TEST(ProviderTables, ProvidersWithoutHumanLoopRefuseRepliesWithAReason) {
    for (const char* name : {"codex-cli", "opencode"}) {
        PluginRun run(loadProvider(name), runRequest());
        ASSERT_TRUE(run.opened());
        const CallResult reply = run.reply(R"({"request_id":"x","decision":"allow"})");
        EXPECT_EQ(reply.status, AW_ERR_UNSUPPORTED) << name;
        EXPECT_NE(reply.error.find("human loop"), std::string::npos) << reply.error;
    }
}

}  // namespace
}  // namespace aw::provider_tests
