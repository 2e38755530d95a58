#include "runtime/executor_bootstraps.h"

#include "agent_worker/core/random_id.h"

namespace aw {

std::string ExecutorBootstraps::issue(const std::string& sessionId) {
    const std::string token = newToken();
    const auto digest = tokenDigest(token);
    std::lock_guard lock(mutex_);
    pending_[sessionId] = digest;
    return token;
}

void ExecutorBootstraps::revoke(const std::string& sessionId) {
    std::lock_guard lock(mutex_);
    pending_.erase(sessionId);
}

std::optional<std::string> ExecutorBootstraps::redeem(const std::string& token) {
    if (token.empty()) return std::nullopt;
    const auto candidate = tokenDigest(token);
    std::lock_guard lock(mutex_);
    // Every pending digest is compared in full: the time taken does not say which matched.
    auto match = pending_.end();
    for (auto entry = pending_.begin(); entry != pending_.end(); ++entry) {
        if (sameDigest(entry->second, candidate)) match = entry;
    }
    if (match == pending_.end()) return std::nullopt;
    std::string sessionId = match->first;
    pending_.erase(match);  // single use
    return sessionId;
}

}  // namespace aw
