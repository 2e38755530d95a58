// A small Prometheus metrics registry: counters, gauges and histograms with fixed buckets,
// in families that share a name and label names, written out in the text exposition format.
// Recording is atomics only: a family's child is looked up (under a lock) once and kept by
// the caller, so the hot paths (HTTP requests, events) never take a lock to count. Gauges
// that are database state are read at scrape time by collectors instead.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace aw {

class Counter {
public:
    void inc(std::uint64_t by = 1) { value_.fetch_add(by, std::memory_order_relaxed); }
    std::uint64_t value() const { return value_.load(std::memory_order_relaxed); }

private:
    std::atomic<std::uint64_t> value_{0};
};

class Gauge {
public:
    void set(double value) { value_.store(value, std::memory_order_relaxed); }
    void add(double by) { value_.fetch_add(by, std::memory_order_relaxed); }
    double value() const { return value_.load(std::memory_order_relaxed); }

private:
    std::atomic<double> value_{0};
};

class Histogram {
public:
    //! `bounds`: the buckets' upper bounds, ascending (+Inf is implied).
    explicit Histogram(std::vector<double> bounds);
    void observe(double value);

    const std::vector<double>& bounds() const { return bounds_; }
    //! Observations <= bounds()[i] (cumulative, as exposed); i == bounds().size() is +Inf.
    std::uint64_t cumulativeCount(std::size_t i) const;
    double sum() const { return sum_.load(std::memory_order_relaxed); }

private:
    std::vector<double> bounds_;
    std::unique_ptr<std::atomic<std::uint64_t>[]> counts_;  //!< per bucket, not cumulative
    std::atomic<double> sum_{0};
};

//! Buckets for latencies in seconds, 0.5 ms to 30 s.
std::vector<double> latencyBuckets();

//! One value of each label, in the family's label order.
using LabelValues = std::vector<std::string>;

//! A metric name with its help, type and label names, and one child per label values.
template <typename Metric>
class MetricFamily {
public:
    MetricFamily(std::string name, std::string help, std::vector<std::string> labelNames,
                 std::function<std::unique_ptr<Metric>()> make)
        : name_(std::move(name)),
          help_(std::move(help)),
          labelNames_(std::move(labelNames)),
          make_(std::move(make)) {}

    //! The child for these label values, made on first use. Takes a lock: look it up once
    //! and keep the reference (children live as long as the registry).
    Metric& with(const LabelValues& values = {}) {
        std::lock_guard lock(mutex_);
        auto& child = children_[values];
        if (!child) child = make_();
        return *child;
    }

    const std::string& name() const { return name_; }
    const std::string& help() const { return help_; }
    const std::vector<std::string>& labelNames() const { return labelNames_; }
    //! Calls `visit(labelValues, metric)` for each child, in label order.
    template <typename Visit>
    void forEach(Visit&& visit) const {
        std::lock_guard lock(mutex_);
        for (const auto& [values, metric] : children_) visit(values, *metric);
    }

private:
    std::string name_;
    std::string help_;
    std::vector<std::string> labelNames_;
    std::function<std::unique_ptr<Metric>()> make_;
    mutable std::mutex mutex_;
    std::map<LabelValues, std::unique_ptr<Metric>> children_;
};

//! A gauge family whose samples are read when scraped (database counts, provider states).
struct GaugeSample {
    LabelValues labels;
    double value = 0;
};

class MetricsRegistry {
public:
    MetricsRegistry();
    ~MetricsRegistry();
    MetricsRegistry(const MetricsRegistry&) = delete;
    MetricsRegistry& operator=(const MetricsRegistry&) = delete;

    MetricFamily<Counter>& counter(std::string name, std::string help,
                                   std::vector<std::string> labelNames = {});
    MetricFamily<Gauge>& gauge(std::string name, std::string help,
                               std::vector<std::string> labelNames = {});
    MetricFamily<Histogram>& histogram(std::string name, std::string help,
                                       std::vector<std::string> labelNames,
                                       std::vector<double> bounds);
    //! `read` is called on each scrape; when it throws, the family has no samples that time
    //! and agent_worker_scrape_errors_total{family} counts it.
    void gaugeAtScrape(std::string name, std::string help, std::vector<std::string> labelNames,
                       std::function<std::vector<GaugeSample>()> read);
    //! The same for a counter whose total is kept elsewhere (a provider's restarts).
    void counterAtScrape(std::string name, std::string help, std::vector<std::string> labelNames,
                         std::function<std::vector<GaugeSample>()> read);

    //! Every family in the Prometheus text exposition format (version 0.0.4).
    std::string render() const;

private:
    struct Entry;
    Entry& add(std::string name);

    mutable std::mutex mutex_;
    std::vector<std::unique_ptr<Entry>> entries_;  //!< in registration order
    MetricFamily<Counter>* scrapeErrors_ = nullptr;
};

//! `text` escaped for a label value (backslash, double quote, newline).
std::string escapeLabelValue(std::string_view text);

}  // namespace aw
