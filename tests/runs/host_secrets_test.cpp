// Issue 12, "no secret in any environment an agent can read", end to end through agent-host
// and local workers: the provider-hosts see none of the host's secrets, in their environment
// or on their command line (both readable in /proc by anything running as the host's user),
// while the agent CLI still gets its provider's variables with each run; and what the host
// and its workers keep in the data directory is their user's alone.
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "support/agent_host_harness.h"
#include "support/fake_cli.h"
#include "support/plugins.h"
#include "support/run_events.h"

namespace aw::test {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

//! The host's secrets, by the variable that holds them.
const std::map<std::string, std::string> kSecrets = {
    {"AW_AUTH_CLIENT_TOKENS", "client-token-5f0c1e"},
    {"AW_AUTH_ADMIN_TOKENS", "admin-token-9d2b7a"},
    {"AW_DEPLOY_DB_PASSWORD", "db-password-3e8f41"},  // an operator's own AW_ variable
    {"ANTHROPIC_API_KEY", "sk-ant-fake-7c41d0"},
    {"OPENAI_API_KEY", "sk-openai-fake-b6e2f9"},
};
//! In providers.claude-code.env: a setting, for the CLI alone.
constexpr const char* kSettingSecret = "auth-token-setting-2a9c55";

//! The live processes below `parent` whose program is `program`.
std::vector<pid_t> childrenRunning(pid_t parent, const std::string& program) {
    std::vector<pid_t> children;
    for (const auto& entry : fs::directory_iterator("/proc")) {
        const std::string name = entry.path().filename().string();
        if (name.find_first_not_of("0123456789") != std::string::npos) continue;
        const pid_t pid = static_cast<pid_t>(std::stol(name));
        const std::string cmdline = readText(entry.path() / "cmdline");
        const std::string argv0 = cmdline.substr(0, cmdline.find('\0'));
        if (pid != parent && fs::path(argv0).filename() == program && descendsFrom(pid, parent) &&
            processAlive(pid)) {
            children.push_back(pid);
        }
    }
    return children;
}

//! The names of the NUL-separated NAME=VALUE entries of /proc/<pid>/environ.
std::vector<std::string> environmentNames(const std::string& environ) {
    std::vector<std::string> names;
    for (std::size_t start = 0; start < environ.size();) {
        const auto end = std::min(environ.find('\0', start), environ.size());
        const std::string entry = environ.substr(start, end - start);
        names.push_back(entry.substr(0, entry.find('=')));
        start = end + 1;
    }
    return names;
}

//! "path mode" for everything below `root` (and `root`) that its owner does not keep to
//! itself: a file group or other may read or write, a directory they may enter or list.
//! The workers' workspace and home directories are the agent's own files, and skipped.
std::string filesOthersCanReach(const fs::path& root) {
    std::string offenders;
    auto check = [&](const fs::path& path) {
        struct stat info {};
        if (::lstat(path.c_str(), &info) != 0 || S_ISLNK(info.st_mode)) return;
        const mode_t forbidden =
            S_ISDIR(info.st_mode) ? (S_IRWXG | S_IRWXO) : (S_IRGRP | S_IWGRP | S_IROTH | S_IWOTH);
        if ((info.st_mode & forbidden) != 0) {
            char mode[8];
            std::snprintf(mode, sizeof mode, "%04o", info.st_mode & 07777);
            offenders += "  " + path.string() + " " + mode + "\n";
        }
    };
    check(root);
    for (auto it = fs::recursive_directory_iterator(root); it != fs::recursive_directory_iterator();
         ++it) {
        const auto relative = fs::relative(it->path(), root);
        auto part = relative.begin();
        const bool inWorker =
            *part == "workers" && std::distance(relative.begin(), relative.end()) >= 3;
        if (inWorker && (*std::next(part, 2) == "workspace" || *std::next(part, 2) == "home")) {
            if (it->is_directory()) it.disable_recursion_pending();
            continue;
        }
        check(it->path());
    }
    return offenders;
}

class HostSecrets : public ::testing::Test {
protected:
    void SetUp() override {
        fs::create_directories(root_ / "plugins");
        fs::create_directories(root_ / "bin");
        for (const char* name : {"claude-code", "codex-cli", "opencode"}) {
            dropPlugin(shippedPlugin(name), root_ / "plugins", std::string(name) + ".so");
        }
        // A fake `claude`: leaves what it was given of the provider's variables in the
        // workspace, in a file an agent would make (0644), then prints a recorded turn.
        claude_ = writeScript(
            root_ / "bin" / "key-reading-claude",
            "printf '%s\\n' \"$ANTHROPIC_API_KEY\" \"$ANTHROPIC_AUTH_TOKEN\" > keys.txt\n"
            "chmod 0644 keys.txt\n"
            "cat " +
                shellQuote(fixturePath("claude-basic.jsonl").string()) + "\n");
    }

    //! A host holding every secret of kSecrets, with the data dir left for it to create.
    HostSpec spec() const {
        HostSpec spec{root_ / "data", root_ / "plugins", "", quickHostEnv()};
        for (const auto& [name, value] : kSecrets) spec.env[name] = value;
        spec.env["AW_PROVIDERS"] = Json{{"claude-code",
                                         {{"binary", claude_.string()},
                                          {"env", {{"ANTHROPIC_AUTH_TOKEN", kSettingSecret}}}}}}
                                       .dump();
        return spec;
    }

    TempDir root_{"aw-secrets"};
    fs::path claude_;
};

TEST_F(HostSecrets, ProviderHostsSeeNoneOfTheHostsSecretsAndTheCliStillGetsItsKeys) {
    AgentHost host(spec());
    host.waitProvidersHealthy(3);
    std::map<std::string, std::string> secrets = kSecrets;
    secrets["AW_AUTH_EXECUTOR_TOKENS"] = kExecutorToken;
    secrets["AW_PROVIDERS"] = kSettingSecret;

    const auto providerHosts = childrenRunning(host.pid(), "agent-provider-host");
    ASSERT_EQ(providerHosts.size(), 3u) << "one agent-provider-host per plugin";
    for (const pid_t pid : providerHosts) {
        const std::string proc = "/proc/" + std::to_string(pid);
        const std::string environ = readText(proc + "/environ");
        const std::string cmdline = readText(proc + "/cmdline");
        ASSERT_FALSE(environ.empty()) << proc << "/environ is unreadable";
        for (const auto& name : environmentNames(environ)) {
            EXPECT_FALSE(name.rfind("AW_", 0) == 0 || secrets.count(name))
                << "agent-provider-host " << pid << " has " << name;
        }
        for (const auto& [name, value] : secrets) {
            EXPECT_EQ(environ.find(value), std::string::npos)
                << "the value of " << name << " is in " << proc << "/environ";
            EXPECT_EQ(cmdline.find(value), std::string::npos)
                << "the value of " << name << " is in " << proc << "/cmdline";
        }
    }

    // The CLI still gets its key from the host's environment and its setting.
    const std::string sid = "secrets-cli";
    const auto rid = host.sendMessage(sid, "claude-code", "create hello.txt");
    const Json run = host.waitRunFinished(rid, 60s);
    ASSERT_EQ(run.value("status", ""), "completed") << host.describeRun(rid);
    EXPECT_EQ(readText(host.workspace(sid) / "keys.txt"),
              kSecrets.at("ANTHROPIC_API_KEY") + "\n" + kSettingSecret + "\n");
}

TEST_F(HostSecrets, WhatTheHostKeepsIsItsUsersAloneWhateverItsUmask) {
    std::unique_ptr<AgentHost> host;
    {
        // The most permissive umask: every mode below must come from the programs.
        const ScopedUmask permissive(0);
        host = std::make_unique<AgentHost>(spec());
    }
    host->waitProviderHealthy("claude-code");
    const std::string sid = "secrets-files";
    const auto rid = host->sendMessage(sid, "claude-code", "create hello.txt");
    const Json run = host->waitRunFinished(rid, 60s);
    ASSERT_EQ(run.value("status", ""), "completed") << host->describeRun(rid);

    // The agent's 0644 file went to the object store, which keeps only its owner's bits.
    const fs::path data = host->dataDir();
    const fs::path object =
        data / "objects" / "agent-worker" / "sessions" / "default" / sid / "workspace" / "keys.txt";
    ASSERT_TRUE(eventually([&] { return fs::exists(object); })) << object << " was never synced";
    for (const fs::path& kept : {data / "agent.db", data / "agent.db-wal",
                                 data / "workers" / sid / "state" / "executor.log"}) {
        EXPECT_TRUE(fs::exists(kept)) << kept << " is missing: the walk below would not see it";
    }
    EXPECT_EQ(filesOthersCanReach(data), "") << "group or other can reach these (mode in octal)";
}

}  // namespace
}  // namespace aw::test
