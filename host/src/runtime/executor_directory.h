// Where a cluster's replicas of agent-host find each swarm worker's executor, and how they
// open it, so that a worker started by one replica is driven by any other, on any machine.
//
// - Each worker has a nonce, made at create and gone at remove. Its executor token and its
//   callback token are derived from the nonce and the cluster's secret (derivedToken), so
//   every replica holding the secret presents the same tokens, and the database alone
//   opens nothing.
// - Each start puts a single-use bootstrap token in the worker's service spec (a Swarm task
//   has no stdin to be handed secrets on). Only its digest is kept here. The executor,
//   before it runs anything, presents the token once to POST /v1/executors/bootstrap on any
//   replica, reporting where it listens, and gets its tokens and the S3 credentials. The
//   first presentation uses the token up; so do the next start and a stop. What an agent
//   could find in the spec, its environment or /proc later opens nothing.
// - The address the executor reported is kept here until the worker stops.
// - The replicas must agree on the secret: each records a fingerprint of its own at start,
//   and one whose fingerprint differs from the cluster's is refused.
#pragma once

#include <optional>
#include <string>

#include "runtime/token_digest.h"

namespace aw {

struct ExecutorEntry {
    std::string nonce;    //!< the worker's tokens derive from it
    std::string address;  //!< `ip:port` the executor reported; empty until it has
};

class ExecutorDirectory {
public:
    virtual ~ExecutorDirectory() = default;

    //! Records `fingerprint` as the cluster's when none is; returns the cluster's.
    virtual std::string adoptSecretFingerprint(const std::string& fingerprint) = 0;

    //! The worker's entry, made with `nonce` when it has none (one it has is kept).
    virtual ExecutorEntry ensure(const std::string& sessionId, const std::string& nonce) = 0;
    virtual std::optional<ExecutorEntry> find(const std::string& sessionId) = 0;
    //! The worker's entry is gone, with its bootstrap and address.
    virtual void erase(const std::string& sessionId) = 0;

    //! The worker's pending bootstrap is now `digest`'s (an earlier one no longer counts),
    //! and it has no address until its executor reports one.
    virtual void expectBootstrap(const std::string& sessionId, const TokenDigest& digest) = 0;
    //! No bootstrap is pending for the worker, and it has no address.
    virtual void forget(const std::string& sessionId) = 0;
    //! The worker whose pending bootstrap `digest` is; that bootstrap is used up, and
    //! `address` (when not empty) recorded as the worker's. nullopt when none is pending.
    virtual std::optional<std::string> redeem(const TokenDigest& digest,
                                              const std::string& address) = 0;
};

}  // namespace aw
