#include "runtime/executor_bootstraps.h"

#include <Poco/SHA2Engine.h>

#include <algorithm>

#include "agent_worker/core/random_id.h"

namespace aw {
namespace {

std::array<unsigned char, 32> digestOf(const std::string& token) {
    Poco::SHA2Engine engine(Poco::SHA2Engine::SHA_256);
    engine.update(token);
    const auto& bytes = engine.digest();
    std::array<unsigned char, 32> out{};
    std::copy_n(bytes.begin(), out.size(), out.begin());
    return out;
}

}  // namespace

std::string ExecutorBootstraps::issue(const std::string& sessionId) {
    const std::string token = newToken();
    const auto digest = digestOf(token);
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
    const auto candidate = digestOf(token);
    std::lock_guard lock(mutex_);
    // Every pending digest is compared in full: the time taken does not say which matched.
    auto match = pending_.end();
    for (auto entry = pending_.begin(); entry != pending_.end(); ++entry) {
        unsigned char difference = 0;
        for (std::size_t i = 0; i < candidate.size(); ++i)
            difference |= entry->second[i] ^ candidate[i];
        if (difference == 0) match = entry;
    }
    if (match == pending_.end()) return std::nullopt;
    std::string sessionId = match->first;
    pending_.erase(match);  // single use
    return sessionId;
}

}  // namespace aw
