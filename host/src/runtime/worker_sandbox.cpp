#include "runtime/worker_sandbox.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <sstream>

#include "process/subprocess.h"

namespace aw {
namespace {

namespace fs = std::filesystem;

//! Places of the machine's that no worker sees: users' homes (credentials of other tools),
//! shared temporary directories and runtime sockets (the Docker socket among them).
const char* const kHiddenSystemPaths[] = {"/root", "/home", "/tmp", "/var/tmp", "/run", "/dev/shm"};

bool isUnder(const fs::path& path, const fs::path& base) {
    const auto [baseEnd, pathAt] =
        std::mismatch(base.begin(), base.end(), path.begin(), path.end());
    return baseEnd == base.end();
}

fs::path canonicalOr(const fs::path& path) {
    std::error_code error;
    const auto canonical = fs::weakly_canonical(path, error);
    return error ? path.lexically_normal() : canonical;
}

//! bubblewrap runs as root (the host's user), so that it reads every path it mounts; the
//! setpriv inside switches to the worker's uid with nothing left: no capabilities (bounding
//! and inheritable sets emptied), no supplementary groups, no new privileges.
std::vector<std::string> sandboxed(const std::vector<std::string>& mounts, uid_t uid,
                                   const std::vector<std::string>& command) {
    std::vector<std::string> argv{"bwrap",
                                  "--die-with-parent",
                                  "--unshare-pid",
                                  "--unshare-ipc",
                                  "--unshare-uts",
                                  "--unshare-cgroup-try",
                                  "--hostname",
                                  "aw-worker",
                                  "--ro-bind",
                                  "/",
                                  "/",
                                  "--dev",
                                  "/dev",
                                  "--proc",
                                  "/proc"};
    argv.insert(argv.end(), mounts.begin(), mounts.end());
    const std::string id = std::to_string(uid);
    for (const char* cap : {"CAP_SETUID", "CAP_SETGID", "CAP_SETPCAP"}) {
        argv.push_back("--cap-add");
        argv.push_back(cap);
    }
    for (const std::string& part :
         {std::string("--"), std::string("setpriv"), "--reuid=" + id, "--regid=" + id,
          std::string("--clear-groups"), std::string("--inh-caps=-all"),
          std::string("--bounding-set=-all"), std::string("--no-new-privs"), std::string("--")}) {
        argv.push_back(part);
    }
    argv.insert(argv.end(), command.begin(), command.end());
    return argv;
}

//! The directory to show for a PATH entry: npm's `node_modules/.bin` links into the packages
//! beside it, so the whole `node_modules` goes.
fs::path shownForPathEntry(const fs::path& entry) {
    if (entry.filename() == ".bin" && entry.parent_path().filename() == "node_modules") {
        return entry.parent_path();
    }
    return entry;
}

std::string slurp(int fd) {
    std::string out;
    char buffer[4096];
    for (ssize_t got; (got = ::read(fd, buffer, sizeof buffer)) > 0;)
        out.append(buffer, static_cast<std::size_t>(got));
    return out;
}

}  // namespace

WorkerSandbox::WorkerSandbox(LocalSandboxOptions options) : options_(std::move(options)) {
    for (auto& hidden : options_.hiddenPaths) hidden = canonicalOr(fs::absolute(hidden));
}

std::optional<std::string> WorkerSandbox::unavailableReason() const {
    if (::geteuid() != 0) {
        return "agent-host runs as uid " + std::to_string(::geteuid()) +
               ", not root: it cannot give each worker a uid of its own";
    }
    if (options_.uidCount == 0)
        return "runtime.local.uid_count is 0: there is no uid to give a worker";
    SubprocessOptions probe;
    probe.argv = sandboxed({}, options_.firstUid, {"true"});
    probe.pipeStdout = false;
    probe.pipeStderr = true;
    try {
        Subprocess process(probe);
        const std::string errors = slurp(process.stderrFd());
        const auto status = process.waitFor(std::chrono::seconds(10));
        if (!status) return "a test sandbox (bubblewrap) did not finish within 10 s";
        if (status->code != 0) {
            return "a test sandbox failed (" + status->describe() +
                   "): " + (errors.empty() ? std::string("no message") : errors.substr(0, 500));
        }
    } catch (const std::system_error& e) {
        return std::string("bubblewrap or setpriv cannot be started (") + e.what() +
               "); install the bubblewrap package";
    }
    return std::nullopt;
}

std::vector<std::string> WorkerSandbox::wrap(const SandboxView& view,
                                             const std::vector<std::string>& command) const {
    if (!enabled()) return command;
    std::vector<std::string> hiddenDirs, hiddenFiles;
    auto hide = [&](const fs::path& path) {
        std::error_code error;
        const auto status = fs::status(path, error);
        if (error) return;
        if (fs::is_directory(status))
            hiddenDirs.push_back(path.string());
        else if (fs::is_regular_file(status))
            hiddenFiles.push_back(path.string());
    };
    for (const char* path : kHiddenSystemPaths) hide(path);
    for (const auto& path : options_.hiddenPaths) hide(path);
    // A file inside an emptied directory is absent already; /dev/null bound over it would
    // make its name appear there (the database's files in the data directory).
    std::erase_if(hiddenFiles, [&](const std::string& file) {
        return std::any_of(hiddenDirs.begin(), hiddenDirs.end(),
                           [&](const std::string& dir) { return isUnder(file, dir); });
    });

    // What is shown over the hidden places: programs (the executor, its PATH, never a
    // directory of the host's own data; extras), the worker's identity, and last its own
    // writable places, which nothing may cover.
    std::vector<std::pair<std::string, std::string>> shown;  // (bwrap option, path)
    std::vector<std::pair<std::string, std::string>> links;  // (target, link)
    shown.emplace_back("--ro-bind", view.executorBinary.string());
    std::vector<fs::path> programDirs;
    std::istringstream path(view.path);
    for (std::string entry; std::getline(path, entry, ':');) programDirs.emplace_back(entry);
    for (const auto& program : options_.programs)
        programDirs.push_back(fs::path(program).parent_path());
    for (const auto& directory : programDirs) {
        if (!directory.is_absolute() || !fs::is_directory(directory)) continue;
        const auto canonical = canonicalOr(directory);
        bool isHostData = false, isHidden = false;
        for (const auto& hidden : options_.hiddenPaths)
            isHostData = isHostData || isUnder(canonical, hidden);
        for (const char* hidden : kHiddenSystemPaths)
            isHidden = isHidden || isUnder(canonical, hidden);
        // Shown where it really is (bubblewrap cannot mount through a link), linked from
        // where PATH says when that differs.
        if (isHidden && !isHostData)
            shown.emplace_back("--ro-bind", shownForPathEntry(canonical).string());
        if (isHidden && !isHostData && canonical != directory.lexically_normal()) {
            links.emplace_back(canonical.string(), directory.lexically_normal().string());
        }
    }
    for (const auto& extra : options_.readOnlyPaths) shown.emplace_back("--ro-bind-try", extra);
    shown.emplace_back("--bind", view.workerDir.string());
    shown.emplace_back("--bind", view.objectsPrefixDir.string());

    std::vector<std::string> mounts;
    auto add = [&](std::initializer_list<std::string> items) {
        mounts.insert(mounts.end(), items);
    };
    // Inside an emptied place bubblewrap would make the directories leading to a mount with
    // their real modes (0700 for a home or a test's temporary directory), which the worker's
    // uid cannot pass: they are made first, traversable but not listable. Outer places are
    // emptied before inner ones, so nothing made is covered again.
    // Components counted on one path object: begin() and end() of two temporaries are no
    // range (undefined behaviour; it threw from the sort now and then).
    const auto depth = [](const std::string& place) {
        const fs::path path(place);
        return std::distance(path.begin(), path.end());
    };
    std::sort(hiddenDirs.begin(), hiddenDirs.end(),
              [&](const std::string& a, const std::string& b) { return depth(a) < depth(b); });
    std::set<std::string> made;
    auto makeLeadingDirs = [&](const fs::path& target) {
        std::vector<fs::path> ancestors;
        for (fs::path at = target.parent_path(); at.has_relative_path(); at = at.parent_path()) {
            ancestors.push_back(at);
        }
        for (auto it = ancestors.rbegin(); it != ancestors.rend(); ++it) {
            bool insideHidden = false;
            for (const auto& dir : hiddenDirs)
                insideHidden = insideHidden || (isUnder(*it, dir) && *it != dir);
            if (insideHidden && made.insert(it->string()).second)
                add({"--perms", "0711", "--dir", it->string()});
        }
    };
    for (const auto& dir : hiddenDirs) {
        makeLeadingDirs(dir);
        add({"--tmpfs", dir});
    }
    for (const auto& [option, target] : shown) makeLeadingDirs(target);
    for (const auto& file : hiddenFiles) add({"--ro-bind", "/dev/null", file});
    add({"--ro-bind", view.passwdFile.string(), "/etc/passwd", "--ro-bind", view.groupFile.string(),
         "/etc/group"});
    for (const auto& [option, target] : shown) add({option, target, target});
    for (const auto& [target, link] : links) {
        makeLeadingDirs(link);
        add({"--symlink", target, link});
    }
    add({"--chdir", (view.workerDir / "workspace").string()});
    return sandboxed(mounts, view.uid, command);
}

bool WorkerSandbox::isWorkerUid(uid_t uid) const {
    return uid >= options_.firstUid && uid - options_.firstUid < options_.uidCount;
}

std::optional<uid_t> WorkerSandbox::freeUid(const std::set<uid_t>& taken) const {
    for (std::uint32_t i = 0; i < options_.uidCount; ++i) {
        const uid_t candidate = options_.firstUid + i;
        if (!taken.count(candidate)) return candidate;
    }
    return std::nullopt;
}

void WorkerSandbox::writeIdentityFiles(const SandboxView& view) {
    const uid_t uid = view.uid;
    auto withLine = [uid](const char* source, const fs::path& target, const std::string& line) {
        std::ifstream in(source);
        std::stringstream content;
        content << in.rdbuf();
        std::string text = content.str();
        if (!text.empty() && text.back() != '\n') text += '\n';
        const auto temporary = target.string() + ".new";
        {
            std::ofstream out(temporary, std::ios::trunc);
            out << text << line << '\n';
            if (!out) throw std::runtime_error("cannot write " + temporary);
        }
        // The worker's own to read (the host's data stays owner-only); mounted read-only.
        fs::permissions(temporary, fs::perms::owner_read);
        if (::chown(temporary.c_str(), uid, uid) != 0)
            throw std::runtime_error("cannot chown " + temporary);
        fs::rename(temporary, target);
    };
    const std::string id = std::to_string(view.uid);
    withLine("/etc/passwd", view.passwdFile,
             "aw-worker:x:" + id + ":" + id +
                 ":agent worker:" + (view.workerDir / "home").string() + ":/bin/sh");
    withLine("/etc/group", view.groupFile, "aw-worker:x:" + id + ":");
}

}  // namespace aw
