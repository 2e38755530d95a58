// What the HTTP router records of each request: a count by route, method and status, and
// the time to answer by route and method. Routes are the router's patterns
// (`/v1/runs/{run_id}`), never raw paths, so the label values stay few whatever clients send.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include "metrics/metrics_registry.h"

namespace aw {

class HttpMetrics;

//! One route's metrics (or those of `unmatched`/`refused` requests): looked up once per
//! route when it is added, then recorded from any thread without a lock.
class RouteMetrics {
public:
    RouteMetrics(HttpMetrics& owner, std::string method, std::string route);
    void record(int status, std::chrono::steady_clock::duration elapsed);

private:
    HttpMetrics& owner_;
    std::string method_;
    std::string route_;
    Histogram& latency_;
    //! By status code (100..599): made on the first request answered with it.
    std::array<std::atomic<Counter*>, 500> byStatus_{};
};

class HttpMetrics {
public:
    explicit HttpMetrics(MetricsRegistry& registry);

    //! The slot of `method pattern`; the same slot for the same pair (under a lock: keep it).
    RouteMetrics& route(const std::string& method, const std::string& pattern);
    //! Requests that matched no route (404, 405) and those refused before routing (400,
    //! 408, 413, 503 overloaded), by request method (GET, POST... or `other`). Under a lock,
    //! as route() is: these are the rare requests.
    RouteMetrics& unmatched(const std::string& method);
    RouteMetrics& refused(const std::string& method);

private:
    friend class RouteMetrics;
    MetricFamily<Counter>& requests_;
    MetricFamily<Histogram>& duration_;
    std::mutex mutex_;
    std::map<std::pair<std::string, std::string>, std::unique_ptr<RouteMetrics>> slots_;
};

}  // namespace aw
