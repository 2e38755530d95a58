#include "support/docker_daemon.h"

#include <sys/mount.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <vector>

#include "runtime/docker_engine.h"
#include "support/fake_cli.h"

namespace aw::test {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

//! `program` found on PATH and in the sbin directories (dockerd is in /usr/sbin).
std::string findProgram(const std::string& program) {
    const char* path = std::getenv("PATH");
    std::string dirs = std::string(path ? path : "") + ":/usr/sbin:/usr/bin:/sbin:/bin";
    for (std::size_t start = 0; start <= dirs.size();) {
        auto colon = dirs.find(':', start);
        if (colon == std::string::npos) colon = dirs.size();
        const fs::path candidate = fs::path(dirs.substr(start, colon - start)) / program;
        if (!candidate.parent_path().empty() && ::access(candidate.c_str(), X_OK) == 0)
            return candidate.string();
        start = colon + 1;
    }
    return {};
}

//! Runs `argv` to its end and returns what it printed; throws when it fails.
std::string output(const std::vector<std::string>& argv, const fs::path& log) {
    SubprocessOptions options;
    options.argv = argv;
    options.stderrFile = log.string();
    Subprocess process(options);
    std::string out;
    while (auto line = process.readLine(60s)) out += *line + "\n";
    const auto status = process.waitFor(60s);
    if (!status || !status->exitedNormally() || status->code != 0) {
        throw std::runtime_error(argv[0] + " failed (" + (status ? status->describe() : "timeout") +
                                 "): " + readText(log));
    }
    return out;
}

//! The shared libraries `ldd` lists for `binary` (absolute paths, the loader included).
std::set<std::string> sharedLibraries(const std::string& binary, const fs::path& log) {
    std::set<std::string> libraries;
    const std::regex path(R"((/[^ ()]+))");
    std::istringstream lines(output({"ldd", binary}, log));
    for (std::string line; std::getline(lines, line);) {
        std::smatch match;
        if (std::regex_search(line, match, path)) libraries.insert(match[1]);
    }
    return libraries;
}

//! `source` copied to `root` + `target` (links followed: the image holds the files).
void copyInto(const fs::path& root, const std::string& source, const std::string& target) {
    const auto destination = root / fs::path(target).relative_path();
    fs::create_directories(destination.parent_path());
    fs::copy_file(fs::canonical(source), destination, fs::copy_options::overwrite_existing);
    fs::permissions(destination, fs::status(fs::canonical(source)).permissions());
}

}  // namespace

std::string DockerDaemon::unavailableReason() {
    if (findProgram("dockerd").empty())
        return "dockerd is not installed (apt-get install docker.io; scripts/install-deps.sh)";
    if (findProgram("containerd").empty())
        return "containerd is not installed (apt-get install docker.io)";
    if (::geteuid() != 0) return "dockerd must run as root; run the docker tests as root";
    return {};
}

DockerDaemon::DockerDaemon() : socketPath_((dir_ / "d.sock").string()) {
    if (const auto reason = unavailableReason(); !reason.empty())
        throw std::runtime_error("cannot start a Docker engine for the tests: " + reason);
    SubprocessOptions options;
    options.argv = {findProgram("dockerd"),
                    "--bridge=none",
                    "--iptables=false",
                    "--ip-masq=false",
                    "--data-root",
                    (dir_ / "data").string(),
                    "--exec-root",
                    (dir_ / "x").string(),
                    "--pidfile",
                    (dir_ / "d.pid").string(),
                    "--shutdown-timeout",
                    "2",
                    "-H",
                    "unix://" + socketPath_};
    options.pipeStdout = false;
    options.stdoutFile = (dir_ / "dockerd.log").string();
    options.stderrFile = (dir_ / "dockerd.log").string();
    // The engine under test is this one, not one DOCKER_HOST names.
    options.unsetEnv = {"DOCKER_HOST"};
    process_ = std::make_unique<Subprocess>(options);
    DockerEngine engine(socketPath_, 2s);
    const auto deadline = std::chrono::steady_clock::now() + 60s;
    while (true) {
        try {
            engine.ping();
            return;
        } catch (const std::exception&) {
            // Not up yet.
        }
        if (const auto status = process_->poll()) {
            throw std::runtime_error("dockerd exited at start (" + status->describe() +
                                     "): " + logTail());
        }
        if (std::chrono::steady_clock::now() > deadline) {
            process_->terminate(5s);
            throw std::runtime_error("dockerd did not answer /_ping within 60 s: " + logTail());
        }
        std::this_thread::sleep_for(50ms);
    }
}

DockerDaemon::~DockerDaemon() {
    if (!process_) return;
    // dockerd stops its containers (--shutdown-timeout) and its containerd before it exits.
    process_->signal(SIGTERM);
    if (!process_->waitFor(30s)) process_->terminate(1s);
    // dockerd leaves its network namespace mounted (<exec root>/netns/default), and a killed
    // one its overlays: unmounted, deepest first, so that the directory can go.
    std::vector<std::string> mounts;
    std::ifstream table("/proc/self/mounts");
    for (std::string device, point, rest; table >> device >> point && std::getline(table, rest);) {
        if (point.rfind(dir_.path().string() + "/", 0) == 0) mounts.push_back(point);
    }
    std::sort(mounts.rbegin(), mounts.rend());
    for (const auto& point : mounts) ::umount2(point.c_str(), MNT_DETACH);
}

std::string DockerDaemon::logTail() const {
    const std::string log = readText(dir_ / "dockerd.log");
    return log.size() > 2000 ? log.substr(log.size() - 2000) : log;
}

TestWorkerImage importTestWorkerImage(const std::string& socketPath, const std::string& name) {
    TempDir stage("awi");
    const fs::path root = stage / "root";
    const std::string executor = std::string(AW_BUILD_DIR) + "/bin/agent-executor";
    const std::vector<std::string> tools{"/bin/sh",    "/bin/cat",      "/bin/ls",
                                         "/bin/sleep", "/usr/bin/head", "/usr/bin/tail"};
    std::set<std::string> files(tools.begin(), tools.end());
    files.insert(executor);
    std::set<std::string> libraries;
    for (const auto& file : files) {
        const auto needed = sharedLibraries(file, stage / "ldd.log");
        libraries.insert(needed.begin(), needed.end());
    }
    copyInto(root, executor, "/usr/local/bin/agent-executor");
    for (const auto& file : tools) copyInto(root, file, file);
    for (const auto& library : libraries) copyInto(root, library, library);
    for (const char* dir : {"tmp", "etc", "proc", "sys", "dev"}) fs::create_directories(root / dir);
    fs::permissions(root / "tmp", fs::perms::all | fs::perms::sticky_bit);
    // The agent's workspace and home, as the real image has them: a Swarm task's volumes
    // mounted there start as copies of them, the agent's (bind mounts hide them).
    for (const char* dir : {"workspace", "home/agent"}) {
        fs::create_directories(root / dir);
        if (::chown((root / dir).c_str(), 10001, 10001) != 0)
            throw std::runtime_error(std::string("cannot give /") + dir + " to uid 10001");
    }
    std::ofstream(root / "etc" / "passwd") << "root:x:0:0:root:/root:/bin/sh\n"
                                              "agent:x:10001:10001:agent:/home/agent:/bin/sh\n";
    std::ofstream(root / "etc" / "group") << "root:x:0:\nagent:x:10001:\n";
    // A fake Claude Code: notes each run in the workspace (run-log.txt, so tests see what a
    // restore brought back) and prints a recorded turn (fixtures/providers/claude-basic.jsonl).
    // With `hold-output` in the workspace it prints the turn's first three lines, then waits
    // until the test puts `release` there, so a test can act in the middle of a run.
    copyInto(root, fixturePath("claude-basic.jsonl").string(), "/opt/aw-test/claude-basic.jsonl");
    writeScript(root / "usr/local/bin/claude",
                "echo run >> run-log.txt\n"
                "turn=/opt/aw-test/claude-basic.jsonl\n"
                "if [ -f hold-output ]; then\n"
                "  head -n 3 \"$turn\"\n"
                "  while [ ! -f release ]; do sleep 0.1; done\n"
                "  exec tail -n +4 \"$turn\"\n"
                "fi\n"
                "exec cat \"$turn\"\n");
    output({"tar", "-C", root.string(), "-cf", (stage / "rootfs.tar").string(), "."},
           stage / "tar.log");
    const auto colon = name.rfind(':');
    DockerEngine(socketPath, 120s)
        .importImage(readText(stage / "rootfs.tar"), name.substr(0, colon), name.substr(colon + 1));
    return {name, "10001:10001"};
}

std::unique_ptr<DockerDaemon> DockerDaemonEnvironment::daemon_;
TestWorkerImage DockerDaemonEnvironment::image_;
std::string DockerDaemonEnvironment::failure_;

void DockerDaemonEnvironment::SetUp() {
    try {
        daemon_ = std::make_unique<DockerDaemon>();
        image_ = importTestWorkerImage(daemon_->socketPath(), "aw-test/worker:1");
    } catch (const std::exception& e) {
        failure_ = e.what();
    }
}

void DockerDaemonEnvironment::TearDown() {
    daemon_.reset();
}

DockerDaemon& DockerDaemonEnvironment::daemon() {
    if (!daemon_ || !failure_.empty()) {
        throw std::runtime_error("no Docker engine for this test: " +
                                 (failure_.empty() ? std::string("not started") : failure_));
    }
    return *daemon_;
}

const TestWorkerImage& DockerDaemonEnvironment::image() {
    daemon();
    return image_;
}

}  // namespace aw::test
