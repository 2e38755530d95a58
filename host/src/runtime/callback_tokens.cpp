#include "runtime/callback_tokens.h"

namespace aw {

void CallbackTokens::bind(const std::string& sessionId, const std::string& executorId,
                          const std::string& token) {
    const auto digest = tokenDigest(token);
    std::lock_guard lock(mutex_);
    bySession_[sessionId] = {executorId, digest};
}

void CallbackTokens::revoke(const std::string& sessionId) {
    std::lock_guard lock(mutex_);
    bySession_.erase(sessionId);
}

std::optional<CallbackCaller> CallbackTokens::identify(const std::string& token) const {
    if (token.empty()) return std::nullopt;
    const auto candidate = tokenDigest(token);
    std::lock_guard lock(mutex_);
    // Every binding is compared in full: the time taken does not say which one matched.
    const std::pair<const std::string, Binding>* match = nullptr;
    for (const auto& entry : bySession_) {
        if (sameDigest(entry.second.digest, candidate)) match = &entry;
    }
    if (!match) return std::nullopt;
    return CallbackCaller{match->second.executorId, match->first, false};
}

}  // namespace aw
