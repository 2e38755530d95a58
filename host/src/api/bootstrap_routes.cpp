// POST /v1/executors/bootstrap: an executor that has no stdin to read its secrets from (a
// Swarm task) presents the single-use bootstrap token of its spec, and where it listens, and
// gets its executor and callback tokens and the S3 credentials. The token is its own proof:
// the route needs none of the API's tokens, and a token used once, revoked or never issued
// is refused (401), logged without the token.
#include <Poco/Logger.h>

#include "api/routes.h"
#include "logging/json_formatter.h"

namespace aw {

void addExecutorBootstrapRoutes(Router& router, BootstrapExchange exchange) {
    router.add({"POST", "/v1/executors/bootstrap", Scope::Public,
                [exchange = std::move(exchange)](const HttpRequest& request) {
                    const std::string authorization = request.header("Authorization");
                    constexpr std::string_view kBearer = "Bearer ";
                    const std::string token = authorization.rfind(kBearer, 0) == 0
                                                  ? authorization.substr(kBearer.size())
                                                  : std::string();
                    const nlohmann::json& body = request.json();
                    const std::string address =
                        body.contains("address") && body["address"].is_string()
                            ? body["address"].get<std::string>()
                            : std::string();
                    if (address.empty()) {
                        throw ApiError(
                            400, {"invalid_request", "the body must name the executor's address",
                                  "send {\"address\": \"127.0.0.1:PORT\"}"});
                    }
                    auto grant = exchange(token, address);
                    if (!grant) {
                        logFields(Poco::Logger::get("bootstrap"), Poco::Message::PRIO_WARNING,
                                  "bootstrap token refused", {{"address", address}});
                        throw ApiError(401, {"bootstrap_refused",
                                             "this bootstrap token is not valid: never issued, "
                                             "used already, or revoked by a stop",
                                             "a token serves one executor start; start the "
                                             "worker again for a new one"});
                    }
                    return HttpResponse::json(200, *grant);
                }});
}

}  // namespace aw
