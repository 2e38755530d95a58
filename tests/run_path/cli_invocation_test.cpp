// What the CLI is started with: the open request, the provider's environment, the spec.
#include <gtest/gtest.h>

#include "agent_worker/core/runs/cli_invocation.h"

namespace aw {
namespace {

using Json = nlohmann::json;

TEST(CliInvocation, TheProvidersVariablesComeFromTheEnvironmentAndSettingsOverrideThem) {
    const Json facts{{"env_vars", {"ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", 7}}};
    const Json settings{{"env", {{"ANTHROPIC_BASE_URL", "http://127.0.0.1:9"}, {"EXTRA", "1"}, {"BAD", 2}}}};
    auto lookup = [](const std::string& name) -> std::optional<std::string> {
        if (name == "ANTHROPIC_API_KEY") return "sk-1";
        if (name == "ANTHROPIC_BASE_URL") return "https://api";
        return std::nullopt;
    };
    const Json env = providerEnvironment(facts, settings, lookup);
    EXPECT_EQ(env, (Json{{"ANTHROPIC_API_KEY", "sk-1"}, {"ANTHROPIC_BASE_URL", "http://127.0.0.1:9"}, {"EXTRA", "1"}}));
}

TEST(CliInvocation, AResumedSessionCarriesItsProviderSessionAndPreviousUsage) {
    RunRecord run;
    run.runId = "run_1";
    run.sessionId = "s";
    run.provider = "claude-code";
    run.prompt = "hi";
    run.approvalMode = "auto";
    SessionWorker worker;
    worker.providerSessionsJson = R"({"claude-code":"abc","codex-cli":"x"})";
    worker.providerUsageJson = R"({"claude-code":{"input_tokens":10}})";
    const Json request = openRequest(run, worker, "/w", {{"binary", "claude"}});
    EXPECT_EQ(request["provider_session_id"], "abc");
    EXPECT_EQ(request["previous_usage"], (Json{{"input_tokens", 10}}));
    EXPECT_EQ(request["workspace"], "/w");
    EXPECT_EQ(request["settings"]["binary"], "claude");
    EXPECT_FALSE(request.contains("model"));

    worker.providerSessionsJson = "{}";
    const Json fresh = openRequest(run, worker, "/w", Json::object());
    EXPECT_FALSE(fresh.contains("provider_session_id"));
    EXPECT_FALSE(fresh.contains("previous_usage"));
}

TEST(CliInvocation, TheSpecPutsTheInvocationsEnvOverTheProvidersAndItsCwdInsideTheWorkspace) {
    const Json invocation{{"argv", {"claude", "-p"}}, {"env", {{"A", "plugin"}}}, {"cwd", "sub"}, {"stdin", "x"}};
    const auto spec = runSpec("run_1", invocation, {{"A", "host"}, {"B", "host"}}, "/w");
    EXPECT_EQ(spec.argv, (std::vector<std::string>{"claude", "-p"}));
    EXPECT_EQ(spec.env, (std::map<std::string, std::string>{{"A", "plugin"}, {"B", "host"}}));
    EXPECT_EQ(spec.cwd, "/w/sub");
    EXPECT_EQ(spec.stdinBytes, "x");
    EXPECT_FALSE(spec.keepStdinOpen);
    const Json argv{{"argv", {"x"}}};
    auto with = [&](const char* key, Json value) {
        Json invocation = argv;
        invocation[key] = std::move(value);
        return invocation;
    };
    EXPECT_EQ(runSpec("r", with("cwd", "."), Json::object(), "/w").cwd, "/w");
    EXPECT_EQ(runSpec("r", with("cwd", "/abs"), Json::object(), "/w").cwd, "/abs");
    EXPECT_EQ(runSpec("r", argv, Json::object(), "/w").cwd, "/w");
}

TEST(CliInvocation, AnInvocationOfTheWrongShapeIsRefusedNamingTheField) {
    auto codeOf = [](const Json& invocation) {
        try {
            runSpec("r", invocation, Json::object(), "/w");
        } catch (const ProblemError& e) {
            return e.problem().code + ": " + e.problem().message;
        }
        return std::string("accepted");
    };
    EXPECT_EQ(codeOf({{"argv", Json::array()}}), "invalid_invocation: the plugin's invocation has no argv");
    EXPECT_NE(codeOf({{"argv", {"x", 1}}}).find("argv holds a non-string"), std::string::npos);
    EXPECT_NE(codeOf({{"argv", {"x"}}, {"env", {{"K", 1}}}}).find("env.K"), std::string::npos);
    EXPECT_NE(codeOf({{"argv", {"x"}}, {"stdin", 5}}).find("stdin"), std::string::npos);
    EXPECT_NE(codeOf({{"argv", {"x"}}, {"cwd", false}}).find("cwd"), std::string::npos);
}

}  // namespace
}  // namespace aw
