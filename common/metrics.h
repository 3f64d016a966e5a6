#pragma once
// A small Prometheus metrics registry. Workers keep one each and send a snapshot to the supervisor, which
// merges the snapshots of all workers with its own and renders the text exposition format (version 0.0.4).

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

struct json_t;

namespace swg::metrics {

enum class Type { kCounter, kGauge, kHistogram };

struct Series {
  std::vector<std::string> label_values;  // in the family's label order
  double value = 0;                       // counter or gauge
  std::vector<uint64_t> bucket_counts;    // histogram: per bucket (not cumulative), then +Inf last
  double sum = 0;                         // histogram
  uint64_t count = 0;                     // histogram
};

struct Family {
  std::string name;
  std::string help;
  Type type = Type::kGauge;
  std::vector<std::string> label_names;
  std::vector<double> buckets;  // histogram upper bounds, ascending, without +Inf
  std::vector<Series> series;   // sorted by label values in a snapshot
};

class Registry {
 public:
  // Declares a family; declaring the same name again with the same shape is a no-op.
  void Counter(const std::string& name, const std::string& help, std::vector<std::string> labels);
  void Gauge(const std::string& name, const std::string& help, std::vector<std::string> labels);
  void Histogram(const std::string& name, const std::string& help, std::vector<std::string> labels,
                 std::vector<double> buckets);

  void Add(const std::string& name, const std::vector<std::string>& label_values, double delta = 1);
  void Set(const std::string& name, const std::vector<std::string>& label_values, double value);
  void Observe(const std::string& name, const std::vector<std::string>& label_values, double value);
  // Drops all series of a family (for gauges rebuilt from the current state, such as per-peer info).
  void Clear(const std::string& name);
  double Get(const std::string& name, const std::vector<std::string>& label_values) const;

  std::vector<Family> Snapshot() const;

 private:
  struct Entry {
    Family family;
    std::map<std::vector<std::string>, Series> series;
  };
  Series& SeriesFor(const std::string& name, const std::vector<std::string>& label_values);
  std::map<std::string, Entry> families_;
};

// Merges `from` into `into`: families with the same name are combined. Series with the same label values are
// summed for counters and histograms (bucket by bucket); for gauges the first one is kept.
void Merge(std::vector<Family>& into, const std::vector<Family>& from);

// Prometheus text format, families sorted by name, series by label values.
std::string RenderText(std::vector<Family> families);

// Lossless JSON round trip for the worker -> supervisor channel.
std::string ToJson(const std::vector<Family>& families);
bool FromJson(std::string_view json, std::vector<Family>* out, std::string* error);
// The same from an already parsed value (the supervisor parses each message once).
bool FromJsonValue(const json_t* value, std::vector<Family>* out, std::string* error);

}  // namespace swg::metrics
