#include "api/routes.h"

namespace aw {

void addAdminRoutes(Router& router, const HostConfig& config) {
    router.add({"GET", "/admin/config", Scope::Admin, [&config](const HttpRequest&) {
                    return HttpResponse::json(200, nlohmann::json::parse(config.redactedJson()));
                }});
}

}  // namespace aw
