#include "runs/claude_run_fixture.h"

#include "support/plugins.h"

namespace aw::runs {

test::HostLaunch RunHarness::launchFor(const HarnessOptions& options, const ClaudeRunWorld& world) {
    const auto plugins = world.data / "plugins";
    std::filesystem::create_directories(plugins);
    test::dropPlugin(test::shippedPlugin("claude-code"), plugins, "claude-code.so");
    test::dropPlugin(test::shippedPlugin("codex-cli"), plugins, "codex-cli.so");

    Json providers = {{"claude-code",
                       {{"binary", live::cliBinary(Cli::ClaudeCode).string()},
                        {"env",
                         {{"ANTHROPIC_BASE_URL", world.model->url()},
                          {"ANTHROPIC_API_KEY", "sk-ant-aw-runs-test"},
                          {"DISABLE_AUTOUPDATER", "1"},
                          {"DISABLE_TELEMETRY", "1"},
                          {"DISABLE_ERROR_REPORTING", "1"},
                          {"CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1"}}}}}};
    if (!options.codexBinary.empty()) {
        providers["codex-cli"] = {{"binary", options.codexBinary}};
    }

    auto launch = test::defaultLaunch(world.data.path().string());
    launch.env["AW_PROVIDERS"] = providers.dump();
    for (const auto& [name, value] : options.hostEnv) launch.env[name] = value;
    if (!options.dbUrl.empty()) {
        test::setFlag(launch, "--db", options.dbUrl);
    } else if (options.db == Db::Postgres) {
        test::setFlag(launch, "--db", test::databaseUrlFor(Db::Postgres, "runs"));
    }
    return launch;
}

RunHarness::RunHarness(HarnessOptions options)
    : ClaudeRunWorld(), test::AgentHost(launchFor(options, *this)) {
    // The plugins hand-shake after the host listens; until then their names are unknown and
    // a message is refused with 404 unknown_provider.
    if (options.waitForProviders) waitProvidersHealthy(2);
}

std::string RunHarness::startRun(const std::string& sessionId, const std::string& prompt,
                                 const Json& extra) {
    Json body = {{"provider", "claude-code"}, {"prompt", prompt}};
    for (const auto& [key, value] : extra.items()) body[key] = value;
    const auto answer = postMessage(sessionId, body);
    EXPECT_EQ(answer.status, 202) << answer.body;
    if (answer.status != 202) return "";
    const Json json = answer.json();
    EXPECT_EQ(json.value("created", false), true) << answer.body;
    return json.value("run_id", "");
}

Json RunHarness::waitForEnd(const std::string& runId, std::chrono::milliseconds timeout) {
    return waitForRun(
        runId, [](const Json& run) { return test::isTerminalStatus(run.value("status", "")); },
        timeout);
}

Json RunHarness::waitForStatus(const std::string& runId, const std::string& status,
                               std::chrono::milliseconds timeout) {
    return waitForRun(
        runId, [&](const Json& run) { return run.value("status", "") == status; }, timeout);
}

}  // namespace aw::runs
