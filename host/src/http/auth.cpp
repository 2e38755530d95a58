#include "http/auth.h"

#include <Poco/SHA2Engine.h>

#include <algorithm>

namespace aw {

TokenAuth::TokenAuth(const std::vector<std::string>& clientTokens,
                     const std::vector<std::string>& adminTokens,
                     const std::vector<std::string>& executorTokens, WorkerTokenCheck isWorkerToken)
    : isWorkerToken_(std::move(isWorkerToken)) {
    std::transform(executorTokens.begin(), executorTokens.end(), std::back_inserter(executor_), digest);
    std::transform(clientTokens.begin(), clientTokens.end(), std::back_inserter(client_), digest);
    std::transform(adminTokens.begin(), adminTokens.end(), std::back_inserter(admin_), digest);
}

void TokenAuth::setMetricsTokens(const std::vector<std::string>& metricsTokens) {
    metrics_.clear();
    std::transform(metricsTokens.begin(), metricsTokens.end(), std::back_inserter(metrics_),
                   digest);
}

TokenAuth::Digest TokenAuth::digest(const std::string& token) {
    Poco::SHA2Engine engine(Poco::SHA2Engine::SHA_256);
    engine.update(token);
    const auto& bytes = engine.digest();
    Digest out{};
    std::copy_n(bytes.begin(), out.size(), out.begin());
    return out;
}

bool TokenAuth::matchesAny(const std::vector<Digest>& digests, const Digest& candidate) {
    // No early exit: the time taken does not depend on which token (if any) matched.
    unsigned char anyMatch = 0;
    for (const auto& known : digests) {
        unsigned char difference = 0;
        for (std::size_t i = 0; i < known.size(); ++i) difference |= known[i] ^ candidate[i];
        anyMatch |= static_cast<unsigned char>(difference == 0);
    }
    return anyMatch != 0;
}

AuthOutcome TokenAuth::check(Scope scope, const std::string& authorization) const {
    if (scope == Scope::Public || (isOpen() && scope != Scope::Executor)) return AuthOutcome::Allowed;
    static const std::string kBearer = "Bearer ";
    if (authorization.size() <= kBearer.size() ||
        !std::equal(kBearer.begin(), kBearer.end(), authorization.begin(),
                    [](char a, char b) { return std::tolower(a) == std::tolower(b); })) {
        return AuthOutcome::MissingToken;
    }
    const std::string token = authorization.substr(kBearer.size());
    const Digest candidate = digest(token);
    const bool isClient = matchesAny(client_, candidate);
    const bool isAdmin = matchesAny(admin_, candidate);
    const bool isExecutor =
        matchesAny(executor_, candidate) || (isWorkerToken_ && isWorkerToken_(token));
    const bool isMetrics = matchesAny(metrics_, candidate);
    const bool allowed = scope == Scope::Client    ? isClient
                         : scope == Scope::Admin   ? isAdmin
                         : scope == Scope::Metrics ? isAdmin || isMetrics
                                                   : isExecutor;
    if (allowed) return AuthOutcome::Allowed;
    return (isClient || isAdmin || isExecutor || isMetrics) ? AuthOutcome::WrongScope
                                                            : AuthOutcome::UnknownToken;
}

}  // namespace aw
