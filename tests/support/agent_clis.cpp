#include "support/agent_clis.h"

#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "support/fake_cli.h"
#include "support/http_client.h"
#include "support/plugins.h"

namespace aw::live {
namespace {

using Clock = std::chrono::steady_clock;

std::string clip(const std::string& text, std::size_t size) {
    return text.size() <= size ? text : text.substr(0, size) + "...";
}

bool isTerminal(const std::string& type) {
    return type == "run.completed" || type == "run.failed" || type == "run.stopped";
}

//! Variables of the developer's environment that would point a CLI elsewhere.
const std::vector<std::string>& foreignVariables() {
    static const std::vector<std::string> names = {
        "ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_BASE_URL", "ANTHROPIC_MODEL",
        "CLAUDE_CONFIG_DIR", "OPENAI_API_KEY",       "OPENAI_BASE_URL",    "CODEX_HOME",
        "OPENCODE_CONFIG",   "OPENCODE_CONFIG_DIR",  "XDG_CONFIG_HOME",    "XDG_DATA_HOME",
        "XDG_CACHE_HOME",    "XDG_STATE_HOME",       "XDG_RUNTIME_DIR",    "HTTP_PROXY",
        "HTTPS_PROXY",       "http_proxy",           "https_proxy",        "ALL_PROXY"};
    return names;
}

}  // namespace

const CliPin& pinOf(Cli cli) {
    static const CliPin claude{"@anthropic-ai/claude-code", "2.1.330", "claude", "claude-code"};
    static const CliPin codex{"@openai/codex", "0.169.0", "codex", "codex-cli"};
    static const CliPin opencode{"opencode-ai", "1.18.33", "opencode", "opencode"};
    switch (cli) {
        case Cli::ClaudeCode:
            return claude;
        case Cli::CodexCli:
            return codex;
        case Cli::Opencode:
            return opencode;
    }
    return claude;
}

std::filesystem::path cliCacheDir() {
    if (const char* cache = std::getenv("AW_CLI_CACHE"); cache && *cache) return cache;
    const char* home = std::getenv("HOME");
    return std::filesystem::path(home ? home : "/root") / ".cache" / "agent-worker" / "clis";
}

std::filesystem::path cliBinary(Cli cli) {
    const CliPin& pin = pinOf(cli);
    // "@scope/name" -> "scope__name", as the install script names the prefixes.
    std::string named;
    for (char ch : std::string(pin.package)) {
        if (ch == '/') {
            named += "__";
        } else if (ch != '@' || !named.empty()) {
            named += ch;
        }
    }
    return cliCacheDir() / (named + "@" + pin.version) / "node_modules" / ".bin" / pin.binary;
}

std::string missingCli(Cli cli) {
    const auto binary = cliBinary(cli);
    if (::access(binary.c_str(), X_OK) == 0) return "";
    const CliPin& pin = pinOf(cli);
    return std::string(pin.package) + "@" + pin.version + " is not installed: no executable " +
           binary.string() +
           ". Run scripts/install-agent-clis.sh (make test does; it needs the npm registry), "
           "with the same AW_CLI_CACHE as this test run.";
}

// ---- ModelServer ---------------------------------------------------------------------------

ModelServer::ModelServer() {
    SubprocessOptions options;
    options.argv = {std::string(AW_BUILD_DIR) + "/tests/aw-model-server", "--port", "0"};
    options.stderrFile = (dir_ / "model-server.log").string();
    process_ = std::make_unique<Subprocess>(options);
    const auto line = process_->readLine(std::chrono::seconds(10));
    if (!line || line->empty()) {
        throw std::runtime_error("aw-model-server printed no port: " + log());
    }
    port_ = static_cast<unsigned short>(std::stoi(*line));
}

ModelServer::~ModelServer() {
    if (process_) process_->terminate(std::chrono::milliseconds(2000));
}

Json ModelServer::requests() const {
    return test::httpGet(port_, "/_aw/requests").json();
}

std::string ModelServer::log() const {
    return test::readText(dir_ / "model-server.log");
}

// ---- RunResult -----------------------------------------------------------------------------

std::vector<Json> RunResult::ofType(const std::string& type) const {
    std::vector<Json> found;
    for (const auto& event : events) {
        if (event.value("type", "") == type) found.push_back(event.value("data", Json::object()));
    }
    return found;
}

std::vector<std::string> RunResult::types() const {
    std::vector<std::string> list;
    for (const auto& event : events) list.push_back(event.value("type", ""));
    return list;
}

int RunResult::terminalCount() const {
    int count = 0;
    for (const auto& type : types()) count += isTerminal(type) ? 1 : 0;
    return count;
}

Json RunResult::terminal() const {
    if (events.empty() || !isTerminal(events.back().value("type", ""))) return Json();
    return events.back();
}

std::vector<std::string> RunResult::texts(const std::string& kind) const {
    std::vector<std::string> list;
    for (const auto& data : ofType("message.stop")) {
        if (data.value("kind", "") == kind) list.push_back(data.value("text", ""));
    }
    return list;
}

std::string RunResult::describe() const {
    std::ostringstream out;
    out << "agent-provider-host ended with " << status.describe() << " after " << seconds << " s; "
        << events.size() << " events:\n";
    for (const auto& event : events) out << "  " << clip(event.dump(), 400) << "\n";
    const std::string tail =
        stderrText.size() > 6000 ? "..." + stderrText.substr(stderrText.size() - 6000) : stderrText;
    out << "stderr:\n" << tail;
    return out.str();
}

// ---- CliSandbox ----------------------------------------------------------------------------

CliSandbox::CliSandbox(Cli cli, const ModelServer& server, const std::string& codexProviderExtra)
    : cli_(cli), dir_("aw-live") {
    workspace_ = dir_ / "workspace";
    const auto home = dir_ / "home";
    const auto tmp = dir_ / "tmp";
    for (const auto& dir : {workspace_, home, tmp}) std::filesystem::create_directories(dir);
    processEnv_ = {{"HOME", home.string()},
                   {"TMPDIR", tmp.string()},
                   {"XDG_CONFIG_HOME", (dir_ / "xdg" / "config").string()},
                   {"XDG_DATA_HOME", (dir_ / "xdg" / "data").string()},
                   {"XDG_CACHE_HOME", (dir_ / "xdg" / "cache").string()},
                   {"XDG_STATE_HOME", (dir_ / "xdg" / "state").string()},
                   {"NO_COLOR", "1"}};
    switch (cli) {
        case Cli::ClaudeCode:
            settingsEnv_ = {{"ANTHROPIC_BASE_URL", server.url()},
                            {"ANTHROPIC_API_KEY", "sk-ant-aw-live-test"},
                            {"DISABLE_AUTOUPDATER", "1"},
                            {"DISABLE_TELEMETRY", "1"},
                            {"DISABLE_ERROR_REPORTING", "1"},
                            {"CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1"}};
            break;
        case Cli::CodexCli: {
            const auto codexHome = dir_ / "codex-home";
            std::filesystem::create_directories(codexHome);
            dir_.write("codex-home/config.toml",
                       "model = \"gpt-5.5\"\n"
                       "model_provider = \"fake\"\n"
                       "\n"
                       "[model_providers.fake]\n"
                       "name = \"aw scripted model server\"\n"
                       "base_url = \"" +
                           server.url() +
                           "/v1\"\n"
                           "wire_api = \"responses\"\n"
                           "env_key = \"AW_LIVE_OPENAI_KEY\"\n" +
                           codexProviderExtra);
            settingsEnv_ = {{"CODEX_HOME", codexHome.string()},
                            {"AW_LIVE_OPENAI_KEY", "sk-aw-live-test"}};
            break;
        }
        case Cli::Opencode: {
            const Json config = {
                {"$schema", "https://opencode.ai/config.json"},
                {"autoupdate", false},
                {"share", "disabled"},
                {"model", "fake/fake-model"},
                {"provider",
                 {{"fake",
                   {{"npm", "@ai-sdk/openai-compatible"},
                    {"name", "aw scripted model server"},
                    {"options", {{"baseURL", server.url() + "/v1"}, {"apiKey", "sk-aw-live-test"}}},
                    {"models",
                     {{"fake-model",
                       {{"name", "fake-model"}, {"tool_call", true}, {"reasoning", true}}}}}}}}}};
            const auto file = dir_.write("opencode.json", config.dump(2));
            settingsEnv_ = {{"OPENCODE_CONFIG", file.string()},
                            {"OPENCODE_DISABLE_MODELS_FETCH", "1"},
                            {"OPENCODE_DISABLE_AUTOUPDATE", "1"},
                            {"OPENCODE_DISABLE_LSP_DOWNLOAD", "1"},
                            {"OPENCODE_DISABLE_SHARE", "1"}};
            break;
        }
    }
}

Json CliSandbox::request(const std::string& prompt, const Json& overrides) const {
    Json request = {{"run_id", "live-run"},
                    {"session_id", "live-session"},
                    {"prompt", prompt},
                    {"approval_mode", "auto"},
                    {"workspace", workspace_.string()},
                    {"settings", {{"binary", cliBinary(cli_).string()}, {"env", settingsEnv_}}}};
    for (const auto& [key, value] : overrides.items()) request[key] = value;
    return request;
}

RunResult CliSandbox::run(const Json& request, const RunOptions& options) {
    const int n = ++runs_;
    const auto eventsFile = dir_ / ("run-" + std::to_string(n) + ".events.jsonl");
    const auto stderrFile = dir_ / ("run-" + std::to_string(n) + ".stderr.txt");
    SubprocessOptions spawn;
    spawn.argv = {
        test::providerHostBinary(), "--plugin", test::shippedPlugin(pinOf(cli_).plugin).string(),
        "--run", "--request",
        // From a file: a long prompt does not fit in one argument.
        "@" + dir_.write("run-" + std::to_string(n) + ".request.json", request.dump()).string()};
    if (!options.replies.empty()) {
        std::string lines;
        for (const auto& reply : options.replies) lines += reply.dump() + "\n";
        spawn.argv.push_back("--replies");
        spawn.argv.push_back(dir_.write("run-" + std::to_string(n) + ".replies.jsonl", lines));
    }
    if (!options.interruptAfterEvent.empty()) {
        spawn.argv.push_back("--interrupt-after-event");
        spawn.argv.push_back(options.interruptAfterEvent);
    }
    if (options.interruptAfterMs >= 0) {
        spawn.argv.push_back("--interrupt-after-ms");
        spawn.argv.push_back(std::to_string(options.interruptAfterMs));
    }
    if (options.timeoutSeconds > 0) {
        spawn.argv.push_back("--timeout-s");
        spawn.argv.push_back(std::to_string(options.timeoutSeconds));
    }
    spawn.env = processEnv_;
    spawn.unsetEnv = foreignVariables();
    spawn.workingDir = dir_.path().string();
    spawn.pipeStdout = false;
    spawn.stdoutFile = eventsFile.string();
    spawn.stderrFile = stderrFile.string();

    RunResult result;
    const auto started = Clock::now();
    Subprocess host(spawn);
    for (;;) {
        if (auto status = host.waitFor(std::chrono::milliseconds(50))) {
            result.status = *status;
            break;
        }
        if (!options.interruptWhenFileExists.empty() && !result.interruptSent &&
            std::filesystem::exists(options.interruptWhenFileExists)) {
            std::this_thread::sleep_for(std::chrono::milliseconds(300));  // the tool is running
            ::kill(host.pid(), SIGINT);
            result.interruptSent = true;
        }
        if (Clock::now() - started > options.deadline) {
            result.status = host.terminate(std::chrono::milliseconds(5000));
            result.stderrText = "[the test gave up on the run after " +
                                std::to_string(options.deadline.count()) + " s]\n";
            break;
        }
    }
    result.seconds = std::chrono::duration<double>(Clock::now() - started).count();
    result.stderrText += test::readText(stderrFile);
    std::istringstream lines(test::readText(eventsFile));
    for (std::string line; std::getline(lines, line);) {
        if (line.empty()) continue;
        Json event = Json::parse(line, nullptr, false);
        if (event.is_discarded()) event = {{"type", "<not JSON>"}, {"data", {{"line", line}}}};
        result.events.push_back(std::move(event));
    }
    return result;
}

std::vector<std::string> processesIn(const std::filesystem::path& dir) {
    std::vector<std::string> found;
    for (const auto& [pid, command] : test::processesUnder(dir)) {
        found.push_back(std::to_string(pid) + " " + command);
    }
    return found;
}

}  // namespace aw::live
