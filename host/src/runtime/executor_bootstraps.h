// Single-use bootstrap tokens for executors that cannot be handed their secrets on stdin (a
// Swarm service has none). The host issues one per start and puts it in the service's spec;
// the executor, before it runs anything, presents it once to POST /v1/executors/bootstrap
// and gets its executor and callback tokens and the S3 credentials in exchange, reporting
// where it listens. The first presentation uses the token up; so does the next issue for the
// worker, and a stop. What an agent could find in the spec, its environment or /proc later
// opens nothing.
#pragma once

#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "runtime/token_digest.h"

namespace aw {

class ExecutorBootstraps {
public:
    //! A new token for the worker of `sessionId`; an earlier one it had is no longer valid.
    std::string issue(const std::string& sessionId);
    //! The worker's pending token (if any) is no longer valid.
    void revoke(const std::string& sessionId);
    //! The session whose pending token `token` is, which is then used up; nullopt for a
    //! token that is no pending one (wrong, used, revoked). Compared in constant time.
    std::optional<std::string> redeem(const std::string& token);

private:
    std::mutex mutex_;
    std::map<std::string, TokenDigest> pending_;  //!< by session: only digests are kept
};

}  // namespace aw
