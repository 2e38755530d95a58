#include "metrics/http_metrics.h"

namespace aw {
namespace {

//! A method label of a request that matched no route: only the methods HTTP defines, so a
//! client inventing methods adds no label values.
std::string knownMethod(const std::string& method) {
    for (const char* known : {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}) {
        if (method == known) return method;
    }
    return "other";
}

}  // namespace

HttpMetrics::HttpMetrics(MetricsRegistry& registry)
    : requests_(registry.counter("agent_worker_http_requests_total",
                                 "HTTP requests answered, by route pattern, method and status",
                                 {"route", "method", "status"})),
      duration_(registry.histogram(
          "agent_worker_http_request_duration_seconds",
          "Time from a request's arrival at the router to its answer (an event stream's: "
          "to its headers), by route pattern and method",
          {"route", "method"}, latencyBuckets())) {}

RouteMetrics::RouteMetrics(HttpMetrics& owner, std::string method, std::string route)
    : owner_(owner),
      method_(std::move(method)),
      route_(std::move(route)),
      latency_(owner.duration_.with({route_, method_})) {}

void RouteMetrics::record(int status, std::chrono::steady_clock::duration elapsed) {
    latency_.observe(std::chrono::duration<double>(elapsed).count());
    if (status < 100 || status > 599) status = 599;  // never: the server only sends these
    auto& slot = byStatus_[static_cast<std::size_t>(status - 100)];
    Counter* counter = slot.load(std::memory_order_acquire);
    if (!counter) {
        // First answer with this status: the family's lock, once; racing threads get the
        // same child.
        counter = &owner_.requests_.with({route_, method_, std::to_string(status)});
        slot.store(counter, std::memory_order_release);
    }
    counter->inc();
}

RouteMetrics& HttpMetrics::route(const std::string& method, const std::string& pattern) {
    std::lock_guard lock(mutex_);
    auto& slot = slots_[{method, pattern}];
    if (!slot) slot = std::make_unique<RouteMetrics>(*this, method, pattern);
    return *slot;
}

RouteMetrics& HttpMetrics::unmatched(const std::string& method) {
    return route(knownMethod(method), "unmatched");
}

RouteMetrics& HttpMetrics::refused(const std::string& method) {
    return route(knownMethod(method), "refused");
}

}  // namespace aw
