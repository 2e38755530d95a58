#include "metrics/metrics_registry.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <stdexcept>
#include <type_traits>
#include <variant>

namespace aw {

// --- Histogram ---------------------------------------------------------------------------

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)),
      counts_(std::make_unique<std::atomic<std::uint64_t>[]>(bounds_.size() + 1)) {
    if (!std::is_sorted(bounds_.begin(), bounds_.end())) {
        throw std::invalid_argument("histogram bounds must ascend");
    }
}

void Histogram::observe(double value) {
    // The first bucket whose bound holds the value; past the last bound: +Inf.
    const auto bucket = static_cast<std::size_t>(
        std::lower_bound(bounds_.begin(), bounds_.end(), value) - bounds_.begin());
    counts_[bucket].fetch_add(1, std::memory_order_relaxed);
    sum_.fetch_add(value, std::memory_order_relaxed);
}

std::uint64_t Histogram::cumulativeCount(std::size_t i) const {
    std::uint64_t total = 0;
    for (std::size_t b = 0; b <= i && b <= bounds_.size(); ++b) {
        total += counts_[b].load(std::memory_order_relaxed);
    }
    return total;
}

std::vector<double> latencyBuckets() {
    return {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};
}

// --- the text format ---------------------------------------------------------------------

std::string escapeLabelValue(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (const char c : text) {
        if (c == '\\') {
            out += "\\\\";
        } else if (c == '"') {
            out += "\\\"";
        } else if (c == '\n') {
            out += "\\n";
        } else {
            out += c;
        }
    }
    return out;
}

namespace {

void appendNumber(std::string& out, double value) {
    if (std::isnan(value)) {
        out += "NaN";
    } else if (std::isinf(value)) {
        out += value > 0 ? "+Inf" : "-Inf";
    } else {
        char digits[32];
        const auto end = std::to_chars(digits, digits + sizeof digits, value).ptr;
        out.append(digits, end);
    }
}

void appendNumber(std::string& out, std::uint64_t value) {
    out += std::to_string(value);
}

//! `{a="x",b="y"}` (with `extra` last, for a histogram's `le`), or nothing without labels.
void appendLabels(std::string& out, const std::vector<std::string>& names,
                  const LabelValues& values, std::string_view extraName = {},
                  std::string_view extraValue = {}) {
    if (names.empty() && extraName.empty()) return;
    out += '{';
    bool first = true;
    const auto label = [&](std::string_view name, std::string_view value) {
        if (!first) out += ',';
        first = false;
        out.append(name);
        out += "=\"";
        out += escapeLabelValue(value);
        out += '"';
    };
    for (std::size_t i = 0; i < names.size(); ++i) {
        label(names[i], i < values.size() ? std::string_view(values[i]) : std::string_view());
    }
    if (!extraName.empty()) label(extraName, extraValue);
    out += '}';
}

void appendHeader(std::string& out, const std::string& name, const std::string& help,
                  std::string_view type) {
    // HELP text escapes backslash and newline only.
    std::string escaped;
    for (const char c : help) {
        if (c == '\\') {
            escaped += "\\\\";
        } else if (c == '\n') {
            escaped += "\\n";
        } else {
            escaped += c;
        }
    }
    out += "# HELP " + name + " " + escaped + "\n";
    out += "# TYPE " + name + " ";
    out.append(type);
    out += '\n';
}

template <typename Value>
void appendSample(std::string& out, std::string_view name, const std::vector<std::string>& names,
                  const LabelValues& values, Value value, std::string_view extraName = {},
                  std::string_view extraValue = {}) {
    out.append(name);
    appendLabels(out, names, values, extraName, extraValue);
    out += ' ';
    appendNumber(out, value);
    out += '\n';
}

std::string boundText(double bound) {
    std::string text;
    appendNumber(text, bound);
    return text;
}

struct ScrapeRead {
    std::string name;
    std::string help;
    std::string type;
    std::vector<std::string> labelNames;
    std::function<std::vector<GaugeSample>()> read;
};

}  // namespace

struct MetricsRegistry::Entry {
    std::variant<std::unique_ptr<MetricFamily<Counter>>, std::unique_ptr<MetricFamily<Gauge>>,
                 std::unique_ptr<MetricFamily<Histogram>>, ScrapeRead>
        family;
};

MetricsRegistry::MetricsRegistry() {
    scrapeErrors_ =
        &counter("agent_worker_scrape_errors_total",
                 "Scrape-time reads that failed (the family had no samples then)", {"family"});
}

MetricsRegistry::~MetricsRegistry() = default;

MetricsRegistry::Entry& MetricsRegistry::add(std::string name) {
    std::lock_guard lock(mutex_);
    for (const auto& entry : entries_) {
        const bool taken = std::visit(
            [&](const auto& family) {
                if constexpr (std::is_same_v<std::decay_t<decltype(family)>, ScrapeRead>) {
                    return family.name == name;
                } else {
                    return family->name() == name;
                }
            },
            entry->family);
        if (taken) throw std::invalid_argument("metric registered twice: " + name);
    }
    entries_.push_back(std::make_unique<Entry>());
    return *entries_.back();
}

MetricFamily<Counter>& MetricsRegistry::counter(std::string name, std::string help,
                                                std::vector<std::string> labelNames) {
    auto& entry = add(name);
    auto family = std::make_unique<MetricFamily<Counter>>(
        std::move(name), std::move(help), std::move(labelNames),
        [] { return std::make_unique<Counter>(); });
    auto& result = *family;
    entry.family = std::move(family);
    return result;
}

MetricFamily<Gauge>& MetricsRegistry::gauge(std::string name, std::string help,
                                            std::vector<std::string> labelNames) {
    auto& entry = add(name);
    auto family = std::make_unique<MetricFamily<Gauge>>(std::move(name), std::move(help),
                                                        std::move(labelNames),
                                                        [] { return std::make_unique<Gauge>(); });
    auto& result = *family;
    entry.family = std::move(family);
    return result;
}

MetricFamily<Histogram>& MetricsRegistry::histogram(std::string name, std::string help,
                                                    std::vector<std::string> labelNames,
                                                    std::vector<double> bounds) {
    Histogram check(bounds);  // refuses bounds out of order here, not at first use
    auto& entry = add(name);
    auto family = std::make_unique<MetricFamily<Histogram>>(
        std::move(name), std::move(help), std::move(labelNames),
        [bounds = std::move(bounds)] { return std::make_unique<Histogram>(bounds); });
    auto& result = *family;
    entry.family = std::move(family);
    return result;
}

void MetricsRegistry::gaugeAtScrape(std::string name, std::string help,
                                    std::vector<std::string> labelNames,
                                    std::function<std::vector<GaugeSample>()> read) {
    auto& entry = add(name);
    entry.family = ScrapeRead{std::move(name), std::move(help), "gauge", std::move(labelNames),
                              std::move(read)};
}

void MetricsRegistry::counterAtScrape(std::string name, std::string help,
                                      std::vector<std::string> labelNames,
                                      std::function<std::vector<GaugeSample>()> read) {
    auto& entry = add(name);
    entry.family = ScrapeRead{std::move(name), std::move(help), "counter", std::move(labelNames),
                              std::move(read)};
}

std::string MetricsRegistry::render() const {
    std::vector<const Entry*> entries;
    {
        std::lock_guard lock(mutex_);
        for (const auto& entry : entries_) entries.push_back(entry.get());
    }
    // Scrape-time reads first: a failed one is counted in scrape errors, written below.
    std::vector<std::vector<GaugeSample>> read(entries.size());
    for (std::size_t i = 0; i < entries.size(); ++i) {
        if (const auto* scrape = std::get_if<ScrapeRead>(&entries[i]->family)) {
            try {
                read[i] = scrape->read();
            } catch (const std::exception&) {
                scrapeErrors_->with({scrape->name}).inc();
            }
        }
    }
    std::string out;
    out.reserve(8192);
    for (std::size_t i = 0; i < entries.size(); ++i) {
        const auto& family = entries[i]->family;
        if (const auto* counters = std::get_if<0>(&family)) {
            const auto& f = **counters;
            appendHeader(out, f.name(), f.help(), "counter");
            f.forEach([&](const LabelValues& values, const Counter& c) {
                appendSample(out, f.name(), f.labelNames(), values, c.value());
            });
        } else if (const auto* gauges = std::get_if<1>(&family)) {
            const auto& f = **gauges;
            appendHeader(out, f.name(), f.help(), "gauge");
            f.forEach([&](const LabelValues& values, const Gauge& g) {
                appendSample(out, f.name(), f.labelNames(), values, g.value());
            });
        } else if (const auto* histograms = std::get_if<2>(&family)) {
            const auto& f = **histograms;
            appendHeader(out, f.name(), f.help(), "histogram");
            const std::string bucket = f.name() + "_bucket";
            f.forEach([&](const LabelValues& values, const Histogram& h) {
                // Buckets are read one by one while others observe: keep them cumulative
                // and _count equal to +Inf, as readers expect, by summing one snapshot.
                std::vector<std::uint64_t> cumulative;
                for (std::size_t b = 0; b <= h.bounds().size(); ++b) {
                    cumulative.push_back(h.cumulativeCount(b));
                }
                for (std::size_t b = 1; b < cumulative.size(); ++b) {
                    cumulative[b] = std::max(cumulative[b], cumulative[b - 1]);
                }
                for (std::size_t b = 0; b < h.bounds().size(); ++b) {
                    appendSample(out, bucket, f.labelNames(), values, cumulative[b], "le",
                                 boundText(h.bounds()[b]));
                }
                appendSample(out, bucket, f.labelNames(), values, cumulative.back(), "le", "+Inf");
                appendSample(out, f.name() + "_sum", f.labelNames(), values, h.sum());
                appendSample(out, f.name() + "_count", f.labelNames(), values, cumulative.back());
            });
        } else {
            const auto& scrape = std::get<ScrapeRead>(family);
            appendHeader(out, scrape.name, scrape.help, scrape.type);
            for (const auto& sample : read[i]) {
                appendSample(out, scrape.name, scrape.labelNames, sample.labels, sample.value);
            }
        }
    }
    return out;
}

}  // namespace aw
