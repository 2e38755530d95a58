// ExecutorDirectory on SOCI (SQLite or PostgreSQL): `worker_executors` and
// `cluster_settings`, which every replica of agent-host reads.
#pragma once

#include "db/database.h"
#include "runtime/executor_directory.h"

namespace aw {

class SociExecutorDirectory : public ExecutorDirectory {
public:
    explicit SociExecutorDirectory(Database& database) : database_(database) {}

    std::string adoptSecretFingerprint(const std::string& fingerprint) override;
    ExecutorEntry ensure(const std::string& sessionId, const std::string& nonce) override;
    std::optional<ExecutorEntry> find(const std::string& sessionId) override;
    void erase(const std::string& sessionId) override;
    void expectBootstrap(const std::string& sessionId, const TokenDigest& digest) override;
    void forget(const std::string& sessionId) override;
    //! One statement: of two replicas redeeming one token at once, one gets it.
    std::optional<std::string> redeem(const TokenDigest& digest,
                                      const std::string& address) override;

private:
    Database& database_;
};

}  // namespace aw
