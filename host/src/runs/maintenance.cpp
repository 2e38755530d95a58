#include "runs/maintenance.h"

#include <Poco/Logger.h>

#include "agent_worker/core/refusal.h"
#include "logging/json_formatter.h"

namespace aw {

void Maintenance::start() {
    if (interval_.count() <= 0) return;
    thread_ = std::thread([this] { loop(); });
}

void Maintenance::stop() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) thread_.join();
}

void Maintenance::loop() {
    std::unique_lock lock(mutex_);
    while (!wake_.wait_for(lock, interval_, [&] { return stopping_; })) {
        lock.unlock();
        pass();
        lock.lock();
    }
}

void Maintenance::pass() {
    auto& log = Poco::Logger::get("maintenance");
    try {
        if (!lock_.tryRun([&] { passes(log); })) {
            logFields(log, Poco::Message::PRIO_DEBUG,
                      "maintenance pass skipped: another host runs one", nlohmann::json::object());
        }
    } catch (const std::exception& e) {
        logFields(log, Poco::Message::PRIO_WARNING,
                  "maintenance pass skipped: the cluster lock is unavailable",
                  {{"error", e.what()}});
    }
}

void Maintenance::passes(Poco::Logger& log) {
    const std::pair<const char*, ReaperReport (LifecycleManager::*)()> passes[] = {
        {"idle-stop", &LifecycleManager::stopIdleWorkers},
        {"remove-stopped", &LifecycleManager::removeLongStoppedWorkers},
        {"recover-stuck", &LifecycleManager::recoverStuckWorkers},
    };
    for (const auto& [name, run] : passes) {
        try {
            const auto report = (lifecycle_.*run)();
            if (report.checked > 0) {
                logFields(log, report.failed > 0 ? Poco::Message::PRIO_WARNING : Poco::Message::PRIO_INFORMATION,
                          std::string("maintenance pass ") + name, report.toJson());
            }
        } catch (const std::exception& e) {
            logFields(log, Poco::Message::PRIO_WARNING, std::string("maintenance pass failed: ") + name,
                      {{"error", e.what()}});
        }
    }
}

ReaperReport Maintenance::stopIdleWorkers(std::chrono::milliseconds patience) {
    return runAlone(&LifecycleManager::stopIdleWorkers, patience);
}

ReaperReport Maintenance::removeLongStoppedWorkers(std::chrono::milliseconds patience) {
    return runAlone(&LifecycleManager::removeLongStoppedWorkers, patience);
}

ReaperReport Maintenance::runAlone(ReaperReport (LifecycleManager::*pass)(),
                                   std::chrono::milliseconds patience) {
    ReaperReport report;
    if (!lock_.run([&] { report = (lifecycle_.*pass)(); }, patience)) {
        throw Refused(
            RefusalKind::Unavailable,
            {"maintenance_busy", "another maintenance pass kept the cluster's maintenance lock",
             "retry shortly; passes on other replicas take turns with this one"});
    }
    return report;
}

}  // namespace aw
