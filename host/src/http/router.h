// The HTTP front door: a table of routes, plus what every route gets for free — auth,
// bounded body reading, JSON parsing, the error shape and an access log line.
#pragma once

#include <Poco/Net/HTTPRequestHandlerFactory.h>
#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerResponse.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "http/api_error.h"
#include "http/auth.h"

namespace aw {

//! What a handler sees of a request.
class HttpRequest {
public:
    HttpRequest(const Poco::Net::HTTPServerRequest& raw, std::string path,
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
    const Poco::Net::HTTPServerRequest& raw_;
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
    //! Set for a streamed answer (server-sent events): the headers go out at once with
    //! chunked transfer encoding, then this writes the body until it returns. `body` is
    //! ignored. It runs on the HTTP thread, so callers bound how many streams run at once.
    std::function<void(std::ostream&)> stream;
    std::map<std::string, std::string> headers;  //!< extra response headers

    static HttpResponse json(int status, const nlohmann::json& body);
    static HttpResponse problem(int status, const Problem& problem);
};

using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;

struct Route {
    std::string method;   //!< GET, POST, ...
    std::string pattern;  //!< `/v1/sessions/{sid}`: literal segments and `{name}` captures
    Scope scope;
    HttpHandler handler;
};

class Router {
public:
    Router(TokenAuth auth, std::size_t maxBodyBytes);

    void add(Route route);

    //! Serves one request end to end; never throws.
    void handle(Poco::Net::HTTPServerRequest& request, Poco::Net::HTTPServerResponse& response);

    //! A factory for Poco::Net::HTTPServer that sends everything to this router.
    Poco::Net::HTTPRequestHandlerFactory::Ptr factory();

    //! Decides, for a host without client and admin tokens, whether an unauthenticated
    //! request comes from somewhere that may not make one (a worker's sandbox shares the
    //! host's loopback); a problem refuses it with 403.
    using OpenAccessCheck = std::function<std::optional<Problem>(const Poco::Net::HTTPServerRequest&)>;
    void setOpenAccessCheck(OpenAccessCheck check) { openAccessCheck_ = std::move(check); }

    //! Shutdown has begun: requests that arrive from now on (on connections already open)
    //! get 503 `shutting_down` and their connection closed; requests in flight go on.
    void refuseNewRequests() { refusing_ = true; }
    //! Requests being served now, event streams included.
    int inFlight() const { return inFlight_.load(); }

private:
    struct Dispatch;
    Dispatch route(const Poco::Net::HTTPServerRequest& request, const std::string& path) const;
    HttpResponse serve(Poco::Net::HTTPServerRequest& request, const std::string& requestId,
                       bool& bodyConsumed);
    std::string readBody(Poco::Net::HTTPServerRequest& request) const;

    TokenAuth auth_;
    OpenAccessCheck openAccessCheck_;
    std::size_t maxBodyBytes_;
    std::vector<Route> routes_;
    std::atomic<bool> refusing_{false};
    std::atomic<int> inFlight_{0};
};

}  // namespace aw
