#include "api/routes.h"

namespace aw {

void addAdminRoutes(Router& router, const HostConfig& config) {
    router.add({"GET", "/admin/config", Scope::Admin, [&config](const HttpRequest&) {
                    return HttpResponse{200, "application/json", config.redactedJson()};
                }});
}

}  // namespace aw
