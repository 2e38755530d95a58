#include "api/routes.h"

namespace aw {

void addHealthRoutes(Router& router, StoreHealth& store) {
    router.add({"GET", "/health", Scope::Public, [](const HttpRequest&) {
                    return HttpResponse::json(200, {{"status", "ok"}});
                }});
    router.add({"GET", "/ready", Scope::Public, [&store](const HttpRequest&) {
                    if (auto reason = store.unhealthyReason()) {
                        return HttpResponse::json(
                            503, {{"status", "unavailable"},
                                  {"checks", {{"database", {{"ok", false}, {"reason", *reason}}}}},
                                  {"error",
                                   {{"code", "database_unavailable"},
                                    {"message", *reason},
                                    {"hint", "check that the database server is running; "
                                             "agent-host reconnects by itself"}}}});
                    }
                    return HttpResponse::json(
                        200, {{"status", "ready"}, {"checks", {{"database", {{"ok", true}}}}}});
                }});
}

}  // namespace aw
