// The workers' own callback tokens: one per worker, issued when the worker is created and
// revoked when it is removed, so an executor's callbacks name the one worker they come from.
// Only SHA-256 digests are kept; a token is identified by comparing its digest with every
// worker's in constant time, as TokenAuth does.
#pragma once

#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "agent_worker/core/runs/callback_admission.h"
#include "runtime/token_digest.h"

namespace aw {

class CallbackTokens {
public:
    //! Binds `token` to the worker of `sessionId` (replacing the one it had).
    void bind(const std::string& sessionId, const std::string& executorId,
              const std::string& token);
    //! The worker's token is no longer accepted.
    void revoke(const std::string& sessionId);
    //! The worker `token` was issued for, if any.
    std::optional<CallbackCaller> identify(const std::string& token) const;

private:
    struct Binding {
        std::string executorId;
        TokenDigest digest{};
    };

    mutable std::mutex mutex_;
    std::map<std::string, Binding> bySession_;
};

}  // namespace aw
