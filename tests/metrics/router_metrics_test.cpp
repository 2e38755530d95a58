// The router's request metrics in-process (Router::handle, no server): labelled by route
// pattern whatever the path holds, refusals included, bounded for unknown paths and methods;
// and the metrics scope of TokenAuth.
#include <gtest/gtest.h>

#include "http/router.h"
#include "metrics/http_metrics.h"
#include "metrics/metrics_registry.h"
#include "metrics/promtool.h"

namespace aw {
namespace {

using test::parseSamples;

IncomingRequest request(std::string method, std::string uri, std::string token = "") {
    IncomingRequest incoming;
    incoming.method = std::move(method);
    incoming.uri = std::move(uri);
    incoming.version = "HTTP/1.1";
    if (!token.empty()) incoming.headers.emplace_back("Authorization", "Bearer " + token);
    return incoming;
}

HttpResponse ok(const HttpRequest&) {
    return HttpResponse::json(200, {{"ok", true}});
}

class RouterMetrics : public ::testing::Test {
protected:
    RouterMetrics() : router_(TokenAuth({"client"}, {"admin"}), 1024), http_(registry_) {
        router_.add({"GET", "/v1/things/{id}", Scope::Client, ok});
        router_.setMetrics(http_);
        router_.add({"GET", "/metrics", Scope::Metrics, ok});  // added after: counted too
    }

    std::map<std::string, double> samples() { return parseSamples(registry_.render()); }

    MetricsRegistry registry_;
    Router router_;
    HttpMetrics http_;
};

TEST_F(RouterMetrics, RequestsAreLabelledByRoutePatternNeverByPath) {
    for (const char* id : {"alpha", "beta", "secret-session-id"}) {
        EXPECT_EQ(router_.handle(request("GET", std::string("/v1/things/") + id, "client")).status,
                  200);
    }
    EXPECT_EQ(router_.handle(request("HEAD", "/v1/things/alpha", "client")).status, 200);
    EXPECT_EQ(router_.handle(request("GET", "/v1/things/alpha")).status, 401);
    EXPECT_EQ(router_.handle(request("GET", "/metrics", "admin")).status, 200);

    const auto text = registry_.render();
    EXPECT_EQ(text.find("secret-session-id"), std::string::npos) << text;
    EXPECT_EQ(text.find("alpha"), std::string::npos) << text;
    const auto counts = samples();
    // HEAD is served by the GET route and counted as it.
    EXPECT_EQ(
        counts.at(
            R"(agent_worker_http_requests_total{route="/v1/things/{id}",method="GET",status="200"})"),
        4);
    EXPECT_EQ(
        counts.at(
            R"(agent_worker_http_requests_total{route="/v1/things/{id}",method="GET",status="401"})"),
        1);
    EXPECT_EQ(
        counts.at(
            R"(agent_worker_http_request_duration_seconds_count{route="/v1/things/{id}",method="GET"})"),
        5);
    EXPECT_EQ(
        counts.at(
            R"(agent_worker_http_requests_total{route="/metrics",method="GET",status="200"})"),
        1);
}

TEST_F(RouterMetrics, UnknownPathsAndMethodsAddNoLabelValues) {
    for (int i = 0; i < 50; ++i) {
        router_.handle(request("GET", "/nowhere/" + std::to_string(i)));
        router_.handle(request("BREW" + std::to_string(i), "/v1/things/x", "client"));
    }
    router_.refuse(request("POST", "/v1/things/x"),
                   ApiError(413, {"body_too_large", "too large", "send less"}));
    const auto text = registry_.render();
    const auto counts = samples();
    EXPECT_EQ(
        counts.at(
            R"(agent_worker_http_requests_total{route="unmatched",method="GET",status="404"})"),
        50);
    EXPECT_EQ(
        counts.at(
            R"(agent_worker_http_requests_total{route="unmatched",method="other",status="405"})"),
        50);
    EXPECT_EQ(
        counts.at(
            R"(agent_worker_http_requests_total{route="refused",method="POST",status="413"})"),
        1);
    EXPECT_EQ(text.find("nowhere"), std::string::npos) << text;
    EXPECT_EQ(text.find("BREW"), std::string::npos) << text;
}

TEST(MetricsScope, AdminAndMetricsTokensMayScrapeAndNothingElseMay) {
    TokenAuth auth({"client"}, {"admin"}, {"executor"});
    auth.setMetricsTokens({"scraper"});
    EXPECT_EQ(auth.check(Scope::Metrics, "Bearer admin"), AuthOutcome::Allowed);
    EXPECT_EQ(auth.check(Scope::Metrics, "Bearer scraper"), AuthOutcome::Allowed);
    EXPECT_EQ(auth.check(Scope::Metrics, "Bearer client"), AuthOutcome::WrongScope);
    EXPECT_EQ(auth.check(Scope::Metrics, "Bearer executor"), AuthOutcome::WrongScope);
    EXPECT_EQ(auth.check(Scope::Metrics, "Bearer nobody"), AuthOutcome::UnknownToken);
    EXPECT_EQ(auth.check(Scope::Metrics, ""), AuthOutcome::MissingToken);
    // The metrics token opens no other scope.
    EXPECT_EQ(auth.check(Scope::Admin, "Bearer scraper"), AuthOutcome::WrongScope);
    EXPECT_EQ(auth.check(Scope::Client, "Bearer scraper"), AuthOutcome::WrongScope);
    EXPECT_EQ(auth.check(Scope::Executor, "Bearer scraper"), AuthOutcome::WrongScope);
}

}  // namespace
}  // namespace aw
