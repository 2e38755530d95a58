#include "support/postgres_cluster.h"

#include <pwd.h>
#include <unistd.h>

#include <filesystem>
#include <stdexcept>

#include "process/subprocess.h"

namespace aw::test {
namespace {

//! Where the server tools live: Debian's versioned directory (newest) has them all;
//! PATH is the fallback for other layouts.
std::string findPostgresBinDir() {
    auto complete = [](const std::filesystem::path& dir) {
        return std::filesystem::exists(dir / "initdb") && std::filesystem::exists(dir / "pg_ctl") &&
               std::filesystem::exists(dir / "createdb");
    };
    std::string best;
    std::error_code ignored;
    for (const auto& entry : std::filesystem::directory_iterator("/usr/lib/postgresql", ignored)) {
        if (complete(entry.path() / "bin") && (entry.path() / "bin").string() > best) {
            best = (entry.path() / "bin").string();
        }
    }
    if (!best.empty()) return best;
    const char* path = std::getenv("PATH");
    std::string dirs = path ? path : "";
    for (std::size_t start = 0; start <= dirs.size();) {
        auto colon = dirs.find(':', start);
        if (colon == std::string::npos) colon = dirs.size();
        const std::string dir = dirs.substr(start, colon - start);
        if (!dir.empty() && complete(dir)) return dir;
        start = colon + 1;
    }
    return {};
}

bool runningAsRoot() { return ::geteuid() == 0; }

}  // namespace

std::string PostgresCluster::unavailableReason() {
    if (findPostgresBinDir().empty()) return "initdb/pg_ctl not found (install postgresql)";
    if (runningAsRoot() && !::getpwnam("postgres")) {
        return "running as root and there is no 'postgres' user to run the cluster as";
    }
    return {};
}

PostgresCluster::PostgresCluster() : binDir_(findPostgresBinDir()) {
    if (const auto reason = unavailableReason(); !reason.empty()) throw std::runtime_error(reason);
    if (runningAsRoot()) {
        const passwd* user = ::getpwnam("postgres");
        if (::chown(dir_.path().c_str(), user->pw_uid, user->pw_gid) != 0) {
            throw std::runtime_error("cannot hand " + dir_.path().string() + " to postgres");
        }
    }
    run({binDir_ + "/initdb", "-D", (dir_ / "data").string(), "-U", "aw", "--auth=trust",
         "-E", "UTF8", "--no-sync", "--locale=C"});
    start();
}

PostgresCluster::~PostgresCluster() {
    if (!running_) return;
    try {
        run({binDir_ + "/pg_ctl", "-D", (dir_ / "data").string(), "-m", "immediate", "-w", "stop"});
    } catch (const std::exception&) {
        // Best effort; the directory goes away regardless.
    }
}

void PostgresCluster::run(const std::vector<std::string>& argv) const {
    std::vector<std::string> command;
    if (runningAsRoot()) command = {"runuser", "-u", "postgres", "--"};
    command.insert(command.end(), argv.begin(), argv.end());
    SubprocessOptions options;
    options.argv = command;
    options.pipeStdout = false;
    options.stdoutFile = (dir_ / "tools.log").string();
    options.stderrFile = (dir_ / "tools.log").string();
    options.workingDir = dir_.path().string();
    Subprocess process(options);
    const auto status = process.waitFor(std::chrono::seconds(60));
    if (!status || !status->exitedNormally() || status->code != 0) {
        throw std::runtime_error(argv[0] + " failed (" + (status ? status->describe() : "timeout") +
                                 "): " + readText(dir_ / "tools.log") + readText(dir_ / "server.log"));
    }
}

void PostgresCluster::start() {
    run({binDir_ + "/pg_ctl", "-D", (dir_ / "data").string(), "-l", (dir_ / "server.log").string(),
         "-o", "-c listen_addresses='' -k " + dir_.path().string() + " -c fsync=off", "-w", "start"});
    running_ = true;
}

void PostgresCluster::stop() {
    run({binDir_ + "/pg_ctl", "-D", (dir_ / "data").string(), "-m", "fast", "-w", "stop"});
    running_ = false;
}

std::string PostgresCluster::url(const std::string& database) {
    return "postgresql:///" + database + "?host=" + dir_.path().string() + "&user=aw";
}

void PostgresCluster::createDatabase(const std::string& name) {
    run({binDir_ + "/createdb", "-h", dir_.path().string(), "-U", "aw", name});
}

}  // namespace aw::test
