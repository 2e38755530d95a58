// The workers' own callback tokens: one per worker, issued when the worker is created and
// revoked when it is removed, so an executor's callbacks name the one worker they come from.
// Only SHA-256 digests are kept; a token is identified by comparing its digest with every
// worker's in constant time, as TokenAuth does. Shared (share()), the bindings live in the
// cluster's database instead, so a callback may reach any replica of agent-host.
#pragma once

#include <atomic>
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "agent_worker/core/runs/callback_admission.h"
#include "runtime/token_digest.h"

namespace aw {

//! Where every host of a cluster finds the workers' callback token digests.
class CallbackTokenRegistry {
public:
    virtual ~CallbackTokenRegistry() = default;
    //! Binds `digest` to the worker of `sessionId`; with `replace` false a binding the worker
    //! has is kept.
    virtual void put(const std::string& sessionId, const std::string& executorId,
                     const TokenDigest& digest, bool replace) = 0;
    virtual void erase(const std::string& sessionId) = 0;
    //! The worker bound to `digest`, if any.
    virtual std::optional<CallbackCaller> find(const TokenDigest& digest) = 0;
};

class CallbackTokens {
public:
    //! Binds `token` to the worker of `sessionId` (replacing the one it had).
    void bind(const std::string& sessionId, const std::string& executorId,
              const std::string& token);
    //! The worker's token is no longer accepted.
    void revoke(const std::string& sessionId);
    //! The worker `token` was issued for, if any.
    std::optional<CallbackCaller> identify(const std::string& token) const;

    //! From now on the bindings are `registry`'s, which every host shares: the ones made so
    //! far go there (where the worker has none yet), later binds and revokes too, and
    //! identify() asks it, so a token one host revoked is refused by all.
    void share(CallbackTokenRegistry& registry);

private:
    struct Binding {
        std::string executorId;
        TokenDigest digest{};
    };

    mutable std::mutex mutex_;
    std::map<std::string, Binding> bySession_;
    //! Set once, before callbacks are served; the registry takes concurrent calls.
    std::atomic<CallbackTokenRegistry*> shared_{nullptr};
};

}  // namespace aw
