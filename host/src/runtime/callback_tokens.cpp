#include "runtime/callback_tokens.h"

#include <Poco/SHA2Engine.h>

#include <algorithm>

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

void CallbackTokens::bind(const std::string& sessionId, const std::string& executorId,
                          const std::string& token) {
    const auto digest = digestOf(token);
    std::lock_guard lock(mutex_);
    bySession_[sessionId] = {executorId, digest};
}

void CallbackTokens::revoke(const std::string& sessionId) {
    std::lock_guard lock(mutex_);
    bySession_.erase(sessionId);
}

std::optional<CallbackCaller> CallbackTokens::identify(const std::string& token) const {
    if (token.empty()) return std::nullopt;
    const auto candidate = digestOf(token);
    std::lock_guard lock(mutex_);
    // Every binding is compared in full: the time taken does not say which one matched.
    const std::pair<const std::string, Binding>* match = nullptr;
    for (const auto& entry : bySession_) {
        unsigned char difference = 0;
        for (std::size_t i = 0; i < candidate.size(); ++i)
            difference |= entry.second.digest[i] ^ candidate[i];
        if (difference == 0) match = &entry;
    }
    if (!match) return std::nullopt;
    return CallbackCaller{match->second.executorId, match->first, false};
}

}  // namespace aw
