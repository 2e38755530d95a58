// Runs one agent-provider-host per plugin file in the plugins directory and keeps each
// alive on its own: start timeout, heartbeat, restart (at once after a crash, with
// exponential backoff after repeated ones), `degraded` after too many crashes, hot drop
// (new, replaced and deleted files) without a restart. One provider's trouble never blocks
// another: each file has its own keeper thread and nothing waits on a provider while
// holding the supervisor's lock.
#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "agent_worker/core/backoff.h"
#include "agent_worker/core/provider_registry.h"
#include "provider/provider_process.h"
#include "provider/provider_supervisor_options.h"

namespace Poco {
class DirectoryWatcher;
}

namespace aw {

//! One row of GET /admin/providers.
struct ProviderSnapshot {
    std::string file;
    std::optional<std::string> name;  //!< known once a handshake has named it
    std::string version;
    std::string abi;
    std::uint64_t capabilities = 0;
    nlohmann::json facts = nlohmann::json::object();
    ProviderStatus status = ProviderStatus::Starting;
    pid_t pid = 0;
    int restarts = 0;
    std::size_t inFlight = 0;  //!< requests sent to the current process, not yet answered
    std::string lastError;
    //! Why it is not serving, for machines (provider_errors.h: `abi_mismatch`, `crashed`...);
    //! empty exactly when lastError is.
    std::string errorCode;
    std::int64_t loadedAtMs = 0;

    nlohmann::json toJson() const;
};

struct RescanReport {
    std::vector<std::string> added, replaced, removed;
    nlohmann::json toJson() const;
};

//! The provider is unknown, or known but not able to serve right now.
class ProviderUnavailableError : public ProblemError {
public:
    ProviderUnavailableError(Problem problem, bool known)
        : ProblemError(std::move(problem)), known_(known) {}
    bool known() const noexcept { return known_; }

private:
    bool known_;
};

//! The wait before restarting a provider that has crashed `crashesInWindow` times within
//! the crash window, this crash included: none for the first, then backoff.after(n - 1),
//! i.e. initial, twice that... up to the cap (`unitRandom` as in Backoff::after).
std::chrono::milliseconds restartDelay(int crashesInWindow, const Backoff& backoff,
                                       double unitRandom);

class ProviderSupervisor {
public:
    explicit ProviderSupervisor(ProviderSupervisorOptions options);
    ~ProviderSupervisor();

    //! First scan of the plugins directory, and the directory watch.
    void start();
    //! Picks up new, replaced and deleted files.
    RescanReport rescan();
    //! Clears a `degraded` or `failed` provider's history and starts it again. `key` is a
    //! provider name or a plugin file name (with or without .so). False when unknown.
    bool restart(const std::string& key);

    std::vector<ProviderSnapshot> list() const;
    std::optional<ProviderSnapshot> find(const std::string& key) const;

    //! The healthy process serving `name`. Runs keep the pointer for their lifetime, so a
    //! replaced plugin's old process finishes its in-flight work before it goes away.
    std::shared_ptr<ProviderProcess> acquire(const std::string& name) const;

    const ProviderSupervisorOptions& options() const { return options_; }

private:
    struct Entry;
    struct FileIdentity {
        std::uint64_t inode = 0;
        std::int64_t mtimeNs = 0;
        std::int64_t size = 0;
        bool operator==(const FileIdentity&) const = default;
    };
    static std::map<std::string, FileIdentity> scanDirectory(const std::string& dir);

    std::shared_ptr<Entry> addEntry(const std::string& path, const FileIdentity& identity);
    void retire(const std::shared_ptr<Entry>& entry, ProviderStatus finalStatus);
    void keep(std::shared_ptr<Entry> entry);
    //! Runs one started process until it fails or the entry is retired/restarted.
    void supervise(const std::shared_ptr<Entry>& entry, std::shared_ptr<ProviderProcess> process);
    bool claimName(const std::shared_ptr<Entry>& entry, const std::string& name);
    void recordCrash(const std::shared_ptr<Entry>& entry, std::string_view code, const std::string& reason);
    ProviderSnapshot snapshotOf(const Entry& entry) const;
    //! How long to wait before restarting `entry` after its latest crash.
    std::chrono::milliseconds restartPause(const Entry& entry) const;
    std::shared_ptr<Entry> findEntry(const std::string& key) const;

    ProviderSupervisorOptions options_;
    mutable std::mutex mutex_;
    std::condition_variable wake_;
    bool stopping_ = false;
    std::uint64_t nextSequence_ = 0;
    std::map<std::string, std::shared_ptr<Entry>> byPath_;     //!< current file -> entry
    std::map<std::string, std::shared_ptr<Entry>> nameOwner_;  //!< provider name -> entry
    std::vector<std::thread> keepers_;
    struct WatchListener;
    std::unique_ptr<WatchListener> listener_;
    std::unique_ptr<Poco::DirectoryWatcher> watcher_;
    std::mutex rescanMutex_;  //!< one rescan at a time (watch events and the admin route)
};

}  // namespace aw
