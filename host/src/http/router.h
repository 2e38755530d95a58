// The HTTP front door: a table of routes, plus what every route gets for free — auth,
// bounded body reading, JSON parsing, the error shape and an access log line.
#pragma once

#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "http/api_error.h"
#include "http/auth.h"
#include "http/incoming_request.h"
#include "http/response_stream.h"

namespace aw {

class HttpMetrics;
class RouteMetrics;

//! What a handler sees of a request.
class HttpRequest {
public:
    HttpRequest(const IncomingRequest& raw, std::string path,
                std::map<std::string, std::string> pathParams, std::string body,
                std::map<std::string, std::string> query = {});

    const std::string& method() const;
    const std::string& path() const { return path_; }
    //! `{name}` segments of the route pattern, URL-decoded.
    const std::string& param(const std::string& name) const;
    //! Query parameter, URL-decoded, if present.
    std::optional<std::string> query(const std::string& name) const;
    std::string header(const std::string& name) const;
    const std::string& body() const { return body_; }
    //! The body as a JSON object; throws ApiError 400 `invalid_json` naming the problem.
    const nlohmann::json& json() const;

private:
    const IncomingRequest& raw_;
    std::string path_;
    std::map<std::string, std::string> pathParams_;
    std::map<std::string, std::string> query_;
    std::string body_;
    mutable std::optional<nlohmann::json> json_;
};

struct HttpResponse {
    int status = 200;
    std::string contentType = "application/json";
    std::string body;
    //! Set for a streamed answer (server-sent events): the headers go out with chunked
    //! transfer encoding, then this is called once with the stream to write the body to,
    //! later and from any thread. It must not block. `body` is ignored.
    std::function<void(std::shared_ptr<ResponseStream>)> stream;
    std::map<std::string, std::string> headers;  //!< extra response headers
    bool close = false;                          //!< close the connection after this answer

    static HttpResponse json(int status, const nlohmann::json& body);
    static HttpResponse problem(int status, const Problem& problem);
};

using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;

//! Where the server runs a route's handler.
enum class RouteLane {
    Queued,       //!< on a handler thread, in arrival order
    QueuedFirst,  //!< on a handler thread, ahead of the queue: readiness probes
    OnIoThread,   //!< on the I/O thread, at once: only trivial answers (/health)
};

struct Route {
    std::string method;   //!< GET, POST, ...
    std::string pattern;  //!< `/v1/sessions/{sid}`: literal segments and `{name}` captures
    Scope scope;
    HttpHandler handler;
    RouteLane lane = RouteLane::Queued;
};

class Router {
public:
    Router(TokenAuth auth, std::size_t maxBodyBytes);

    void add(Route route);

    //! Answers one request (X-Request-Id set, access log written); never throws.
    HttpResponse handle(const IncomingRequest& request);
    //! The answer to a request the server refuses before routing it (malformed, too large,
    //! too slow, overloaded), logged like any other.
    HttpResponse refuse(const IncomingRequest& partial, const ApiError& error);
    //! The lane of the route `request` goes to (Queued when it matches none).
    RouteLane laneOf(const IncomingRequest& request) const;
    std::size_t maxBodyBytes() const { return maxBodyBytes_; }

    //! Decides, for a host without client and admin tokens, whether an unauthenticated
    //! request comes from somewhere that may not make one (a worker's sandbox shares the
    //! host's loopback); a problem refuses it with 403.
    using OpenAccessCheck = std::function<std::optional<Problem>(const IncomingRequest&)>;
    void setOpenAccessCheck(OpenAccessCheck check) { openAccessCheck_ = std::move(check); }

    //! At `information`, one in `every` successful GET/HEAD requests gets an access line
    //! (marked `"sampled": every`); other methods, answers of 400 and above and requests
    //! of a second or more always do. 1: every request (http.access_log_sample).
    void setAccessLogSample(int every) { accessLogSample_ = every < 1 ? 1 : every; }

    //! Shutdown has begun: requests that arrive from now on (on connections already open)
    //! get 503 `shutting_down` and their connection closed; requests in flight go on.
    void refuseNewRequests() { refusing_ = true; }

    //! Counts each request by route pattern and status, and times it (before serving).
    void setMetrics(HttpMetrics& metrics);

private:
    struct Dispatch;
    Dispatch route(const std::string& method, const std::string& path) const;
    HttpResponse serve(const IncomingRequest& request, const std::string& requestId,
                       const Route*& matched);
    void logAccess(const IncomingRequest& request, const std::string& requestId, int status,
                   std::chrono::steady_clock::time_point started) const;

    TokenAuth auth_;
    OpenAccessCheck openAccessCheck_;
    std::size_t maxBodyBytes_;
    std::vector<Route> routes_;
    //! Exact paths of the routes not in the Queued lane, so the server asks cheaply.
    std::map<std::string, RouteLane> lanes_;
    std::atomic<bool> refusing_{false};
    int accessLogSample_ = 1;
    HttpMetrics* metrics_ = nullptr;
    std::vector<RouteMetrics*> routeMetrics_;  //!< by index in routes_, once metrics are set
};

}  // namespace aw
