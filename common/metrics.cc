#include "common/metrics.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "common/json.h"

namespace swg::metrics {
namespace {

std::string EscapeLabel(std::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

std::string EscapeHelp(std::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

std::string Number(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (v == std::floor(v) && std::fabs(v) < 1e15) {
    char buf[32];
    snprintf(buf, sizeof buf, "%.0f", v);
    return buf;
  }
  // The shortest text that reads back as the same double ("0.005", not "0.0050000000000000001").
  char buf[40];
  for (int precision = 6; precision <= 17; ++precision) {
    snprintf(buf, sizeof buf, "%.*g", precision, v);
    if (strtod(buf, nullptr) == v) break;
  }
  return buf;
}

std::string Labels(const Family& f, const Series& s, const std::string& extra_name = "",
                   const std::string& extra_value = "") {
  std::string out;
  for (size_t i = 0; i < f.label_names.size() && i < s.label_values.size(); ++i) {
    out += (out.empty() ? "" : ",") + f.label_names[i] + "=\"" + EscapeLabel(s.label_values[i]) + "\"";
  }
  if (!extra_name.empty()) out += (out.empty() ? "" : ",") + extra_name + "=\"" + extra_value + "\"";
  return out.empty() ? "" : "{" + out + "}";
}

const char* TypeName(Type t) {
  switch (t) {
    case Type::kCounter: return "counter";
    case Type::kGauge: return "gauge";
    case Type::kHistogram: return "histogram";
  }
  return "untyped";
}

}  // namespace

void Registry::Counter(const std::string& name, const std::string& help, std::vector<std::string> labels) {
  if (families_.count(name)) return;
  families_[name].family = Family{name, help, Type::kCounter, std::move(labels), {}, {}};
}

void Registry::Gauge(const std::string& name, const std::string& help, std::vector<std::string> labels) {
  if (families_.count(name)) return;
  families_[name].family = Family{name, help, Type::kGauge, std::move(labels), {}, {}};
}

void Registry::Histogram(const std::string& name, const std::string& help, std::vector<std::string> labels,
                         std::vector<double> buckets) {
  if (families_.count(name)) return;
  std::sort(buckets.begin(), buckets.end());
  families_[name].family = Family{name, help, Type::kHistogram, std::move(labels), std::move(buckets), {}};
}

Series& Registry::SeriesFor(const std::string& name, const std::vector<std::string>& label_values) {
  Entry& e = families_.at(name);  // using an undeclared family is a programming error
  auto [it, inserted] = e.series.try_emplace(label_values);
  if (inserted) {
    it->second.label_values = label_values;
    if (e.family.type == Type::kHistogram) it->second.bucket_counts.assign(e.family.buckets.size() + 1, 0);
  }
  return it->second;
}

void Registry::Add(const std::string& name, const std::vector<std::string>& label_values, double delta) {
  SeriesFor(name, label_values).value += delta;
}

void Registry::Set(const std::string& name, const std::vector<std::string>& label_values, double value) {
  SeriesFor(name, label_values).value = value;
}

void Registry::Observe(const std::string& name, const std::vector<std::string>& label_values, double value) {
  Series& s = SeriesFor(name, label_values);
  const auto& bounds = families_.at(name).family.buckets;
  size_t i = static_cast<size_t>(std::lower_bound(bounds.begin(), bounds.end(), value) - bounds.begin());
  s.bucket_counts[i]++;
  s.sum += value;
  s.count++;
}

void Registry::Clear(const std::string& name) { families_.at(name).series.clear(); }

double Registry::Get(const std::string& name, const std::vector<std::string>& label_values) const {
  auto it = families_.find(name);
  if (it == families_.end()) return 0;
  auto s = it->second.series.find(label_values);
  return s == it->second.series.end() ? 0 : s->second.value;
}

std::vector<Family> Registry::Snapshot() const {
  std::vector<Family> out;
  for (const auto& [name, e] : families_) {
    Family f = e.family;
    for (const auto& [labels, s] : e.series) f.series.push_back(s);
    out.push_back(std::move(f));
  }
  return out;
}

void Merge(std::vector<Family>& into, const std::vector<Family>& from) {
  for (const auto& f : from) {
    auto it = std::find_if(into.begin(), into.end(), [&](const Family& g) { return g.name == f.name; });
    if (it == into.end()) {
      into.push_back(f);
    } else if (it->type == f.type && it->label_names == f.label_names && it->buckets == f.buckets) {
      // An index, so that merging workers with thousands of peers each stays linear in the number of series.
      std::map<std::vector<std::string>, size_t> index;
      for (size_t i = 0; i < it->series.size(); ++i) index.emplace(it->series[i].label_values, i);
      for (const auto& s : f.series) {
        auto found = index.find(s.label_values);
        if (found == index.end()) {
          index.emplace(s.label_values, it->series.size());
          it->series.push_back(s);
          continue;
        }
        Series* same = &it->series[found->second];
        if (f.type == Type::kCounter) {
          // Several workers count the same thing under the same labels (failures of the watch on the local
          // cluster, requests to the local apiserver): the node's total is the sum.
          same->value += s.value;
        } else if (f.type == Type::kHistogram) {
          for (size_t i = 0; i < same->bucket_counts.size() && i < s.bucket_counts.size(); ++i) {
            same->bucket_counts[i] += s.bucket_counts[i];
          }
          same->sum += s.sum;
          same->count += s.count;
        }
        // Gauges: the first one is kept. Every gauge is labelled by its device or remote, so the same label set
        // from two workers describes the same fact (an info gauge's 1, a timestamp, a synced flag); a sum would
        // turn an info gauge's 1 into 2 and a timestamp into nonsense.
      }
    }
    // A family with the same name but a different shape cannot be merged; the first one wins.
  }
}

std::string RenderText(std::vector<Family> families) {
  std::sort(families.begin(), families.end(), [](const Family& a, const Family& b) { return a.name < b.name; });
  std::string out;
  for (auto& f : families) {
    std::sort(f.series.begin(), f.series.end(),
              [](const Series& a, const Series& b) { return a.label_values < b.label_values; });
    out += "# HELP " + f.name + " " + EscapeHelp(f.help) + "\n";
    out += "# TYPE " + f.name + " " + TypeName(f.type) + "\n";
    for (const auto& s : f.series) {
      if (f.type != Type::kHistogram) {
        out += f.name + Labels(f, s) + " " + Number(s.value) + "\n";
        continue;
      }
      uint64_t cumulative = 0;
      for (size_t i = 0; i <= f.buckets.size(); ++i) {
        cumulative += i < s.bucket_counts.size() ? s.bucket_counts[i] : 0;
        std::string le = i < f.buckets.size() ? Number(f.buckets[i]) : "+Inf";
        out += f.name + "_bucket" + Labels(f, s, "le", le) + " " + std::to_string(cumulative) + "\n";
      }
      out += f.name + "_sum" + Labels(f, s) + " " + Number(s.sum) + "\n";
      out += f.name + "_count" + Labels(f, s) + " " + std::to_string(s.count) + "\n";
    }
  }
  return out;
}

std::string ToJson(const std::vector<Family>& families) {
  JsonPtr arr(json_array());
  for (const auto& f : families) {
    json_t* jf = json_object();
    json_object_set_new(jf, "name", json_string(f.name.c_str()));
    json_object_set_new(jf, "help", json_string(f.help.c_str()));
    json_object_set_new(jf, "type", json_integer(static_cast<int>(f.type)));
    json_t* ln = json_array();
    for (const auto& l : f.label_names) json_array_append_new(ln, json_string(l.c_str()));
    json_object_set_new(jf, "labels", ln);
    json_t* b = json_array();
    for (double v : f.buckets) json_array_append_new(b, json_real(v));
    json_object_set_new(jf, "buckets", b);
    json_t* ss = json_array();
    for (const auto& s : f.series) {
      json_t* js = json_object();
      json_t* lv = json_array();
      for (const auto& v : s.label_values) json_array_append_new(lv, json_stringn(v.data(), v.size()));
      json_object_set_new(js, "l", lv);
      json_object_set_new(js, "v", json_real(s.value));
      if (f.type == Type::kHistogram) {
        json_t* bc = json_array();
        for (uint64_t c : s.bucket_counts) json_array_append_new(bc, json_integer(static_cast<json_int_t>(c)));
        json_object_set_new(js, "b", bc);
        json_object_set_new(js, "s", json_real(s.sum));
        json_object_set_new(js, "c", json_integer(static_cast<json_int_t>(s.count)));
      }
      json_array_append_new(ss, js);
    }
    json_object_set_new(jf, "series", ss);
    json_array_append_new(arr.get(), jf);
  }
  return JsonDump(arr.get());
}

bool FromJson(std::string_view text, std::vector<Family>* out, std::string* error) {
  json_error_t err;
  JsonPtr root(json_loadb(text.data(), text.size(), 0, &err));
  if (!root) {
    *error = std::string("metrics: ") + err.text;
    return false;
  }
  return FromJsonValue(root.get(), out, error);
}

bool FromJsonValue(const json_t* root, std::vector<Family>* out, std::string* error) {
  if (!json_is_array(root)) {
    *error = "metrics: expected an array";
    return false;
  }
  out->clear();
  size_t i;
  json_t* jf;
  json_array_foreach(const_cast<json_t*>(root), i, jf) {
    Family f;
    auto name = JsonString(jf, "name");
    json_t* type = json_object_get(jf, "type");
    if (!name || !json_is_integer(type) || json_integer_value(type) < 0 || json_integer_value(type) > 2) {
      *error = "metrics: a family without a name or type";
      return false;
    }
    f.name = std::string(*name);
    f.help = std::string(JsonString(jf, "help").value_or(""));
    f.type = static_cast<Type>(json_integer_value(type));
    size_t j;
    json_t* v;
    json_array_foreach(json_object_get(jf, "labels"), j, v) f.label_names.emplace_back(json_string_value(v) ?: "");
    json_array_foreach(json_object_get(jf, "buckets"), j, v) f.buckets.push_back(json_number_value(v));
    json_t* js;
    json_array_foreach(json_object_get(jf, "series"), j, js) {
      Series s;
      size_t k;
      json_array_foreach(json_object_get(js, "l"), k, v) {
        s.label_values.emplace_back(json_string_value(v) ?: "", json_string_value(v) ? json_string_length(v) : 0);
      }
      s.value = json_number_value(json_object_get(js, "v"));
      json_array_foreach(json_object_get(js, "b"), k, v) {
        s.bucket_counts.push_back(static_cast<uint64_t>(json_integer_value(v)));
      }
      s.sum = json_number_value(json_object_get(js, "s"));
      s.count = static_cast<uint64_t>(json_integer_value(json_object_get(js, "c")));
      if (s.label_values.size() != f.label_names.size() ||
          (f.type == Type::kHistogram && s.bucket_counts.size() != f.buckets.size() + 1)) {
        *error = "metrics: series of " + f.name + " does not match its family";
        return false;
      }
      f.series.push_back(std::move(s));
    }
    out->push_back(std::move(f));
  }
  return true;
}

}  // namespace swg::metrics
