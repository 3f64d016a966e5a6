#include "worker/node_report.h"

#include <algorithm>
#include <ctime>

#include "common/config.h"
#include "common/json.h"

namespace swg::worker {

namespace {

// Cuts to at most `max` bytes without splitting a UTF-8 sequence (jansson refuses invalid UTF-8).
std::string CutUtf8(std::string s, size_t max) {
  if (s.size() <= max) return s;
  size_t n = max;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) n--;
  s.resize(n);
  return s;
}

// The query of a request to the nodes API ("?watch=1&resourceVersion=...&timeoutSeconds=...") changes from
// one attempt to the next: without it, the same failure is the same message, and no new write.
std::string WithoutQueries(std::string s) {
  static constexpr std::string_view kPath = "/api/v1/nodes";
  for (size_t at = s.find(kPath); at != std::string::npos; at = s.find(kPath, at + 1)) {
    size_t end = at + kPath.size();
    while (end < s.size() && s[end] != '?' && s[end] != ':' && s[end] != ' ') end++;
    if (end >= s.size() || s[end] != '?') continue;
    size_t stop = s.find_first_of(": ", end);
    s.erase(end, (stop == std::string::npos ? s.size() : stop) - end);
  }
  return s;
}

json_t* String(const std::string& s) { return json_stringn(s.data(), s.size()); }

std::string Message(const ReportInput& in, std::string_view reason) {
  if (!in.problem.empty()) return CutUtf8(WithoutQueries(in.problem), kMessageMaxBytes);
  if (reason == kReasonStarting) return "waiting for the first full sync with the remote cluster";
  std::string m = std::to_string(in.peers) + (in.peers == 1 ? " peer, " : " peers, ") +
                  std::to_string(in.fresh) + " with a fresh handshake";
  if (!in.rejected.empty()) {
    m += ", " + std::to_string(in.rejected.size()) + " remote node" + (in.rejected.size() == 1 ? "" : "s") +
         " rejected";
  }
  return m;
}

// The report's JSON, with or without "sync"; names beyond the lists' lengths are counted in "more".
std::string ReportJson(const ReportInput& in, const NodeReport& r,
                       const std::vector<std::pair<std::string, std::string>>& rejected,
                       const std::vector<std::string>& stale, uint64_t more, bool with_sync) {
  JsonPtr o(json_object());
  json_object_set_new(o.get(), "v", json_integer(1));
  json_object_set_new(o.get(), "local", String(in.local));
  json_object_set_new(o.get(), "ready", json_boolean(r.ready));
  json_object_set_new(o.get(), "reason", String(r.reason));
  json_object_set_new(o.get(), "peers", json_integer(static_cast<json_int_t>(in.peers)));
  json_object_set_new(o.get(), "fresh", json_integer(static_cast<json_int_t>(in.fresh)));
  json_t* rej = json_object();
  for (const auto& [node, code] : rejected) json_object_set_new(rej, node.c_str(), String(code));
  json_object_set_new(o.get(), "rejected", rej);
  json_t* st = json_array();
  for (const auto& node : stale) json_array_append_new(st, String(node));
  json_object_set_new(o.get(), "stale", st);
  json_object_set_new(o.get(), "more", json_integer(static_cast<json_int_t>(more)));
  if (with_sync && in.last_full_sync > 0)
    json_object_set_new(o.get(), "sync", String(Rfc3339(in.last_full_sync)));
  return JsonDump(o.get());
}

}  // namespace

std::string ConditionType(std::string_view remote) {
  std::string out = "WireGuard";
  bool start = true;
  for (char c : remote) {
    if (c == '-' || c == '.') {
      start = true;
      continue;
    }
    out += start && c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c;
    start = false;
  }
  return out + "Ready";
}

std::string ReportAnnotation(std::string_view remote) {
  return ClusterAnnotation(remote, "report");
}

std::string Rfc3339(int64_t unix_seconds) {
  std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return std::string(buf, n);
}

NodeReport BuildNodeReport(const ReportInput& in) {
  NodeReport r;
  r.condition_type = ConditionType(in.remote);
  r.annotation_key = ReportAnnotation(in.remote);
  if (!in.problem.empty()) {
    r.reason = in.problem_reason.empty() ? std::string(kReasonDegraded) : in.problem_reason;
  } else if (!in.synced) {
    r.reason = kReasonStarting;
  } else if (in.peers > 0 && in.fresh == 0) {
    r.reason = kReasonNoHandshakes;
  } else {
    r.reason = kReasonPairingReady;
  }
  r.ready = r.reason == kReasonPairingReady;
  r.message = Message(in, r.reason);

  // The first names by name, so that the same state always gives the same report.
  auto rejected = in.rejected;
  std::sort(rejected.begin(), rejected.end());
  auto stale = in.stale;
  std::sort(stale.begin(), stale.end());
  uint64_t more = 0;
  if (rejected.size() > kReportMaxNames) {
    more += rejected.size() - kReportMaxNames;
    rejected.resize(kReportMaxNames);
  }
  if (stale.size() > kReportMaxNames) {
    more += stale.size() - kReportMaxNames;
    stale.resize(kReportMaxNames);
  }
  // Long names (up to 253 bytes each) may still not fit: drop the last of the longer list until it does.
  r.annotation = ReportJson(in, r, rejected, stale, more, true);
  while (r.annotation.size() > kReportMaxBytes && (!rejected.empty() || !stale.empty())) {
    if (stale.size() >= rejected.size()) {
      stale.pop_back();
    } else {
      rejected.pop_back();
    }
    more++;
    r.annotation = ReportJson(in, r, rejected, stale, more, true);
  }
  r.compared = ReportJson(in, r, rejected, stale, more, false);
  return r;
}

std::string ConditionPatch(const NodeReport& report, int64_t heartbeat, int64_t transition) {
  JsonPtr cond(json_object());
  json_object_set_new(cond.get(), "type", String(report.condition_type));
  json_object_set_new(cond.get(), "status", json_string(report.ready ? "True" : "False"));
  json_object_set_new(cond.get(), "reason", String(report.reason));
  json_object_set_new(cond.get(), "message", String(report.message));
  json_object_set_new(cond.get(), "lastHeartbeatTime", String(Rfc3339(heartbeat)));
  json_object_set_new(cond.get(), "lastTransitionTime", String(Rfc3339(transition)));
  JsonPtr patch(json_object());
  json_t* status = json_object();
  json_t* conditions = json_array();
  json_array_append(conditions, cond.get());
  json_object_set_new(status, "conditions", conditions);
  json_object_set_new(patch.get(), "status", status);
  return JsonDump(patch.get());
}

}  // namespace swg::worker
