// GET /openapi.json: the API's OpenAPI document (docs/openapi.yaml), for client generators
// and API explorers; public like /health, since it describes the API and holds no secret.
#include "api/openapi_document.h"
#include "api/routes.h"

namespace aw {

void addOpenApiRoutes(Router& router) {
    router.add({"GET", "/openapi.json", Scope::Public, [](const HttpRequest&) {
                    HttpResponse response;
                    response.body = std::string(openApiJson());
                    return response;
                }});
}

}  // namespace aw
