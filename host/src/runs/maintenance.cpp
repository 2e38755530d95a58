#include "runs/maintenance.h"

#include <Poco/Logger.h>

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

}  // namespace aw
