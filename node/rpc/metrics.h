// Metrics: counters, gauges and histograms rendered in the Prometheus text
// exposition format 0.0.4, which `GET /metrics` serves.
//
// Metrics have no labels: one name, one time series. Histograms have fixed
// bucket bounds chosen at registration. A registry owns its metrics; the
// references it hands out stay valid for the registry's lifetime.
//
// Thread safety: everything here is thread-safe. Counters and gauges are
// atomics, a histogram takes a short lock per observation (so a scrape never
// sees a count that disagrees with its buckets), and registration and
// rendering take the registry's lock. Gauge callbacks run on the thread that
// calls Render() (for the RPC server: its io_context thread).
#ifndef AGORA_NODE_RPC_METRICS_H_
#define AGORA_NODE_RPC_METRICS_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace agora::node::rpc {

// A value that only goes up (requests served, transactions committed).
class Counter {
 public:
  void Inc(uint64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
  uint64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> value_{0};
};

// A value that goes up and down (height, peers, mempool size). Integers up to
// 2^53 are represented exactly.
class Gauge {
 public:
  void Set(double v) { value_.store(v, std::memory_order_relaxed); }
  void Add(double delta);
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0.0};
};

// Counts observations into buckets with fixed upper bounds (inclusive, as
// Prometheus' `le` says), plus their sum and count.
class Histogram {
 public:
  // REQUIRES: bounds are finite and strictly increasing (checked). The +Inf
  // bucket is implicit.
  explicit Histogram(std::vector<double> bounds);

  void Observe(double value);

  struct Snapshot {
    std::vector<double> bounds;               // upper bounds, without +Inf
    std::vector<uint64_t> cumulative_counts;  // size bounds.size() + 1; last is +Inf
    double sum = 0;
    uint64_t count = 0;
  };
  Snapshot Read() const;

 private:
  const std::vector<double> bounds_;
  mutable std::mutex mu_;
  std::vector<uint64_t> counts_;  // per bucket, not cumulative; last is +Inf
  double sum_ = 0;
  uint64_t count_ = 0;
};

// Bucket bounds for latencies in seconds: 5 ms to 30 s.
std::vector<double> LatencySecondsBuckets();

class MetricsRegistry {
 public:
  // Bounds on what a registry holds, so a bug cannot grow it without end.
  static constexpr size_t kMetricsMax = 1024;
  static constexpr size_t kHistogramBucketsMax = 64;

  MetricsRegistry() = default;
  MetricsRegistry(const MetricsRegistry&) = delete;
  MetricsRegistry& operator=(const MetricsRegistry&) = delete;

  // Each Add* registers a new metric. `name` must match
  // [a-zA-Z_:][a-zA-Z0-9_:]* and not be taken; `help` is one line. A bad name,
  // a duplicate or more than kMetricsMax metrics is a bug in Agora and
  // crashes (AGORA_CHECK): metric names are fixed in code, never user input.
  Counter& AddCounter(std::string name, std::string help);
  Gauge& AddGauge(std::string name, std::string help);
  // A gauge whose value is read by calling `read` at every scrape, for values
  // another component already owns (height, peers). `read` must be safe to
  // call on the thread that renders.
  void AddGaugeFunction(std::string name, std::string help, std::function<double()> read);
  // REQUIRES: bounds as for Histogram, at most kHistogramBucketsMax of them.
  Histogram& AddHistogram(std::string name, std::string help, std::vector<double> bounds);

  // The whole registry in text format 0.0.4, metrics in registration order.
  std::string Render() const;

 private:
  enum class Kind { kCounter, kGauge, kGaugeFunction, kHistogram };
  struct Entry {
    std::string name;
    std::string help;
    Kind kind;
    std::unique_ptr<Counter> counter;
    std::unique_ptr<Gauge> gauge;
    std::function<double()> read;
    std::unique_ptr<Histogram> histogram;
  };
  Entry& AddEntry(std::string name, std::string help, Kind kind);

  mutable std::mutex mu_;
  std::vector<std::unique_ptr<Entry>> entries_;
};

// Formats a sample value as Prometheus expects: shortest round-trip decimal,
// "+Inf", "-Inf" or "NaN".
std::string FormatMetricValue(double value);

}  // namespace agora::node::rpc

#endif  // AGORA_NODE_RPC_METRICS_H_
