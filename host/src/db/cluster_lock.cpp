#include "db/cluster_lock.h"

#include <thread>

namespace aw {
namespace {
constexpr auto kRetryEvery = std::chrono::milliseconds(100);
}

ClusterLock::ClusterLock(DatabaseUrl url, std::string name)
    : shared_(url.dialect == Dialect::Postgresql),
      name_(std::move(name)),
      session_(std::move(url)) {}

bool ClusterLock::tryLock() {
    return !shared_ || session_.tryLock(name_);  // one host: this process's mutex is the lock
}

void ClusterLock::unlock() {
    if (shared_) session_.unlock(name_);
}

bool ClusterLock::tryRun(const std::function<void()>& work) {
    std::unique_lock turn(mutex_, std::try_to_lock);
    if (!turn.owns_lock() || !tryLock()) return false;
    struct Release {
        ClusterLock& lock;
        ~Release() { lock.unlock(); }
    } release{*this};
    work();
    return true;
}

bool ClusterLock::run(const std::function<void()>& work, std::chrono::milliseconds patience) {
    const auto deadline = std::chrono::steady_clock::now() + patience;
    while (!tryRun(work)) {
        if (std::chrono::steady_clock::now() >= deadline) return false;
        std::this_thread::sleep_for(kRetryEvery);
    }
    return true;
}

}  // namespace aw
