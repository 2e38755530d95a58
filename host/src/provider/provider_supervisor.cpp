#include "provider/provider_supervisor.h"

#include <sys/stat.h>

#include <Poco/Delegate.h>
#include <Poco/DirectoryWatcher.h>
#include <Poco/Logger.h>

#include <algorithm>
#include <deque>
#include <filesystem>

#include "agent_worker/core/backoff.h"
#include "agent_worker/core/capabilities.h"
#include "agent_worker/core/time_format.h"
#include "logging/json_formatter.h"
#include "provider/provider_errors.h"

namespace aw {
namespace {

Poco::Logger& logger() { return Poco::Logger::get("providers"); }

//! Only finished drops count: `name.so`, not hidden (`.name.so.tmp` while being copied).
bool isPluginFile(const std::filesystem::path& path) {
    const std::string name = path.filename().string();
    return path.extension() == ".so" && !name.empty() && name.front() != '.';
}

}  // namespace

nlohmann::json ProviderSnapshot::toJson() const {
    return {
        {"name", name ? nlohmann::json(*name) : nlohmann::json(nullptr)},
        {"version", version.empty() ? nlohmann::json(nullptr) : nlohmann::json(version)},
        {"abi", abi.empty() ? nlohmann::json(nullptr) : nlohmann::json(abi)},
        {"capabilities", capabilityNames(capabilities)},
        {"capability_bits", capabilities},
        {"facts", facts},
        {"status", toString(status)},
        {"pid", pid > 0 ? nlohmann::json(pid) : nlohmann::json(nullptr)},
        {"restarts", restarts},
        {"in_flight", inFlight},
        {"last_error", lastError.empty() ? nlohmann::json(nullptr) : nlohmann::json(lastError)},
        {"error_code", errorCode.empty() ? nlohmann::json(nullptr) : nlohmann::json(errorCode)},
        {"file", file},
        {"loaded_at", loadedAtMs > 0 ? nlohmann::json(isoUtcMillis(loadedAtMs)) : nlohmann::json(nullptr)},
    };
}

nlohmann::json RescanReport::toJson() const {
    return {{"added", added}, {"replaced", replaced}, {"removed", removed}};
}

struct ProviderSupervisor::Entry {
    std::string path;
    FileIdentity identity;
    std::uint64_t sequence = 0;  //!< discovery order: the earlier file keeps a shared name
    // Guarded by the supervisor's mutex:
    ProviderStatus status = ProviderStatus::Starting;
    ProviderInfo info;
    bool named = false;
    std::shared_ptr<ProviderProcess> process;  //!< set while healthy
    int restarts = 0;
    std::string lastError;
    std::string errorCode;    //!< provider_errors.h code of lastError
    std::string duplicateOf;  //!< provider name another file holds
    std::int64_t loadedAtMs = 0;
    //! Crashes within the crash window: their count decides the restart backoff.
    std::deque<std::chrono::steady_clock::time_point> crashes;
    bool retired = false;
    bool restartRequested = false;
};

//! Turns directory events into rescans (Poco delegates need a member function).
struct ProviderSupervisor::WatchListener {
    explicit WatchListener(ProviderSupervisor& supervisor) : supervisor(supervisor) {}
    void onChange(const void*, const Poco::DirectoryWatcher::DirectoryEvent&) {
        try {
            supervisor.rescan();
        } catch (const std::exception& e) {
            logFields(logger(), Poco::Message::PRIO_ERROR, "rescan failed", {{"error", e.what()}});
        }
    }
    ProviderSupervisor& supervisor;
};

ProviderSupervisor::ProviderSupervisor(ProviderSupervisorOptions options)
    : options_(std::move(options)) {}

ProviderSupervisor::~ProviderSupervisor() {
    watcher_.reset();
    std::vector<std::shared_ptr<ProviderProcess>> processes;
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
        for (auto& [path, entry] : byPath_) {
            if (entry->process) processes.push_back(std::move(entry->process));
        }
        wake_.notify_all();
    }
    // Wakes keepers waiting on their process, so shutdown does not wait out a heartbeat.
    for (auto& process : processes) process->fail("agent-host shutting down");
    for (auto& keeper : keepers_) keeper.join();
    processes.clear();  // reaps them, outside the lock
}

std::map<std::string, ProviderSupervisor::FileIdentity> ProviderSupervisor::scanDirectory(
    const std::string& dir) {
    std::map<std::string, FileIdentity> files;
    std::error_code error;
    for (const auto& item : std::filesystem::directory_iterator(dir, error)) {
        if (!isPluginFile(item.path())) continue;
        struct stat info {};
        if (::stat(item.path().c_str(), &info) != 0 || !S_ISREG(info.st_mode)) continue;
        files[item.path().string()] =
            FileIdentity{static_cast<std::uint64_t>(info.st_ino),
                         static_cast<std::int64_t>(info.st_mtim.tv_sec) * 1000000000 +
                             info.st_mtim.tv_nsec,
                         static_cast<std::int64_t>(info.st_size)};
    }
    return files;
}

void ProviderSupervisor::start() {
    std::error_code error;
    std::filesystem::create_directories(options_.pluginsDir, error);
    if (!std::filesystem::is_directory(options_.pluginsDir)) {
        logFields(logger(), Poco::Message::PRIO_WARNING, "plugins directory missing; no providers",
                  {{"plugins_dir", options_.pluginsDir}});
        return;
    }
    rescan();
    if (!options_.watchDirectory) return;
    try {
        watcher_ = std::make_unique<Poco::DirectoryWatcher>(
            options_.pluginsDir,
            Poco::DirectoryWatcher::DW_ITEM_ADDED | Poco::DirectoryWatcher::DW_ITEM_REMOVED |
                Poco::DirectoryWatcher::DW_ITEM_MODIFIED | Poco::DirectoryWatcher::DW_ITEM_MOVED_FROM |
                Poco::DirectoryWatcher::DW_ITEM_MOVED_TO,
            1);
        listener_ = std::make_unique<WatchListener>(*this);
        for (auto* source : {&watcher_->itemAdded, &watcher_->itemRemoved, &watcher_->itemModified,
                             &watcher_->itemMovedFrom, &watcher_->itemMovedTo}) {
            *source += Poco::delegate(listener_.get(), &WatchListener::onChange);
        }
    } catch (const std::exception& e) {
        logFields(logger(), Poco::Message::PRIO_WARNING,
                  "cannot watch the plugins directory; use POST /admin/providers/rescan",
                  {{"plugins_dir", options_.pluginsDir}, {"error", e.what()}});
    }
}

RescanReport ProviderSupervisor::rescan() {
    std::lock_guard rescanning(rescanMutex_);
    const auto files = scanDirectory(options_.pluginsDir);
    RescanReport report;
    std::vector<std::shared_ptr<Entry>> toStart;
    {
        std::lock_guard lock(mutex_);
        if (stopping_) return report;
        for (auto& [path, entry] : byPath_) {
            if (!files.count(path) && !entry->retired) {
                retire(entry, ProviderStatus::Removed);
                report.removed.push_back(path);
            }
        }
        for (const auto& [path, identity] : files) {
            auto it = byPath_.find(path);
            if (it != byPath_.end() && it->second->identity == identity && !it->second->retired) {
                continue;
            }
            const bool replacing = it != byPath_.end() && !it->second->retired;
            std::shared_ptr<Entry> previous = replacing ? it->second : nullptr;
            if (replacing) retire(previous, ProviderStatus::Removed);
            (replacing ? report.replaced : report.added).push_back(path);
            auto entry = addEntry(path, identity);
            if (previous && previous->named) {
                // Until the new file has answered, callers learn that this provider is
                // starting (503, retry) rather than that it does not exist.
                entry->info = previous->info;
                entry->named = true;
            }
            toStart.push_back(entry);
        }
        for (auto& entry : toStart) keepers_.emplace_back([this, entry] { keep(entry); });
    }
    if (!report.added.empty() || !report.replaced.empty() || !report.removed.empty()) {
        logFields(logger(), Poco::Message::PRIO_INFORMATION, "plugins directory changed",
                  report.toJson());
    }
    return report;
}

std::shared_ptr<ProviderSupervisor::Entry> ProviderSupervisor::addEntry(
    const std::string& path, const FileIdentity& identity) {
    auto entry = std::make_shared<Entry>();
    entry->path = path;
    entry->identity = identity;
    entry->sequence = ++nextSequence_;
    byPath_[path] = entry;
    return entry;
}

void ProviderSupervisor::retire(const std::shared_ptr<Entry>& entry, ProviderStatus finalStatus) {
    entry->retired = true;
    entry->status = finalStatus;
    entry->lastError = "plugin file removed or replaced";
    entry->errorCode = provider_error::kFileRemoved;
    if (entry->named) {
        const auto it = nameOwner_.find(entry->info.name);
        if (it != nameOwner_.end() && it->second == entry) {
            nameOwner_.erase(it);
            // A file that lost the name to this one may take it now.
            for (auto& [path, other] : byPath_) {
                if (other->duplicateOf == entry->info.name) other->restartRequested = true;
            }
        }
    }
    // Runs holding the process keep it alive until they finish; the keeper thread drops
    // the entry's own reference outside the lock.
    wake_.notify_all();
}

bool ProviderSupervisor::claimName(const std::shared_ptr<Entry>& entry, const std::string& name) {
    auto& owner = nameOwner_[name];
    if (!owner || owner == entry || owner->retired) {
        owner = entry;
        entry->duplicateOf.clear();
        return true;
    }
    if (owner->sequence < entry->sequence) {
        entry->duplicateOf = name;
        entry->lastError = "provider name '" + name + "' is already provided by " + owner->path;
        entry->errorCode = provider_error::kDuplicateName;
        return false;
    }
    // This file was there first but started later: it keeps the name.
    const auto previous = owner;
    previous->status = ProviderStatus::Failed;
    previous->duplicateOf = name;
    previous->lastError = "provider name '" + name + "' is already provided by " + entry->path;
    previous->errorCode = provider_error::kDuplicateName;
    if (previous->process) previous->process->fail(previous->lastError, provider_error::kDuplicateName);
    owner = entry;
    wake_.notify_all();
    return true;
}

void ProviderSupervisor::recordCrash(const std::shared_ptr<Entry>& entry, std::string_view code,
                                     const std::string& reason) {
    const auto now = std::chrono::steady_clock::now();
    while (!entry->crashes.empty() && now - entry->crashes.front() > options_.crashWindow) {
        entry->crashes.pop_front();
    }
    entry->crashes.push_back(now);
    entry->lastError = reason;
    // Degraded keeps the code of the crash that made it so: the status says "too often".
    entry->errorCode = code;
    if (static_cast<int>(entry->crashes.size()) >= options_.crashLimit) {
        entry->status = ProviderStatus::Degraded;
        entry->lastError = reason + " (" + std::to_string(entry->crashes.size()) +
                           " crashes within " + std::to_string(options_.crashWindow.count() / 1000) +
                           " s: degraded until POST /admin/providers/{name}/restart or a new file)";
    } else {
        entry->status = ProviderStatus::Restarting;
    }
    logFields(logger(), Poco::Message::PRIO_WARNING, "provider crashed",
              {{"file", entry->path},
               {"provider", entry->named ? entry->info.name : ""},
               {"status", toString(entry->status)},
               {"error_code", entry->errorCode},
               {"error", entry->lastError}});
}

void ProviderSupervisor::keep(std::shared_ptr<Entry> entry) {
    ProviderProcessOptions processOptions{options_.providerHostBinary, entry->path,
                                          options_.startTimeout, options_.killGrace,
                                          options_.maxResponseBytes};
    for (bool firstStart = true;; firstStart = false) {
        std::chrono::milliseconds pause{0};
        {
            std::unique_lock lock(mutex_);
            // Degraded and failed providers wait for an admin restart or their retirement.
            wake_.wait(lock, [&] {
                return stopping_ || entry->retired || entry->restartRequested ||
                       (entry->status != ProviderStatus::Degraded &&
                        entry->status != ProviderStatus::Failed);
            });
            if (stopping_ || entry->retired) return;
            if (entry->restartRequested) {
                entry->restartRequested = false;
                entry->crashes.clear();
            }
            if (!firstStart) ++entry->restarts;
            entry->status = firstStart ? ProviderStatus::Starting : ProviderStatus::Restarting;
        }
        std::shared_ptr<ProviderProcess> process;
        try {
            process = ProviderProcess::start(processOptions);
        } catch (const ProviderStartError& e) {
            std::unique_lock lock(mutex_);
            if (stopping_ || entry->retired) return;
            const std::string reason = e.problem().message +
                                       (e.problem().hint.empty() ? "" : " (" + e.problem().hint + ")");
            if (e.refused()) {
                entry->status = ProviderStatus::Failed;
                entry->lastError = reason;
                entry->errorCode = e.problem().code;
                logFields(logger(), Poco::Message::PRIO_ERROR, "provider refused",
                          {{"file", entry->path}, {"error_code", entry->errorCode}, {"error", reason}});
                continue;
            }
            recordCrash(entry, e.problem().code, reason);
            pause = restartPause(*entry);
            wake_.wait_for(lock, pause, [&] {
                return stopping_ || entry->retired || entry->restartRequested;
            });
            continue;
        }
        {
            std::lock_guard lock(mutex_);
            if (stopping_ || entry->retired) return;  // `process` terminates outside the lock
            entry->info = process->info();
            entry->named = true;
            if (!claimName(entry, entry->info.name)) {
                entry->status = ProviderStatus::Failed;
                logFields(logger(), Poco::Message::PRIO_ERROR, "duplicate provider name",
                          {{"file", entry->path}, {"error", entry->lastError}});
                continue;
            }
            entry->status = ProviderStatus::Healthy;
            entry->process = process;
            entry->loadedAtMs = unixMillisNow();
            entry->lastError.clear();
            entry->errorCode.clear();
        }
        logFields(logger(), Poco::Message::PRIO_INFORMATION, "provider healthy",
                  {{"file", entry->path},
                   {"provider", process->info().name},
                   {"version", process->info().version},
                   {"pid", process->pid()},
                   {"capabilities", capabilityNames(process->info().capabilities)}});
        supervise(entry, std::move(process));
    }
}

void ProviderSupervisor::supervise(const std::shared_ptr<Entry>& entry,
                                   std::shared_ptr<ProviderProcess> process) {
    for (;;) {
        const auto failure = process->waitForFailure(options_.heartbeatInterval);
        std::unique_lock lock(mutex_);
        const bool mine = entry->process == process;
        if (stopping_ || entry->retired || entry->restartRequested || !mine) {
            if (mine) entry->process.reset();
            lock.unlock();
            if (entry->restartRequested && !entry->retired && !stopping_) process->fail("restart requested");
            return;
        }
        if (failure) {
            entry->process.reset();
            recordCrash(entry, process->failureCode(), *failure);
            if (entry->status == ProviderStatus::Degraded) return;
            const auto pause = restartPause(*entry);
            wake_.wait_for(lock, pause, [&] {
                return stopping_ || entry->retired || entry->restartRequested;
            });
            return;
        }
        lock.unlock();
        // A request in flight has its own deadline; a ping would only queue behind it.
        if (process->inFlight() > 0) continue;
        try {
            process->call("ping", nlohmann::json::object(), options_.heartbeatTimeout);
        } catch (const ProviderCallError& e) {
            process->fail("missed heartbeat: " + e.problem().message, provider_error::kHung);
        }
    }
}

std::chrono::milliseconds restartDelay(int crashesInWindow, const Backoff& backoff,
                                       double unitRandom) {
    // A one-off crash costs only the restart itself: waiting would just lengthen the outage.
    // Only a provider that keeps crashing is slowed down, so it cannot spin.
    if (crashesInWindow <= 1) return std::chrono::milliseconds(0);
    return backoff.after(crashesInWindow - 1, unitRandom);
}

std::chrono::milliseconds ProviderSupervisor::restartPause(const Entry& entry) const {
    const Backoff backoff{options_.backoffInitial, options_.backoffMax, options_.backoffJitter};
    return restartDelay(static_cast<int>(entry.crashes.size()), backoff, unitRandom());
}

bool ProviderSupervisor::restart(const std::string& key) {
    std::lock_guard lock(mutex_);
    auto entry = findEntry(key);
    if (!entry || entry->retired) return false;
    entry->restartRequested = true;
    if (entry->status == ProviderStatus::Failed || entry->status == ProviderStatus::Degraded) {
        entry->status = ProviderStatus::Restarting;
    }
    wake_.notify_all();
    return true;
}

std::shared_ptr<ProviderSupervisor::Entry> ProviderSupervisor::findEntry(const std::string& key) const {
    if (auto it = nameOwner_.find(key); it != nameOwner_.end()) return it->second;
    for (const auto& [path, entry] : byPath_) {
        const auto file = std::filesystem::path(path).filename();
        if ((entry->named && entry->info.name == key) || file.string() == key ||
            file.stem().string() == key) {
            return entry;
        }
    }
    return nullptr;
}

ProviderSnapshot ProviderSupervisor::snapshotOf(const Entry& entry) const {
    ProviderSnapshot snapshot;
    snapshot.file = entry.path;
    if (entry.named) {
        snapshot.name = entry.info.name;
        snapshot.version = entry.info.version;
        snapshot.abi = std::to_string(entry.info.abiMajor) + "." + std::to_string(entry.info.abiMinor);
        snapshot.capabilities = entry.info.capabilities;
        snapshot.facts = entry.info.facts;
    }
    snapshot.status = entry.status;
    snapshot.pid = entry.process ? entry.process->pid() : 0;
    snapshot.inFlight = entry.process ? entry.process->inFlight() : 0;
    snapshot.restarts = entry.restarts;
    snapshot.lastError = entry.lastError;
    snapshot.errorCode = entry.errorCode;
    snapshot.loadedAtMs = entry.loadedAtMs;
    return snapshot;
}

std::vector<ProviderSnapshot> ProviderSupervisor::list() const {
    std::lock_guard lock(mutex_);
    std::vector<ProviderSnapshot> snapshots;
    for (const auto& [path, entry] : byPath_) snapshots.push_back(snapshotOf(*entry));
    return snapshots;
}

std::optional<ProviderSnapshot> ProviderSupervisor::find(const std::string& key) const {
    std::lock_guard lock(mutex_);
    auto entry = findEntry(key);
    if (!entry) return std::nullopt;
    return snapshotOf(*entry);
}

std::shared_ptr<ProviderProcess> ProviderSupervisor::acquire(const std::string& name) const {
    std::lock_guard lock(mutex_);
    auto entry = findEntry(name);
    if (!entry || !entry->named || entry->info.name != name ||
        entry->status == ProviderStatus::Removed) {
        throw ProviderUnavailableError({"unknown_provider",
                                        "no provider named '" + name + "'" +
                                            (entry && entry->status == ProviderStatus::Removed
                                                 ? " (its plugin file was removed)"
                                                 : ""),
                                        "GET /admin/providers lists the providers; drop a plugin "
                                        "into the plugins directory to add one"},
                                       false);
    }
    if (entry->status != ProviderStatus::Healthy || !entry->process) {
        throw ProviderUnavailableError(
            {"provider_unavailable",
             "provider '" + name + "' is " + toString(entry->status) +
                 (entry->lastError.empty() ? "" : ": " + entry->lastError),
             entry->status == ProviderStatus::Degraded || entry->status == ProviderStatus::Failed
                 ? provider_error::hintFor(entry->errorCode, name)
                 : "it is starting; retry shortly"},
            true);
    }
    return entry->process;
}

}  // namespace aw
