#include "http/router.h"

#include <Poco/Logger.h>
#include <Poco/URI.h>

#include <array>
#include <charconv>
#include <chrono>
#include <span>

#include "agent_worker/core/random_id.h"
#include "agent_worker/core/repositories.h"
#include "logging/json_formatter.h"
#include "metrics/http_metrics.h"

namespace aw {
namespace {

//! Looked up once: Poco::Logger::get takes a process-wide lock.
Poco::Logger& logger() {
    static Poco::Logger& http = Poco::Logger::get("http");
    return http;
}

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

}  // namespace

// --- HttpRequest -------------------------------------------------------------------------

HttpRequest::HttpRequest(const IncomingRequest& raw, std::string path,
                         std::map<std::string, std::string> pathParams, std::string body,
                         std::map<std::string, std::string> query)
    : raw_(raw),
      path_(std::move(path)),
      pathParams_(std::move(pathParams)),
      query_(std::move(query)),
      body_(std::move(body)) {}

const std::string& HttpRequest::method() const { return raw_.method; }

const std::string& HttpRequest::param(const std::string& name) const {
    return pathParams_.at(name);
}

std::optional<std::string> HttpRequest::query(const std::string& name) const {
    if (auto it = query_.find(name); it != query_.end()) return it->second;
    return std::nullopt;
}

std::string HttpRequest::header(const std::string& name) const {
    return std::string(raw_.header(name));
}

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

void Router::add(Route route) {
    if (route.lane != RouteLane::Queued) lanes_[route.pattern] = route.lane;
    if (metrics_) routeMetrics_.push_back(&metrics_->route(route.method, route.pattern));
    routes_.push_back(std::move(route));
}

void Router::setMetrics(HttpMetrics& metrics) {
    metrics_ = &metrics;
    routeMetrics_.clear();
    for (const auto& route : routes_)
        routeMetrics_.push_back(&metrics.route(route.method, route.pattern));
}

RouteLane Router::laneOf(const IncomingRequest& request) const {
    if (lanes_.empty() || (request.method != "GET" && request.method != "HEAD")) return RouteLane::Queued;
    const auto it = lanes_.find(rawPathOf(request.uri));
    return it == lanes_.end() ? RouteLane::Queued : it->second;
}

Router::Dispatch Router::route(const std::string& asked, const std::string& path) const {
    Dispatch dispatch;
    const auto parts = segments(path);
    // HEAD is GET without the body (the server sends the headers alone for a HEAD).
    const std::string method = asked == "HEAD" ? std::string("GET") : asked;
    for (const auto& candidate : routes_) {
        auto params = matchPattern(candidate.pattern, parts);
        if (!params) continue;
        if (candidate.method == method) {
            dispatch.route = &candidate;
            dispatch.params = std::move(*params);
            return dispatch;
        }
        dispatch.allowedMethods.push_back(candidate.method);
        if (candidate.method == "GET") dispatch.allowedMethods.push_back("HEAD");
    }
    return dispatch;
}

HttpResponse Router::serve(const IncomingRequest& request, const std::string& requestId,
                           const Route*& matched) {
    // Route on the raw path and decode each segment on its own, so an encoded slash
    // (%2F) stays inside its segment and reaches validation instead of adding one.
    const std::string& uri = request.uri;
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
        Dispatch dispatch = route(request.method, rawPath);
        if (!dispatch.route) {
            if (!dispatch.allowedMethods.empty()) {
                std::string allowed;
                for (const auto& method : dispatch.allowedMethods) {
                    allowed += (allowed.empty() ? "" : ", ") + method;
                }
                return HttpResponse::problem(
                    405, {"method_not_allowed",
                          request.method + " is not supported on " + path,
                          "use " + allowed});
            }
            return HttpResponse::problem(
                404, {"not_found", "no route for " + request.method + " " + path,
                      "see docs/api.md for the routes agent-host serves"});
        }
        matched = dispatch.route;
        const Scope scope = dispatch.route->scope;
        if (openAccessCheck_ && auth_.isOpen() &&
            (scope == Scope::Client || scope == Scope::Admin || scope == Scope::Metrics)) {
            if (auto refused = openAccessCheck_(request)) return HttpResponse::problem(403, *refused);
        }
        switch (auth_.check(dispatch.route->scope, std::string(request.header("Authorization")))) {
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
                               : dispatch.route->scope == Scope::Metrics  ? "an admin or metrics"
                                                                          : "a client") +
                              " token",
                          dispatch.route->scope == Scope::Admin ? "use a token from auth.admin_tokens"
                          : dispatch.route->scope == Scope::Metrics
                              ? "use a token from auth.admin_tokens or auth.metrics_tokens"
                          : dispatch.route->scope == Scope::Executor
                              ? "only session workers' executors call this route"
                              : "use a token from auth.client_tokens"});
        }
        HttpRequest wrapped(request, path, std::move(dispatch.params), request.body,
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
                  "internal error while handling " + request.method + " " + path,
                  "the host is still up; see its log for request id " + requestId});
    }
}

namespace {

//! The client's X-Request-Id when it is usable, else a new one.
std::string requestIdOf(const IncomingRequest& request) {
    const std::string_view given = request.header("X-Request-Id");
    if (given.empty() || given.size() > 128) return newRequestId();
    return std::string(given);
}

}  // namespace

HttpResponse Router::handle(const IncomingRequest& request) {
    const auto started = std::chrono::steady_clock::now();
    const std::string requestId = requestIdOf(request);
    const bool refused = refusing_;
    const Route* matched = nullptr;
    HttpResponse answer =
        refused ? HttpResponse::problem(503, {"shutting_down", "agent-host is shutting down",
                                              "retry on another host, or once it is back"})
                : serve(request, requestId, matched);
    answer.close = answer.close || refused;
    answer.headers["X-Request-Id"] = requestId;
    logAccess(request, requestId, answer.status, started);
    if (metrics_) {
        RouteMetrics& slot =
            matched   ? *routeMetrics_[static_cast<std::size_t>(matched - routes_.data())]
            : refused ? metrics_->refused(request.method)
                      : metrics_->unmatched(request.method);
        slot.record(answer.status, std::chrono::steady_clock::now() - started);
    }
    return answer;
}

HttpResponse Router::refuse(const IncomingRequest& partial, const ApiError& error) {
    const auto started = std::chrono::steady_clock::now();
    const std::string requestId = requestIdOf(partial);
    HttpResponse answer = HttpResponse::problem(error.status(), error.problem());
    answer.close = true;  // what follows on the connection cannot be trusted to frame
    answer.headers["X-Request-Id"] = requestId;
    logAccess(partial, requestId, answer.status, started);
    if (metrics_) {
        metrics_->refused(partial.method)
            .record(answer.status, std::chrono::steady_clock::now() - started);
    }
    return answer;
}

void Router::logAccess(const IncomingRequest& request, const std::string& requestId, int status,
                       std::chrono::steady_clock::time_point started) const {
    const auto priority = status >= 500 ? Poco::Message::PRIO_WARNING : Poco::Message::PRIO_INFORMATION;
    if (!logger().is(priority)) return;  // a quieter log level costs nothing per request
    const double elapsedMs =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
    // Writing the line out (a file write of ~200 bytes) costs more than a probe's whole
    // answer: successful reads may be sampled. What changes state, fails or is slow is not.
    const bool sampled = accessLogSample_ > 1 && status < 400 && elapsedMs < 1000 &&
                         (request.method == "GET" || request.method == "HEAD");
    thread_local std::uint64_t reads = 0;
    if (sampled && ++reads % static_cast<std::uint64_t>(accessLogSample_) != 0) return;
    // Every request writes this line: its values are written straight as JSON, with the keys
    // in sorted order, as logRawFields takes them; no json object is built.
    constexpr std::size_t kMost = 12;
    thread_local std::array<std::string, kMost> values;
    std::array<RawLogField, kMost> fields;
    std::size_t count = 0;
    const auto add = [&](std::string_view key, const auto& write) {
        std::string& value = values[count];
        value.clear();
        write(value);
        fields[count++] = {key, value};
    };
    const auto text = [&](std::string_view key, std::string_view raw) {
        add(key, [&](std::string& value) { appendJsonString(value, raw); });
    };
    // Trace headers of host <-> executor calls, so both sides' logs join on them.
    const auto header = [&](std::string_view key, std::string_view name) {
        const std::string_view value = request.header(name);
        if (!value.empty()) text(key, value.substr(0, 200));
    };
    add("duration_ms", [&](std::string& value) {
        char digits[32];
        const auto end = std::to_chars(digits, digits + sizeof digits, elapsedMs).ptr;
        value.append(digits, end);
    });
    header("executor_id", "X-Executor-Id");
    text("method", request.method);
    header("operation", "X-Operation");
    text("path", decodeForDisplay(rawPathOf(request.uri)));
    text("request_id", requestId);
    header("run_id", "X-Run-Id");
    if (sampled) add("sampled", [&](std::string& value) { value += std::to_string(accessLogSample_); });
    header("session_id", "X-Session-Id");
    add("status", [&](std::string& value) { value += std::to_string(status); });
    header("trace_id", "X-Trace-Id");
    header("traceparent", "traceparent");
    logRawFields(logger(), priority, "request", std::span<const RawLogField>(fields.data(), count));
}

}  // namespace aw
