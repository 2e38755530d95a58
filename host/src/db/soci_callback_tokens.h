// CallbackTokenRegistry on SOCI (SQLite or PostgreSQL): the workers' callback token digests
// in `worker_callback_tokens`, which every replica of agent-host reads.
#pragma once

#include "db/database.h"
#include "runtime/callback_tokens.h"

namespace aw {

class SociCallbackTokenRegistry : public CallbackTokenRegistry {
public:
    explicit SociCallbackTokenRegistry(Database& database) : database_(database) {}

    void put(const std::string& sessionId, const std::string& executorId, const TokenDigest& digest,
             bool replace) override;
    void erase(const std::string& sessionId) override;
    //! Looked up by the digest's index: an attacker timing it learns about digests, which
    //! do not lead back to tokens.
    std::optional<CallbackCaller> find(const TokenDigest& digest) override;

private:
    Database& database_;
};

}  // namespace aw
