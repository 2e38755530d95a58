// Bearer-token authentication with separate client and admin scopes.
#pragma once

#include <array>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace aw {

//! Who may call a route.
enum class Scope {
    Public,  //!< no token (health, readiness)
    Client,  //!< chat backends: /v1/...
    Admin,   //!< operators: /admin/...
    //! Session workers' executors calling back (/v1/callbacks/executor). Always needs an
    //! executor token (a worker's own, or an operator's from auth.executor_tokens), even
    //! when client and admin tokens are not configured.
    Executor,
    //! Monitoring (GET /metrics): an admin token, or one of auth.metrics_tokens, which
    //! opens nothing else.
    Metrics,
};

enum class AuthOutcome { Allowed, MissingToken, UnknownToken, WrongScope };

class TokenAuth {
public:
    //! Says whether a token is one of the workers' own callback tokens, which come and go
    //! with the workers (CallbackTokens).
    using WorkerTokenCheck = std::function<bool(const std::string& token)>;

    TokenAuth(const std::vector<std::string>& clientTokens,
              const std::vector<std::string>& adminTokens,
              const std::vector<std::string>& executorTokens = {},
              WorkerTokenCheck isWorkerToken = {});

    //! Tokens that may scrape Scope::Metrics routes and nothing else.
    void setMetricsTokens(const std::vector<std::string>& metricsTokens);

    //! No tokens configured at all: the host serves loopback only, unauthenticated.
    bool isOpen() const { return client_.empty() && admin_.empty(); }

    //! `authorization` is the raw Authorization header (may be empty). Tokens are compared
    //! by SHA-256 digest in constant time, every configured token every time.
    AuthOutcome check(Scope scope, const std::string& authorization) const;

private:
    using Digest = std::array<unsigned char, 32>;
    static Digest digest(const std::string& token);
    static bool matchesAny(const std::vector<Digest>& digests, const Digest& candidate);

    std::vector<Digest> client_;
    std::vector<Digest> admin_;
    std::vector<Digest> executor_;
    std::vector<Digest> metrics_;
    WorkerTokenCheck isWorkerToken_;
};

}  // namespace aw
