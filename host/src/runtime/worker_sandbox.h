// The local runtime's sandbox. Each worker's executor, and the agent it runs, live under a
// uid of the worker's own (setpriv, from a configured range) inside bubblewrap namespaces:
// - a PID namespace: the host's and the other workers' processes are invisible;
// - a mount namespace: the file system read-only, with the host's data directory (database,
//   other workers, tokens, objects), its config file, users' homes, /tmp and /run absent;
//   the worker's own directory and its object prefix are the only writable places, and the
//   directories on the executor's PATH (agent CLIs installed under a home) are shown
//   read-only;
// - IPC and UTS namespaces of its own.
// The network is shared: executors call the host back on loopback and agents reach their
// model APIs (docs/security.md says what that leaves open).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace aw {

struct LocalSandboxOptions {
    //! Development only: workers run as the host's user, without namespaces.
    bool unsandboxed = false;
    uid_t firstUid = 1500000;  //!< workers' uids: [firstUid, firstUid + uidCount)
    std::uint32_t uidCount = 100000;
    //! More paths shown read-only (for example a file an agent CLI reads).
    std::vector<std::string> readOnlyPaths;
    //! Programs the runs start (the providers' configured CLI binaries): their directories
    //! are shown read-only, as PATH's are.
    std::vector<std::string> programs;
    //! Paths of the host's that sandboxes must not show (the host fills in its data
    //! directory, object store and config file).
    std::vector<std::filesystem::path> hiddenPaths;
};

//! What one worker's sandbox shows and runs.
struct SandboxView {
    uid_t uid = 0;
    std::filesystem::path workerDir;         //!< writable: workspace, home, tmp, state
    std::filesystem::path objectsPrefixDir;  //!< writable: the worker's objects
    std::filesystem::path executorBinary;    //!< read-only
    std::string path;                        //!< the executor's PATH, shown read-only
    std::filesystem::path passwdFile;        //!< shown as /etc/passwd (names the worker's uid)
    std::filesystem::path groupFile;         //!< shown as /etc/group
};

class WorkerSandbox {
public:
    explicit WorkerSandbox(LocalSandboxOptions options);

    bool enabled() const { return !options_.unsandboxed; }
    //! Why workers cannot be sandboxed on this machine (a sandbox is tried), or nullopt.
    std::optional<std::string> unavailableReason() const;
    //! `command` run inside the view.
    std::vector<std::string> wrap(const SandboxView& view,
                                  const std::vector<std::string>& command) const;
    //! True when `uid` is one the range gives to workers.
    bool isWorkerUid(uid_t uid) const;
    //! The lowest worker uid not in `taken`; nullopt when the range is used up.
    std::optional<uid_t> freeUid(const std::set<uid_t>& taken) const;
    //! /etc/passwd and /etc/group as the worker sees them: the machine's plus its own user
    //! (programs such as node's os.userInfo() fail for a uid without one).
    static void writeIdentityFiles(const SandboxView& view);

private:
    LocalSandboxOptions options_;
};

}  // namespace aw
