// Restore planning: which entries by level and situation, conflict policies, path safety,
// the JSON contract with the executor, and the required-path check that gates a run.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "agent_worker/core/restore_planner.h"

namespace aw {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

const RestoreRoots kRoots{"/workspace", "/home/agent"};

RuntimeManifest manifest() {
    return parseRuntimeManifest(R"({
      "version": 1,
      "entries": [
        {"name": "workspace", "level": "workspace", "target": ".", "required": true},
        {"name": "npm-cache", "level": "caches", "target": "~/.npm"},
        {"name": "tools", "level": "full", "target": "~/.local/share/tools", "mode": "link"}
      ],
      "providers": {
        "claude-code": {"state_paths": [{"name": "claude", "target": "~/.claude"}]},
        "codex-cli": {"state_paths": [{"name": "codex", "target": "~/.codex"}]}
      },
      "protected_paths": ["~/.ssh"]
    })");
}

//! The manifest with its cache entry ("npm-cache") pointed somewhere else.
RuntimeManifest withCacheTarget(std::string target) {
    RuntimeManifest source = manifest();
    source.entries.at(1).target = std::move(target);
    return source;
}

const WorkspacePrefix kPrefix =
    computeWorkspacePrefix("agent-workspaces", "prod", "acme", "chat-42");

RestoreRequest ask(RestoreLevel level, RestoreSituation situation,
                   std::optional<std::string> resumeProvider = std::nullopt,
                   std::optional<ConflictPolicy> conflictPolicy = std::nullopt) {
    return RestoreRequest{level, situation, std::move(resumeProvider), conflictPolicy};
}

RestorePlan planFor(RestoreRequest request, RuntimeManifest source = manifest()) {
    return RestorePlanner(std::move(source), kRoots).plan("chat-42", kPrefix, request);
}

std::vector<std::string> names(const RestorePlan& plan) {
    std::vector<std::string> result;
    for (const auto& entry : plan.entries) result.push_back(entry.name);
    return result;
}

Problem rejectionOf(const RuntimeManifest& source,
                    RestoreRequest request = ask(RestoreLevel::Full, RestoreSituation::Recreated)) {
    try {
        planFor(request, source);
    } catch (const ProblemError& error) {
        return error.problem();
    }
    ADD_FAILURE() << "plan accepted";
    return {};
}

// Keep identical to the example in docs/restore-plan.md: it is the executor's contract.
constexpr std::string_view kDocumentedPlan = R"({
  "version": 1,
  "session_id": "chat-42",
  "bucket": "agent-workspaces",
  "key_prefix": "prod/acme/chat-42/",
  "level": "workspace",
  "situation": "recreated",
  "entries": [
    {
      "name": "workspace",
      "level": "workspace",
      "source_key_prefix": "prod/acme/chat-42/workspace/",
      "target_path": "/workspace",
      "mode": "copy",
      "conflict_policy": "keep_session",
      "required": true
    },
    {
      "name": "claude-code/claude",
      "level": "agent_state",
      "source_key_prefix": "prod/acme/chat-42/agent-state/claude-code/claude/",
      "target_path": "/home/agent/.claude",
      "mode": "link",
      "conflict_policy": "keep_session",
      "required": true
    }
  ],
  "required_paths": ["/workspace", "/home/agent/.claude"],
  "protected_paths": ["/home/agent/.ssh", "/home/agent/.agent-executor"]
})";

TEST(RestorePlan, RestorePlanDefaultsToKeepSession) {
    const RestorePlan plan = planFor(ask(RestoreLevel::Full, RestoreSituation::Recreated));
    ASSERT_FALSE(plan.entries.empty());
    for (const auto& entry : plan.entries) {
        EXPECT_EQ(entry.conflictPolicy, ConflictPolicy::KeepSession) << entry.name;
    }
}

TEST(RestorePlan, EntryPolicyOverridesTheDefaultAndTheRequestOverridesBoth) {
    RuntimeManifest source = manifest();
    source.entries[1].conflictPolicy = ConflictPolicy::PreferSnapshot;
    const RestorePlan byEntry =
        planFor(ask(RestoreLevel::Caches, RestoreSituation::Recreated), source);
    EXPECT_EQ(byEntry.entries.at(0).conflictPolicy, ConflictPolicy::KeepSession);
    EXPECT_EQ(byEntry.entries.at(1).conflictPolicy, ConflictPolicy::PreferSnapshot);

    const RestorePlan byRequest = planFor(
        ask(RestoreLevel::Caches, RestoreSituation::Recreated, std::nullopt, ConflictPolicy::Fail),
        source);
    for (const auto& entry : byRequest.entries)
        EXPECT_EQ(entry.conflictPolicy, ConflictPolicy::Fail);
}

TEST(RestorePlan, EachLevelAddsToTheOneBelow) {
    const auto at = [](RestoreLevel level) {
        return names(planFor(ask(level, RestoreSituation::Recreated)));
    };
    EXPECT_TRUE(at(RestoreLevel::None).empty());
    EXPECT_THAT(at(RestoreLevel::Workspace), ElementsAre("workspace"));
    EXPECT_THAT(at(RestoreLevel::AgentState),
                ElementsAre("workspace", "claude-code/claude", "codex-cli/codex"));
    EXPECT_THAT(at(RestoreLevel::Caches),
                ElementsAre("workspace", "npm-cache", "claude-code/claude", "codex-cli/codex"));
    EXPECT_THAT(at(RestoreLevel::Full), ElementsAre("workspace", "npm-cache", "tools",
                                                    "claude-code/claude", "codex-cli/codex"));
}

TEST(RestorePlan, ProviderStateIsLinkedUnderTheSessionPrefix) {
    const RestorePlan plan = planFor(ask(RestoreLevel::AgentState, RestoreSituation::Recreated));
    const RestorePlanEntry& claude = plan.entries.at(1);
    EXPECT_EQ(claude.mode, RestoreMode::Link);
    EXPECT_EQ(claude.level, RestoreLevel::AgentState);
    EXPECT_EQ(claude.sourceKeyPrefix, "prod/acme/chat-42/agent-state/claude-code/claude/");
    EXPECT_EQ(claude.targetPath, "/home/agent/.claude");
    EXPECT_FALSE(claude.required);  // nothing resumes it this time
}

TEST(RestorePlan, ResumeBringsTheProvidersStateEvenBelowL2AndRequiresIt) {
    const RestorePlan plan =
        planFor(ask(RestoreLevel::Workspace, RestoreSituation::Recreated, "claude-code"));
    EXPECT_THAT(names(plan), ElementsAre("workspace", "claude-code/claude"));
    EXPECT_TRUE(plan.entries.at(1).required);
    EXPECT_THAT(plan.requiredPaths, ElementsAre("/workspace", "/home/agent/.claude"));
}

TEST(RestorePlan, NewWorkerOnlyLinksAndRequiresNothing) {
    // Nothing is copied (the store holds nothing yet), but the links are made so that the
    // CLI's state is written into the executor's synced state area from the first run.
    const RestorePlan plan =
        planFor(ask(RestoreLevel::Full, RestoreSituation::NewWorker, "claude-code"));
    EXPECT_THAT(names(plan), ElementsAre("tools", "claude-code/claude", "codex-cli/codex"));
    for (const auto& entry : plan.entries) {
        EXPECT_EQ(entry.mode, RestoreMode::Link) << entry.name;
        EXPECT_FALSE(entry.required) << entry.name << ": a new session can require nothing";
    }
    EXPECT_EQ(plan.entries.at(1).sourceKeyPrefix, "prod/acme/chat-42/agent-state/claude-code/claude/");
    EXPECT_EQ(plan.entries.at(1).targetPath, "/home/agent/.claude");
    EXPECT_TRUE(plan.requiredPaths.empty());
    EXPECT_EQ(restorePlanFromJson(toJson(plan)), plan);
}

TEST(RestorePlan, NewWorkerBelowL2LinksOnlyTheResumedProvidersState) {
    EXPECT_TRUE(planFor(ask(RestoreLevel::Workspace, RestoreSituation::NewWorker)).entries.empty());
    const RestorePlan plan =
        planFor(ask(RestoreLevel::Workspace, RestoreSituation::NewWorker, "codex-cli"));
    EXPECT_THAT(names(plan), ElementsAre("codex-cli/codex"));
    EXPECT_TRUE(plan.requiredPaths.empty());
}

TEST(RestorePlan, RestartedWorkerOnlyRelinksButStillChecksRequiredPaths) {
    const RestorePlan plan =
        planFor(ask(RestoreLevel::Full, RestoreSituation::StoppedWithFiles, "claude-code"));
    EXPECT_THAT(names(plan), ElementsAre("tools", "claude-code/claude", "codex-cli/codex"));
    EXPECT_THAT(plan.requiredPaths, ElementsAre("/workspace", "/home/agent/.claude"));
}

TEST(RestorePlan, AdoptedSandboxGetsEverythingWithItsOwnFilesWinning) {
    const RestorePlan plan = planFor(ask(RestoreLevel::Caches, RestoreSituation::Adopted));
    EXPECT_EQ(plan.entries.size(), 4u);
    EXPECT_EQ(plan.entries.at(0).conflictPolicy, ConflictPolicy::KeepSession);
}

TEST(RestorePlan, TargetEscapingTheRootsRejectsThePlanNamingTheEntry) {
    const Problem problem = rejectionOf(withCacheTarget("../../etc/cron.d"));
    EXPECT_EQ(problem.code, "restore_plan_rejected");
    EXPECT_THAT(problem.message, HasSubstr("\"npm-cache\""));
    EXPECT_THAT(problem.message, HasSubstr("resolves to /etc/cron.d"));
    EXPECT_FALSE(problem.hint.empty());

    // A sibling that shares the root's spelling is still outside it.
    EXPECT_EQ(rejectionOf(withCacheTarget("/home/agentx/.npm")).code, "restore_plan_rejected");
    EXPECT_EQ(rejectionOf(withCacheTarget("~other/.npm")).code, "restore_plan_rejected");
}

TEST(RestorePlan, ProtectedPathsAreNeverWritten) {
    const Problem configured = rejectionOf(withCacheTarget("~/.ssh/authorized_keys"));
    EXPECT_THAT(configured.message, HasSubstr("\"npm-cache\""));
    EXPECT_THAT(configured.message, HasSubstr("protected path /home/agent/.ssh"));

    const Problem builtin =
        rejectionOf(withCacheTarget("~/./.agent-executor/../.agent-executor/token"));
    EXPECT_THAT(builtin.message, HasSubstr("protected path /home/agent/.agent-executor"));
}

TEST(RestorePlan, TargetContainingAProtectedPathPassesItToTheExecutor) {
    const RestorePlan plan =
        planFor(ask(RestoreLevel::Caches, RestoreSituation::Recreated), withCacheTarget("~"));
    EXPECT_EQ(plan.entries.at(1).targetPath, "/home/agent");
    EXPECT_THAT(plan.protectedPaths,
                ElementsAre("/home/agent/.ssh", "/home/agent/.agent-executor"));
}

TEST(RestorePlan, PlanJsonRoundTripsAndMatchesDocumentedSchema) {
    const RestorePlan plan =
        planFor(ask(RestoreLevel::Workspace, RestoreSituation::Recreated, "claude-code"));
    const nlohmann::json documented = nlohmann::json::parse(kDocumentedPlan);

    EXPECT_EQ(toJson(plan), documented);
    EXPECT_EQ(parseRestorePlan(kDocumentedPlan), plan);
    EXPECT_EQ(toJson(restorePlanFromJson(toJson(plan))), documented);
    EXPECT_FALSE(validateRestorePlan(plan, kRoots).has_value());
}

TEST(RestorePlan, UnknownEnumValueOrFieldInAPlanIsAClearError) {
    nlohmann::json json = nlohmann::json::parse(kDocumentedPlan);
    json["entries"][1]["mode"] = "symlink";
    try {
        restorePlanFromJson(json);
        FAIL() << "accepted mode symlink";
    } catch (const ProblemError& error) {
        EXPECT_EQ(error.problem().code, "invalid_restore_plan");
        EXPECT_THAT(error.problem().message,
                    HasSubstr("entries[1].mode is \"symlink\", expected one of: copy, link"));
    }
    json = nlohmann::json::parse(kDocumentedPlan);
    json["overwrite"] = true;
    EXPECT_THROW(restorePlanFromJson(json), ProblemError);
    json = nlohmann::json::parse(kDocumentedPlan);
    json["entries"][0].erase("required");
    EXPECT_THROW(restorePlanFromJson(json), ProblemError);
}

TEST(RestorePlan, ExecutorSideValidationRejectsATamperedPlan) {
    const RestorePlan good = parseRestorePlan(kDocumentedPlan);
    const auto rejectedWhen = [&](auto change) {
        RestorePlan plan = good;
        change(plan);
        const auto problem = validateRestorePlan(plan, kRoots);
        return problem ? problem->message : std::string("accepted");
    };
    EXPECT_THAT(
        rejectedWhen([](RestorePlan& p) { p.entries[0].sourceKeyPrefix = "prod/acme/other/"; }),
        HasSubstr("not inside the session's prefix"));
    EXPECT_THAT(rejectedWhen([](RestorePlan& p) {
                    p.entries[0].sourceKeyPrefix = "prod/acme/chat-42/../other/";
                }),
                HasSubstr("\"workspace\""));
    EXPECT_THAT(rejectedWhen([](RestorePlan& p) { p.entries[0].targetPath = "/workspace/../etc"; }),
                HasSubstr("not absolute and normalised"));
    EXPECT_THAT(rejectedWhen([](RestorePlan& p) {
                    p.protectedPaths.clear();
                    p.entries[1].targetPath = "/home/agent/.agent-executor";
                }),
                HasSubstr("protected path /home/agent/.agent-executor"));
    EXPECT_THAT(rejectedWhen([](RestorePlan& p) { p.entries[1].targetPath = "/workspace"; }),
                HasSubstr("also the target of another entry"));
    EXPECT_THAT(rejectedWhen([](RestorePlan& p) { p.keyPrefix = "prod/acme/chat-4/"; }),
                HasSubstr("key prefix"));
}

TEST(RestorePlan, MissingRequiredPathBlocksRun) {
    const RestorePlan plan = parseRestorePlan(kDocumentedPlan);

    const RestoreValidation validation = checkRequiredPaths(plan, {"/workspace"});

    EXPECT_TRUE(validation.blocksRun());
    EXPECT_THAT(validation.missingPaths, ElementsAre("/home/agent/.claude"));
    const auto problem = validation.problem();
    ASSERT_TRUE(problem.has_value());
    EXPECT_EQ(problem->code, "restore_validation_failed");
    EXPECT_THAT(problem->message, HasSubstr("/home/agent/.claude"));
    EXPECT_FALSE(problem->hint.empty());
    EXPECT_EQ(restoreValidationFromJson(toJson(validation)), validation);
}

TEST(RestorePlan, AllRequiredPathsPresentLetsTheRunGo) {
    const RestorePlan plan = parseRestorePlan(kDocumentedPlan);
    const RestoreValidation validation =
        checkRequiredPaths(plan, {"/workspace", "/home/agent/.claude", "/workspace/extra"});
    EXPECT_FALSE(validation.blocksRun());
    EXPECT_FALSE(validation.problem().has_value());
}

TEST(RestorePaths, NormalisationIsLexicalAndNeverClimbsAboveRoot) {
    EXPECT_EQ(lexicallyNormalAbsolute("/workspace/./src//a/../b/"), "/workspace/src/b");
    EXPECT_EQ(lexicallyNormalAbsolute("/../../etc"), "/etc");
    EXPECT_EQ(lexicallyNormalAbsolute("/"), "/");
    EXPECT_TRUE(isSameOrInside("/workspace/a", "/workspace"));
    EXPECT_FALSE(isSameOrInside("/workspace2", "/workspace"));
    EXPECT_EQ(resolveRestorePath("src/../lib", kRoots).path, "/workspace/lib");
    EXPECT_EQ(resolveRestorePath("~", kRoots).path, "/home/agent");
    EXPECT_FALSE(resolveRestorePath(std::string("a\nb"), kRoots).ok());
}

TEST(RestorePaths, RootsMustBeAbsoluteNormalisedAndNotTheFilesystemRoot) {
    EXPECT_FALSE(checkRestoreRoots(kRoots).has_value());
    EXPECT_EQ(checkRestoreRoots({"/", "/home/agent"})->code, "invalid_restore_roots");
    EXPECT_TRUE(checkRestoreRoots({"workspace", "/home/agent"}).has_value());
    EXPECT_TRUE(checkRestoreRoots({"/workspace/", "/home/agent"}).has_value());
    EXPECT_THROW(RestorePlanner(manifest(), RestoreRoots{"/workspace", "/home/../"}), ProblemError);
}

}  // namespace
}  // namespace aw
