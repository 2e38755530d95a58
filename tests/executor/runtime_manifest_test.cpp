// The runtime manifest: strict JSON in, the same JSON out, clear errors naming the field.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "agent_worker/core/problem.h"
#include "agent_worker/core/runtime_manifest.h"

namespace aw {
namespace {

using ::testing::HasSubstr;

constexpr std::string_view kManifest = R"({
  "version": 1,
  "entries": [
    {"name": "workspace", "level": "workspace", "target": ".", "required": true},
    {"name": "npm-cache", "level": "caches", "target": "~/.npm",
     "conflict_policy": "prefer_snapshot"},
    {"name": "tools", "level": "full", "target": "~/.local/share/tools", "mode": "link"}
  ],
  "providers": {
    "claude-code": {"state_paths": [{"name": "claude", "target": "~/.claude"}]}
  },
  "protected_paths": ["~/.ssh"]
})";

Problem problemOf(std::string_view text) {
    try {
        parseRuntimeManifest(text);
    } catch (const ProblemError& error) {
        return error.problem();
    }
    ADD_FAILURE() << "accepted " << text;
    return {};
}

TEST(RuntimeManifest, ReadsEveryFieldWithDefaults) {
    const RuntimeManifest manifest = parseRuntimeManifest(kManifest);
    ASSERT_EQ(manifest.entries.size(), 3u);
    EXPECT_EQ(manifest.entries[0].mode, RestoreMode::Copy);
    EXPECT_FALSE(manifest.entries[0].conflictPolicy.has_value());
    EXPECT_TRUE(manifest.entries[0].required);
    EXPECT_EQ(manifest.entries[1].conflictPolicy, ConflictPolicy::PreferSnapshot);
    EXPECT_EQ(manifest.entries[2].level, RestoreLevel::Full);
    EXPECT_EQ(manifest.providerStatePaths.at("claude-code").at(0).target, "~/.claude");
    EXPECT_EQ(manifest.protectedPaths, std::vector<std::string>{"~/.ssh"});
}

TEST(RuntimeManifest, JsonRoundTrips) {
    const RuntimeManifest manifest = parseRuntimeManifest(kManifest);
    EXPECT_EQ(runtimeManifestFromJson(toJson(manifest)), manifest);
}

TEST(RuntimeManifest, UnknownLevelIsAClearError) {
    const Problem problem =
        problemOf(R"({"version":1,"entries":[{"name":"w","level":"L1","target":"."}]})");
    EXPECT_EQ(problem.code, "invalid_runtime_manifest");
    EXPECT_THAT(problem.message, HasSubstr("entries[0].level is \"L1\""));
    EXPECT_THAT(problem.message, HasSubstr("none, workspace, agent_state, caches, full"));
    EXPECT_FALSE(problem.hint.empty());
}

//! The message for a manifest whose entries are `entries` (JSON objects, comma-separated).
std::string messageForEntries(const std::string& entries) {
    return problemOf(R"({"version": 1, "entries": [)" + entries + "]}").message;
}

TEST(RuntimeManifest, RejectsTyposDuplicatesAndReservedNames) {
    const std::string workspace = R"({"name": "w", "level": "workspace", "target": ".")";
    EXPECT_THAT(messageForEntries(workspace + R"(, "requird": true})"),
                HasSubstr("entries[0].requird is not a known field"));
    EXPECT_THAT(messageForEntries(workspace + "}, " + workspace + "}"),
                HasSubstr("entries[1].name \"w\" is declared twice"));
    EXPECT_THAT(
        messageForEntries(R"({"name": "agent-state", "level": "workspace", "target": "."})"),
        HasSubstr("reserved"));
    EXPECT_THAT(messageForEntries(R"({"name": "w", "level": "none", "target": "."})"),
                HasSubstr("entries[0].level"));
    EXPECT_THAT(messageForEntries(R"({"name": "../w", "level": "workspace", "target": "."})"),
                HasSubstr("entries[0].name"));
    EXPECT_THAT(problemOf(R"({"version": 2, "entries": []})").message, HasSubstr("version"));
    EXPECT_EQ(problemOf("{not json").code, "invalid_runtime_manifest");
}

TEST(RuntimeManifest, ConfiguredProviderStatePathsWinOverPluginFacts) {
    RuntimeManifest manifest = parseRuntimeManifest(kManifest);
    manifest.mergeProviderStatePaths(
        "claude-code", providerStatePathsFromJson(nlohmann::json::parse(
                           R"({"state_paths":[{"name":"claude","target":"~/.claude-other"},
                                              {"name":"config","target":"~/.claude.json"}]})")));
    const auto& paths = manifest.providerStatePaths.at("claude-code");
    ASSERT_EQ(paths.size(), 2u);
    EXPECT_EQ(paths[0].target, "~/.claude");
    EXPECT_EQ(paths[1].name, "config");
}

TEST(RuntimeManifest, LevelsHaveOperatorShortNames) {
    EXPECT_EQ(shortName(RestoreLevel::None), "L0");
    EXPECT_EQ(shortName(RestoreLevel::Full), "L4");
    EXPECT_EQ(parseRestoreLevel("agent_state"), RestoreLevel::AgentState);
    EXPECT_EQ(parseConflictPolicy("keep_session"), ConflictPolicy::KeepSession);
    EXPECT_FALSE(parseRestoreMode("symlink").has_value());
}

}  // namespace
}  // namespace aw
