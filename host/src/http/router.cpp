#include "http/router.h"

#include <Poco/Logger.h>
#include <Poco/Net/HTTPRequestHandler.h>
#include <Poco/URI.h>

#include <chrono>
#include <istream>

#include "agent_worker/core/random_id.h"
#include "agent_worker/core/repositories.h"
#include "logging/json_formatter.h"

namespace aw {
namespace {

Poco::Logger& logger() { return Poco::Logger::get("http"); }

std::vector<std::string> segments(const std::string& path) {
    std::vector<std::string> parts;
    std::size_t start = 1;
    while (start <= path.size()) {
        const auto slash = path.find('/', start);
        const auto end = slash == std::string::npos ? path.size() : slash;
        parts.push_back(path.substr(start, end - start));
        if (slash == std::string::npos) break;
        start = slash + 1;
    }
    return parts;
}

//! Percent-decodes `text`; nullopt when an escape is malformed (`%zz`, a trailing `%`).
std::optional<std::string> strictDecode(const std::string& text) {
    std::string out;
    try {
        Poco::URI::decode(text, out);
    } catch (const Poco::SyntaxException&) {
        return std::nullopt;
    }
    return out;
}

//! For messages and logs only: the decoded text, or the raw text when it does not decode.
std::string decodeForDisplay(const std::string& text) {
    return strictDecode(text).value_or(text);
}

std::string rawPathOf(const std::string& uri) {
    return uri.substr(0, uri.find_first_of("?#"));
}

std::string rawQueryOf(const std::string& uri) {
    const auto mark = uri.find('?');
    if (mark == std::string::npos) return {};
    const auto hash = uri.find('#', mark);
    return uri.substr(mark + 1, hash == std::string::npos ? std::string::npos : hash - mark - 1);
}

//! The query's parameters decoded as Poco::URI::getQueryParameters does (`+` stays `+`);
//! nullopt when one of them holds a malformed escape.
std::optional<std::map<std::string, std::string>> parseQuery(const std::string& raw) {
    std::map<std::string, std::string> params;
    std::size_t start = 0;
    while (start <= raw.size()) {
        const auto amp = raw.find('&', start);
        const auto end = amp == std::string::npos ? raw.size() : amp;
        const std::string pair = raw.substr(start, end - start);
        if (!pair.empty()) {
            const auto eq = pair.find('=');
            auto name = strictDecode(pair.substr(0, eq));
            auto value = strictDecode(eq == std::string::npos ? "" : pair.substr(eq + 1));
            if (!name || !value) return std::nullopt;
            params[*name] = *value;
        }
        if (amp == std::string::npos) break;
        start = amp + 1;
    }
    return params;
}

//! Captures `{name}` segments when `path` fits `pattern`.
std::optional<std::map<std::string, std::string>> matchPattern(const std::string& pattern,
                                                               const std::vector<std::string>& path) {
    const auto want = segments(pattern);
    if (want.size() != path.size()) return std::nullopt;
    std::map<std::string, std::string> params;
    for (std::size_t i = 0; i < want.size(); ++i) {
        const auto& part = want[i];
        if (part.size() > 2 && part.front() == '{' && part.back() == '}') {
            if (path[i].empty()) return std::nullopt;
            // Malformed escapes were refused before routing; decoding cannot fail here.
            params[part.substr(1, part.size() - 2)] = decodeForDisplay(path[i]);
        } else if (part != path[i]) {
            return std::nullopt;
        }
    }
    return params;
}

class RouterHandler : public Poco::Net::HTTPRequestHandler {
public:
    explicit RouterHandler(Router& router) : router_(router) {}
    void handleRequest(Poco::Net::HTTPServerRequest& request,
                       Poco::Net::HTTPServerResponse& response) override {
        router_.handle(request, response);
    }

private:
    Router& router_;
};

class RouterFactory : public Poco::Net::HTTPRequestHandlerFactory {
public:
    explicit RouterFactory(Router& router) : router_(router) {}
    Poco::Net::HTTPRequestHandler* createRequestHandler(
        const Poco::Net::HTTPServerRequest&) override {
        return new RouterHandler(router_);
    }

private:
    Router& router_;
};

}  // namespace

// --- HttpRequest -------------------------------------------------------------------------

HttpRequest::HttpRequest(const Poco::Net::HTTPServerRequest& raw, std::string path,
                         std::map<std::string, std::string> pathParams, std::string body,
                         std::map<std::string, std::string> query)
    : raw_(raw),
      path_(std::move(path)),
      pathParams_(std::move(pathParams)),
      query_(std::move(query)),
      body_(std::move(body)) {}

const std::string& HttpRequest::method() const { return raw_.getMethod(); }

const std::string& HttpRequest::param(const std::string& name) const {
    return pathParams_.at(name);
}

std::optional<std::string> HttpRequest::query(const std::string& name) const {
    if (auto it = query_.find(name); it != query_.end()) return it->second;
    return std::nullopt;
}

std::string HttpRequest::header(const std::string& name) const { return raw_.get(name, ""); }

const nlohmann::json& HttpRequest::json() const {
    if (json_) return *json_;
    if (body_.empty()) {
        throw ApiError(400, {"invalid_json", "request body is empty; a JSON object was expected",
                             "send a JSON object with Content-Type: application/json"});
    }
    try {
        json_ = nlohmann::json::parse(body_);
    } catch (const nlohmann::json::parse_error& e) {
        throw ApiError(400, {"invalid_json",
                             "request body is not valid JSON: " + std::string(e.what()),
                             "send a JSON object with Content-Type: application/json"});
    }
    if (!json_->is_object()) {
        const std::string kind = json_->type_name();
        json_.reset();
        throw ApiError(400, {"invalid_json", "request body is a JSON " + kind +
                                                 "; a JSON object was expected",
                             "wrap the fields in an object: {\"field\": ...}"});
    }
    return *json_;
}

// --- HttpResponse ------------------------------------------------------------------------

HttpResponse HttpResponse::json(int status, const nlohmann::json& body) {
    HttpResponse response;
    response.status = status;
    response.body = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    return response;
}

HttpResponse HttpResponse::problem(int status, const Problem& problem) {
    return json(status, {{"error",
                          {{"code", problem.code},
                           {"message", problem.message},
                           {"hint", problem.hint}}}});
}

// --- Router ------------------------------------------------------------------------------

struct Router::Dispatch {
    const Route* route = nullptr;
    std::map<std::string, std::string> params;
    std::vector<std::string> allowedMethods;  //!< when the path exists but not the method
};

Router::Router(TokenAuth auth, std::size_t maxBodyBytes)
    : auth_(std::move(auth)), maxBodyBytes_(maxBodyBytes) {}

void Router::add(Route route) { routes_.push_back(std::move(route)); }

Poco::Net::HTTPRequestHandlerFactory::Ptr Router::factory() { return new RouterFactory(*this); }

Router::Dispatch Router::route(const Poco::Net::HTTPServerRequest& request,
                               const std::string& path) const {
    Dispatch dispatch;
    const auto parts = segments(path);
    // HEAD is GET without the body (Poco's response sends the headers alone for a HEAD).
    const std::string& asked = request.getMethod();
    const std::string& method =
        asked == Poco::Net::HTTPRequest::HTTP_HEAD ? Poco::Net::HTTPRequest::HTTP_GET : asked;
    for (const auto& candidate : routes_) {
        auto params = matchPattern(candidate.pattern, parts);
        if (!params) continue;
        if (candidate.method == method) {
            dispatch.route = &candidate;
            dispatch.params = std::move(*params);
            return dispatch;
        }
        dispatch.allowedMethods.push_back(candidate.method);
        if (candidate.method == Poco::Net::HTTPRequest::HTTP_GET)
            dispatch.allowedMethods.push_back("HEAD");
    }
    return dispatch;
}

std::string Router::readBody(Poco::Net::HTTPServerRequest& request) const {
    const auto tooLarge = [&](const std::string& size) {
        return ApiError(413, {"body_too_large",
                              "request body of " + size + " exceeds the limit of " +
                                  std::to_string(maxBodyBytes_) + " bytes",
                              "send a smaller body, or raise http.max_body_bytes "
                              "(AW_HTTP_MAX_BODY_BYTES)"});
    };
    if (request.hasContentLength() &&
        request.getContentLength64() > static_cast<Poco::Int64>(maxBodyBytes_)) {
        throw tooLarge(std::to_string(request.getContentLength64()) + " bytes");
    }
    // Read at most one byte past the limit: enough to know it is too large, and a
    // chunked body without a length can never make us buffer more than that.
    std::string body;
    std::istream& in = request.stream();
    char buffer[16384];
    while (in) {
        in.read(buffer, sizeof buffer);
        body.append(buffer, static_cast<std::size_t>(in.gcount()));
        if (body.size() > maxBodyBytes_) throw tooLarge("more than " + std::to_string(maxBodyBytes_) + " bytes");
    }
    return body;
}

HttpResponse Router::serve(Poco::Net::HTTPServerRequest& request, const std::string& requestId,
                           bool& bodyConsumed) {
    // Route on the raw path and decode each segment on its own, so an encoded slash
    // (%2F) stays inside its segment and reaches validation instead of adding one.
    const std::string& uri = request.getURI();
    const std::string rawPath = rawPathOf(uri);
    const std::string path = decodeForDisplay(rawPath);
    try {
        if (!strictDecode(rawPath)) {
            throw ApiError(
                400, {"invalid_path", "the path '" + rawPath + "' holds a malformed percent-escape",
                      "encode each reserved byte as % and two hex digits (%2F for '/'); "
                      "request id " +
                          requestId});
        }
        auto query = parseQuery(rawQueryOf(uri));
        if (!query) {
            throw ApiError(400,
                           {"invalid_query",
                            "the query '" + rawQueryOf(uri) + "' holds a malformed percent-escape",
                            "encode each reserved byte as % and two hex digits (%26 for '&'); "
                            "request id " +
                                requestId});
        }
        Dispatch dispatch = route(request, rawPath);
        if (!dispatch.route) {
            if (!dispatch.allowedMethods.empty()) {
                std::string allowed;
                for (const auto& method : dispatch.allowedMethods) {
                    allowed += (allowed.empty() ? "" : ", ") + method;
                }
                return HttpResponse::problem(
                    405, {"method_not_allowed",
                          request.getMethod() + " is not supported on " + path,
                          "use " + allowed});
            }
            return HttpResponse::problem(
                404, {"not_found", "no route for " + request.getMethod() + " " + path,
                      "see docs/api.md for the routes agent-host serves"});
        }
        const Scope scope = dispatch.route->scope;
        if (openAccessCheck_ && auth_.isOpen() && (scope == Scope::Client || scope == Scope::Admin)) {
            if (auto refused = openAccessCheck_(request)) return HttpResponse::problem(403, *refused);
        }
        switch (auth_.check(dispatch.route->scope, request.get("Authorization", ""))) {
            case AuthOutcome::Allowed: break;
            case AuthOutcome::MissingToken:
                return HttpResponse::problem(
                    401, {"unauthorized", "this route needs a bearer token",
                          "send Authorization: Bearer <token> with a configured token"});
            case AuthOutcome::UnknownToken:
                return HttpResponse::problem(
                    401, {"unauthorized", "the bearer token is not a configured token",
                          "check auth.client_tokens / auth.admin_tokens"});
            case AuthOutcome::WrongScope:
                return HttpResponse::problem(
                    403, {"forbidden",
                          std::string("the token is valid but not for this route, which needs ") +
                              (dispatch.route->scope == Scope::Admin      ? "an admin"
                               : dispatch.route->scope == Scope::Executor ? "an executor"
                                                                          : "a client") +
                              " token",
                          dispatch.route->scope == Scope::Admin ? "use a token from auth.admin_tokens"
                          : dispatch.route->scope == Scope::Executor
                              ? "only session workers' executors call this route"
                              : "use a token from auth.client_tokens"});
        }
        std::string body = readBody(request);
        bodyConsumed = true;
        HttpRequest wrapped(request, path, std::move(dispatch.params), std::move(body),
                            std::move(*query));
        return dispatch.route->handler(wrapped);
    } catch (const ApiError& e) {
        return HttpResponse::problem(e.status(), e.problem());
    } catch (const StoreUnavailableError& e) {
        return HttpResponse::problem(503, e.problem());
    } catch (const StoreCorruptError& e) {
        // Not "unavailable, retry": the file is damaged until an operator restores it.
        logFields(logger(), Poco::Message::PRIO_ERROR, "database corrupt",
                  {{"request_id", requestId}, {"path", path}, {"error", e.what()}});
        return HttpResponse::problem(500, e.problem());
    } catch (const std::exception& e) {
        logFields(logger(), Poco::Message::PRIO_ERROR, "handler failed",
                  {{"request_id", requestId}, {"path", path}, {"error", e.what()}});
        return HttpResponse::problem(
            500, {"internal_error",
                  "internal error while handling " + request.getMethod() + " " + path,
                  "the host is still up; see its log for request id " + requestId});
    }
}

void Router::handle(Poco::Net::HTTPServerRequest& request,
                    Poco::Net::HTTPServerResponse& response) {
    const auto started = std::chrono::steady_clock::now();
    std::string requestId = request.get("X-Request-Id", "");
    if (requestId.empty() || requestId.size() > 128) {
        requestId = newRequestId();
    }
    struct Counted {
        std::atomic<int>& count;
        explicit Counted(std::atomic<int>& counter) : count(counter) { ++count; }
        ~Counted() { --count; }
    } const counted{inFlight_};
    bool bodyConsumed = false;
    const bool refused = refusing_;
    const HttpResponse answer =
        refused ? HttpResponse::problem(503, {"shutting_down", "agent-host is shutting down",
                                              "retry on another host, or once it is back"})
                : serve(request, requestId, bodyConsumed);
    try {
        // An unread body would be parsed as the next request on a kept-alive connection.
        const bool bodyPending = !bodyConsumed && (request.getChunkedTransferEncoding() ||
                                                   request.getContentLength64() > 0);
        if (bodyPending || refused) response.setKeepAlive(false);
        // setStatus() alone keeps the default reason ("OK") whatever the code: a 503 went
        // out as "503 OK". Every answer gets the reason phrase that belongs to its code.
        response.setStatusAndReason(static_cast<Poco::Net::HTTPResponse::HTTPStatus>(answer.status));
        response.setContentType(answer.contentType);
        response.set("X-Request-Id", requestId);
        for (const auto& [name, value] : answer.headers) response.set(name, value);
        if (answer.stream && request.getMethod() == Poco::Net::HTTPRequest::HTTP_HEAD) {
            // The headers a GET would get, and no stream: a HEAD must not hold a thread.
            response.setChunkedTransferEncoding(true);
            response.send().flush();
        } else if (answer.stream) {
            response.setChunkedTransferEncoding(true);
            std::ostream& out = response.send();
            out.flush();
            answer.stream(out);
        } else {
            response.setContentLength64(static_cast<Poco::Int64>(answer.body.size()));
            response.send() << answer.body;
        }
    } catch (const std::exception& e) {
        logFields(logger(), Poco::Message::PRIO_WARNING, "could not send response",
                  {{"request_id", requestId}, {"error", e.what()}});
    }
    const auto elapsed = std::chrono::duration<double, std::milli>(
        std::chrono::steady_clock::now() - started);
    nlohmann::json fields{{"request_id", requestId},
                          {"method", request.getMethod()},
                          {"path", decodeForDisplay(rawPathOf(request.getURI()))},
                          {"status", answer.status},
                          {"duration_ms", elapsed.count()}};
    // Trace headers of host <-> executor calls, so both sides' logs join on them.
    static const std::pair<const char*, const char*> kTraceHeaders[] = {
        {"X-Trace-Id", "trace_id"},       {"X-Session-Id", "session_id"},
        {"X-Executor-Id", "executor_id"}, {"X-Run-Id", "run_id"},
        {"X-Operation", "operation"},     {"traceparent", "traceparent"}};
    for (const auto& [header, field] : kTraceHeaders) {
        const std::string value = request.get(header, "");
        if (!value.empty()) fields[field] = value.substr(0, 200);
    }
    logFields(logger(), answer.status >= 500 ? Poco::Message::PRIO_WARNING : Poco::Message::PRIO_INFORMATION,
              "request", fields);
}

}  // namespace aw
