// The metrics registry on its own: what it writes (checked by promtool as well as by eye),
// histogram buckets, label escaping, HTTP route slots, event latency bookkeeping, and that
// counting from many threads loses nothing.
#include <gtest/gtest.h>

#include <stdexcept>
#include <thread>

#include "metrics/event_latency.h"
#include "metrics/http_metrics.h"
#include "metrics/metrics_registry.h"
#include "metrics/promtool.h"

namespace aw {
namespace {

using namespace std::chrono_literals;
using test::parseSamples;
using test::promtoolCheck;

TEST(MetricsRegistry, WritesTheTextFormatThatPromtoolAccepts) {
    MetricsRegistry registry;
    registry.counter("aw_test_things_total", "Things done", {"kind"}).with({"a"}).inc(3);
    registry.gauge("aw_test_level", "A level").with().set(2.5);
    auto& latency = registry.histogram("aw_test_latency_seconds", "Latency", {"route"}, {0.1, 1});
    latency.with({"/x/{id}"}).observe(0.05);
    latency.with({"/x/{id}"}).observe(0.5);
    latency.with({"/x/{id}"}).observe(7);
    registry.gaugeAtScrape("aw_test_rows", "Rows by status", {"status"}, [] {
        return std::vector<GaugeSample>{{{"queued"}, 4}, {{"done"}, 1}};
    });

    const std::string text = registry.render();
    const auto verdict = promtoolCheck(text);
    EXPECT_EQ(verdict.exitCode, 0) << verdict.output << "\n" << text;
    EXPECT_EQ(verdict.output, "") << "promtool lint findings:\n" << text;

    EXPECT_NE(text.find("# TYPE aw_test_things_total counter\n"), std::string::npos) << text;
    EXPECT_NE(text.find("# TYPE aw_test_latency_seconds histogram\n"), std::string::npos) << text;
    const auto samples = parseSamples(text);
    EXPECT_EQ(samples.at("aw_test_things_total{kind=\"a\"}"), 3);
    EXPECT_EQ(samples.at("aw_test_level"), 2.5);
    // Buckets are cumulative; +Inf and _count hold every observation.
    EXPECT_EQ(samples.at("aw_test_latency_seconds_bucket{route=\"/x/{id}\",le=\"0.1\"}"), 1);
    EXPECT_EQ(samples.at("aw_test_latency_seconds_bucket{route=\"/x/{id}\",le=\"1\"}"), 2);
    EXPECT_EQ(samples.at("aw_test_latency_seconds_bucket{route=\"/x/{id}\",le=\"+Inf\"}"), 3);
    EXPECT_EQ(samples.at("aw_test_latency_seconds_count{route=\"/x/{id}\"}"), 3);
    EXPECT_DOUBLE_EQ(samples.at("aw_test_latency_seconds_sum{route=\"/x/{id}\"}"), 7.55);
    EXPECT_EQ(samples.at("aw_test_rows{status=\"queued\"}"), 4);
}

TEST(MetricsRegistry, AValueOnABucketBoundCountsInThatBucket) {
    Histogram histogram({0.1, 1});
    histogram.observe(0.1);
    histogram.observe(1);
    EXPECT_EQ(histogram.cumulativeCount(0), 1u);
    EXPECT_EQ(histogram.cumulativeCount(1), 2u);
    EXPECT_EQ(histogram.cumulativeCount(2), 2u);
}

TEST(MetricsRegistry, LabelValuesAreEscaped) {
    MetricsRegistry registry;
    registry.counter("aw_test_odd_total", "Odd labels", {"value"})
        .with({"a \"quoted\" back\\slash\nnewline"})
        .inc();
    const std::string text = registry.render();
    EXPECT_NE(text.find("aw_test_odd_total{value=\"a \\\"quoted\\\" back\\\\slash\\nnewline\"} 1"),
              std::string::npos)
        << text;
    EXPECT_EQ(promtoolCheck(text).exitCode, 0) << promtoolCheck(text).output << text;
}

TEST(MetricsRegistry, ANameRegisteredTwiceIsRefused) {
    MetricsRegistry registry;
    registry.counter("aw_test_once_total", "Once");
    EXPECT_THROW(registry.gauge("aw_test_once_total", "Twice"), std::invalid_argument);
    EXPECT_THROW(registry.histogram("aw_test_h", "Unsorted", {}, {1, 0.5}), std::invalid_argument);
}

TEST(MetricsRegistry, AFailingScrapeReadIsCountedAndTheRestIsWritten) {
    MetricsRegistry registry;
    registry.gaugeAtScrape("aw_test_broken", "Always fails", {},
                           []() -> std::vector<GaugeSample> { throw std::runtime_error("down"); });
    registry.gauge("aw_test_fine", "Fine").with().set(1);
    const auto samples = parseSamples(registry.render());
    EXPECT_EQ(samples.at("aw_test_fine"), 1);
    EXPECT_EQ(samples.count("aw_test_broken"), 0u);
    EXPECT_EQ(samples.at("agent_worker_scrape_errors_total{family=\"aw_test_broken\"}"), 1);
}

TEST(MetricsRegistry, CountsFromManyThreadsAreAllKept) {
    MetricsRegistry registry;
    auto& counter = registry.counter("aw_test_hits_total", "Hits").with();
    auto& histogram = registry.histogram("aw_test_h_seconds", "H", {}, {0.5}).with();
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t) {
        threads.emplace_back([&] {
            for (int i = 0; i < 10000; ++i) {
                counter.inc();
                histogram.observe(i % 2 == 0 ? 0.25 : 1.0);
            }
        });
    }
    for (auto& thread : threads) thread.join();
    EXPECT_EQ(counter.value(), 80000u);
    EXPECT_EQ(histogram.cumulativeCount(0), 40000u);
    EXPECT_EQ(histogram.cumulativeCount(1), 80000u);
    EXPECT_DOUBLE_EQ(histogram.sum(), 40000 * 0.25 + 40000 * 1.0);
}

TEST(HttpMetricsTest, RequestsAreCountedByRoutePatternAndStatus) {
    MetricsRegistry registry;
    HttpMetrics http(registry);
    auto& run = http.route("GET", "/v1/runs/{rid}");
    EXPECT_EQ(&run, &http.route("GET", "/v1/runs/{rid}"));
    run.record(200, 2ms);
    run.record(200, 3ms);
    run.record(404, 1ms);
    http.unmatched("BREW").record(404, 1ms);
    http.refused("POST").record(413, 1ms);
    const std::string text = registry.render();
    const auto samples = parseSamples(text);
    EXPECT_EQ(
        samples.at(
            R"(agent_worker_http_requests_total{route="/v1/runs/{rid}",method="GET",status="200"})"),
        2);
    EXPECT_EQ(
        samples.at(
            R"(agent_worker_http_requests_total{route="/v1/runs/{rid}",method="GET",status="404"})"),
        1);
    EXPECT_EQ(
        samples.at(
            R"(agent_worker_http_requests_total{route="unmatched",method="other",status="404"})"),
        1);
    EXPECT_EQ(
        samples.at(
            R"(agent_worker_http_requests_total{route="refused",method="POST",status="413"})"),
        1);
    EXPECT_EQ(
        samples.at(
            R"(agent_worker_http_request_duration_seconds_count{route="/v1/runs/{rid}",method="GET"})"),
        3);
    EXPECT_EQ(promtoolCheck(text).exitCode, 0) << promtoolCheck(text).output << text;
}

TEST(EventLatencyTest, TimesEachCallbackToItsStoredEventsAndToTheirStream) {
    MetricsRegistry registry;
    EventLatency latency(registry);
    const auto arrival = EventLatency::Clock::now() - 20ms;
    latency.arrived({"r1"}, arrival);
    latency.arrived({"r1"}, arrival + 5ms);  // not stored yet: the earlier one is timed
    latency.stored("r1", 4);
    latency.stored("r1", 6);    // the host's own events: no callback to time
    latency.stored("r2", 1);    // no callback ever
    latency.streamed("r1", 3);  // not yet up to the batch
    latency.streamed("r1", 6);
    latency.streamed("r1", 6);  // a second write of the same events times nothing
    auto samples = parseSamples(registry.render());
    EXPECT_EQ(samples.at("agent_worker_event_store_latency_seconds_count"), 1);
    EXPECT_GE(samples.at("agent_worker_event_store_latency_seconds_sum"), 0.020);
    EXPECT_EQ(samples.at("agent_worker_event_stream_latency_seconds_count"), 1);
    EXPECT_GE(samples.at("agent_worker_event_stream_latency_seconds_sum"),
              samples.at("agent_worker_event_store_latency_seconds_sum"));

    // A refused batch leaves nothing behind to time later.
    latency.arrived({"r3"}, arrival);
    latency.withdrawn({"r3"}, arrival);
    latency.stored("r3", 2);
    samples = parseSamples(registry.render());
    EXPECT_EQ(samples.at("agent_worker_event_store_latency_seconds_count"), 1);
}

TEST(EventLatencyTest, FollowsABoundedNumberOfRuns) {
    MetricsRegistry registry;
    EventLatency latency(registry);
    const auto now = EventLatency::Clock::now();
    for (std::size_t i = 0; i < EventLatency::kMostRuns + 10; ++i) {
        latency.arrived({"run-" + std::to_string(i)}, now);
    }
    // The first runs were dropped: their events are not timed; the latest ones are.
    latency.stored("run-0", 1);
    latency.stored("run-" + std::to_string(EventLatency::kMostRuns + 9), 1);
    EXPECT_EQ(parseSamples(registry.render()).at("agent_worker_event_store_latency_seconds_count"),
              1);
}

}  // namespace
}  // namespace aw
