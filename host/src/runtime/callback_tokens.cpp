#include "runtime/callback_tokens.h"

namespace aw {

void CallbackTokens::bind(const std::string& sessionId, const std::string& executorId,
                          const std::string& token) {
    const auto digest = tokenDigest(token);
    if (auto* registry = shared_.load()) registry->put(sessionId, executorId, digest, true);
    std::lock_guard lock(mutex_);
    bySession_[sessionId] = {executorId, digest};
}

void CallbackTokens::revoke(const std::string& sessionId) {
    if (auto* registry = shared_.load()) registry->erase(sessionId);
    std::lock_guard lock(mutex_);
    bySession_.erase(sessionId);
}

std::optional<CallbackCaller> CallbackTokens::identify(const std::string& token) const {
    if (token.empty()) return std::nullopt;
    const auto candidate = tokenDigest(token);
    if (auto* registry = shared_.load()) return registry->find(candidate);
    std::lock_guard lock(mutex_);
    // Every binding is compared in full: the time taken does not say which one matched.
    const std::pair<const std::string, Binding>* match = nullptr;
    for (const auto& entry : bySession_) {
        if (sameDigest(entry.second.digest, candidate)) match = &entry;
    }
    if (!match) return std::nullopt;
    return CallbackCaller{match->second.executorId, match->first, false};
}

void CallbackTokens::share(CallbackTokenRegistry& registry) {
    std::lock_guard lock(mutex_);
    // What this host's files hold may be older than what another host bound since.
    for (const auto& [sessionId, binding] : bySession_) {
        registry.put(sessionId, binding.executorId, binding.digest, false);
    }
    shared_.store(&registry);
}

}  // namespace aw
