// GET /console: the operator's web page (host/console/, embedded at build time by
// cmake/EmbedConsole.cmake). Files are looked up by exact name in the embedded table, so a
// path can only ever name one of them: `..`, encoded slashes and symlinks lead nowhere.
#include <algorithm>

#include "api/console_assets.h"
#include "api/routes.h"

namespace aw {
namespace {

const ConsoleAsset* findAsset(const std::string& name) {
    const auto& assets = consoleAssets();
    const auto found = std::find_if(assets.begin(), assets.end(),
                                    [&](const ConsoleAsset& asset) { return asset.name == name; });
    return found == assets.end() ? nullptr : &*found;
}

std::string assetNames() {
    std::string names;
    for (const auto& asset : consoleAssets())
        names += (names.empty() ? "" : ", ") + std::string(asset.name);
    return names;
}

HttpResponse serveAsset(const std::string& name) {
    const ConsoleAsset* asset = findAsset(name);
    if (!asset) {
        throw ApiError(404, {"not_found", "the console has no file '" + name + "'",
                             "open /console; its files are " + assetNames()});
    }
    HttpResponse response;
    response.contentType = std::string(asset->contentType);
    response.body = std::string(asset->bytes);
    // The page holds the operator's tokens: it runs only its own scripts, talks only to
    // this host, and is never framed by another site.
    response.headers["Content-Security-Policy"] =
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";
    response.headers["X-Content-Type-Options"] = "nosniff";
    response.headers["Referrer-Policy"] = "no-referrer";
    response.headers["Cache-Control"] = "no-cache";
    return response;
}

}  // namespace

void addConsoleRoutes(Router& router) {
    // Public: the page itself holds nothing secret; every call it makes carries the token
    // the operator entered.
    for (const char* page : {"/console", "/console/"}) {
        router.add({"GET", page, Scope::Public,
                    [](const HttpRequest&) { return serveAsset("index.html"); }});
    }
    router.add({"GET", "/console/{file}", Scope::Public,
                [](const HttpRequest& request) { return serveAsset(request.param("file")); }});
}

}  // namespace aw
