#include "support/agent_host_process.h"

#include <unistd.h>

#include <stdexcept>

namespace aw::test {
namespace {

constexpr auto kStartTimeout = std::chrono::seconds(30);
const std::string kListeningPrefix = "agent-host listening on http://";

SubprocessOptions optionsFor(const HostLaunch& launch, const std::string& stderrFile) {
    SubprocessOptions options;
    options.argv = {agentHostBinary()};
    options.argv.insert(options.argv.end(), launch.args.begin(), launch.args.end());
    options.env = launch.env;
    // The test's own AW_* settings must not leak into the host under test.
    for (char** entry = environ; entry && *entry; ++entry) {
        const std::string item(*entry);
        if (item.rfind("AW_", 0) == 0) options.unsetEnv.push_back(item.substr(0, item.find('=')));
    }
    options.stderrFile = stderrFile;
    return options;
}

}  // namespace

std::string agentHostBinary() { return std::string(AW_BUILD_DIR) + "/bin/agent-host"; }

void setFlag(HostLaunch& launch, const std::string& flag, const std::string& value) {
    for (std::size_t i = 0; i + 1 < launch.args.size(); ++i) {
        if (launch.args[i] == flag) {
            launch.args[i + 1] = value;
            return;
        }
    }
    launch.args.insert(launch.args.end(), {flag, value});
}

HostLaunch defaultLaunch(const std::string& dataDir) {
    // An empty plugins directory of its own: tests that want providers pass their own.
    return HostLaunch{
        {"--listen", "127.0.0.1:0", "--data-dir", dataDir, "--plugins-dir", dataDir + "/plugins"},
        {}};
}

AgentHostProcess::AgentHostProcess(HostLaunch launch) {
    process_ = std::make_unique<Subprocess>(optionsFor(launch, (logDir_ / "stderr.log").string()));
    const auto deadline = std::chrono::steady_clock::now() + kStartTimeout;
    while (std::chrono::steady_clock::now() < deadline) {
        auto line = process_->readLine(std::chrono::milliseconds(200));
        if (line && line->rfind(kListeningPrefix, 0) == 0) {
            port_ = static_cast<unsigned short>(std::stoi(line->substr(line->rfind(':') + 1)));
            return;
        }
        if (!line && process_->stdoutClosed()) break;
    }
    const auto status = process_->terminate();
    throw std::runtime_error("agent-host did not start (" + status.describe() + "): " + log());
}

AgentHostProcess::~AgentHostProcess() {
    if (process_) process_->terminate();
}

ExitStatus AgentHostProcess::stop() { return process_->terminate(std::chrono::seconds(15)); }

std::string AgentHostProcess::log() const { return readText(logDir_ / "stderr.log"); }

RefusedStart runHostExpectingExit(HostLaunch launch) {
    TempDir logDir("aw-host-log");
    Subprocess process(optionsFor(launch, (logDir / "stderr.log").string()));
    std::string output;
    const auto deadline = std::chrono::steady_clock::now() + kStartTimeout;
    while (!process.stdoutClosed() && std::chrono::steady_clock::now() < deadline) {
        if (auto line = process.readLine(std::chrono::milliseconds(200))) output += *line + "\n";
    }
    auto status = process.waitFor(std::chrono::seconds(5));
    if (!status) status = process.terminate();
    return RefusedStart{*status, readText(logDir / "stderr.log"), output};
}

}  // namespace aw::test
