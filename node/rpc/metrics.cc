#include "node/rpc/metrics.h"

#include <charconv>
#include <cmath>
#include <utility>

#include "common/check.h"

namespace agora::node::rpc {
namespace {

bool IsValidMetricName(std::string_view name) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
    const bool digit = c >= '0' && c <= '9';
    if (!letter && !(digit && i > 0)) return false;
  }
  return true;
}

// HELP text escapes backslash and newline (exposition format 0.0.4).
std::string EscapeHelp(std::string_view help) {
  std::string out;
  out.reserve(help.size());
  for (char c : help) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

void AppendHeader(std::string& out, std::string_view name, std::string_view help,
                  std::string_view type) {
  out.append("# HELP ").append(name).append(" ").append(EscapeHelp(help)).append("\n");
  out.append("# TYPE ").append(name).append(" ").append(type).append("\n");
}

void AppendSample(std::string& out, std::string_view name, std::string_view value) {
  out.append(name).append(" ").append(value).append("\n");
}

void AppendHistogram(std::string& out, std::string_view name, const Histogram::Snapshot& s) {
  for (size_t i = 0; i <= s.bounds.size(); ++i) {
    const std::string le = i < s.bounds.size() ? FormatMetricValue(s.bounds[i]) : "+Inf";
    out.append(name).append("_bucket{le=\"").append(le).append("\"} ");
    out.append(std::to_string(s.cumulative_counts[i])).append("\n");
  }
  AppendSample(out, std::string(name) + "_sum", FormatMetricValue(s.sum));
  AppendSample(out, std::string(name) + "_count", std::to_string(s.count));
}

}  // namespace

std::string FormatMetricValue(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), value);
  AGORA_CHECK(ec == std::errc());
  return std::string(buf, end);
}

void Gauge::Add(double delta) {
  double old = value_.load(std::memory_order_relaxed);
  while (!value_.compare_exchange_weak(old, old + delta, std::memory_order_relaxed)) {
  }
}

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), counts_(bounds_.size() + 1, 0) {
  for (size_t i = 0; i < bounds_.size(); ++i) {
    AGORA_CHECK_MSG(std::isfinite(bounds_[i]), "histogram bounds must be finite");
    AGORA_CHECK_MSG(i == 0 || bounds_[i - 1] < bounds_[i],
                    "histogram bounds must be strictly increasing");
  }
}

void Histogram::Observe(double value) {
  // The first bucket whose upper bound is >= value; NaN lands in +Inf.
  size_t bucket = 0;
  while (bucket < bounds_.size() && !(value <= bounds_[bucket])) ++bucket;
  std::lock_guard lock(mu_);
  ++counts_[bucket];
  sum_ += value;
  ++count_;
}

Histogram::Snapshot Histogram::Read() const {
  Snapshot s;
  s.bounds = bounds_;
  std::lock_guard lock(mu_);
  s.cumulative_counts.resize(counts_.size());
  uint64_t running = 0;
  for (size_t i = 0; i < counts_.size(); ++i) {
    running += counts_[i];
    s.cumulative_counts[i] = running;
  }
  s.sum = sum_;
  s.count = count_;
  return s;
}

std::vector<double> LatencySecondsBuckets() {
  return {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};
}

MetricsRegistry::Entry& MetricsRegistry::AddEntry(std::string name, std::string help, Kind kind) {
  AGORA_CHECK_MSG(IsValidMetricName(name), "bad metric name: " + name);
  AGORA_CHECK_MSG(entries_.size() < kMetricsMax, "too many metrics");
  for (const auto& e : entries_) {
    AGORA_CHECK_MSG(e->name != name, "metric registered twice: " + name);
  }
  auto entry = std::make_unique<Entry>();
  entry->name = std::move(name);
  entry->help = std::move(help);
  entry->kind = kind;
  entries_.push_back(std::move(entry));
  return *entries_.back();
}

Counter& MetricsRegistry::AddCounter(std::string name, std::string help) {
  std::lock_guard lock(mu_);
  Entry& e = AddEntry(std::move(name), std::move(help), Kind::kCounter);
  e.counter = std::make_unique<Counter>();
  return *e.counter;
}

Gauge& MetricsRegistry::AddGauge(std::string name, std::string help) {
  std::lock_guard lock(mu_);
  Entry& e = AddEntry(std::move(name), std::move(help), Kind::kGauge);
  e.gauge = std::make_unique<Gauge>();
  return *e.gauge;
}

void MetricsRegistry::AddGaugeFunction(std::string name, std::string help,
                                       std::function<double()> read) {
  AGORA_CHECK(read != nullptr);
  std::lock_guard lock(mu_);
  Entry& e = AddEntry(std::move(name), std::move(help), Kind::kGaugeFunction);
  e.read = std::move(read);
}

Histogram& MetricsRegistry::AddHistogram(std::string name, std::string help,
                                         std::vector<double> bounds) {
  AGORA_CHECK_MSG(bounds.size() <= kHistogramBucketsMax, "too many histogram buckets");
  std::lock_guard lock(mu_);
  Entry& e = AddEntry(std::move(name), std::move(help), Kind::kHistogram);
  e.histogram = std::make_unique<Histogram>(std::move(bounds));
  return *e.histogram;
}

std::string MetricsRegistry::Render() const {
  std::lock_guard lock(mu_);
  std::string out;
  for (const auto& e : entries_) {
    switch (e->kind) {
      case Kind::kCounter:
        AppendHeader(out, e->name, e->help, "counter");
        AppendSample(out, e->name, std::to_string(e->counter->value()));
        break;
      case Kind::kGauge:
        AppendHeader(out, e->name, e->help, "gauge");
        AppendSample(out, e->name, FormatMetricValue(e->gauge->value()));
        break;
      case Kind::kGaugeFunction:
        AppendHeader(out, e->name, e->help, "gauge");
        AppendSample(out, e->name, FormatMetricValue(e->read()));
        break;
      case Kind::kHistogram:
        AppendHeader(out, e->name, e->help, "histogram");
        AppendHistogram(out, e->name, e->histogram->Read());
        break;
    }
  }
  return out;
}

}  // namespace agora::node::rpc
