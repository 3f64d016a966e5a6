#include "supervisor/tools/mesh.h"

#include <algorithm>
#include <set>

#include "common/config.h"
#include "common/json.h"
#include "common/strings.h"

namespace swg::mesh {
namespace {

constexpr size_t kMaxReportBytes = 16u << 10;  // the writer keeps it under 4 KiB
constexpr size_t kReportListBound = 32;        // entries of rejected and of stale
// The writer keeps the report within 4 KiB by dropping the last name of the longer list, and a name is at
// most 253 bytes: a shorter report whose list is under the bound dropped none of that list's names.
constexpr size_t kReportUncut = 4096 - 300;

std::string Key(const std::string& remote, const char* what) { return ClusterAnnotation(remote, what); }

std::string Get(const k8s::NodeInfo& n, const std::string& key) {
  auto it = n.annotations.find(key);
  return it == n.annotations.end() ? std::string() : it->second;
}

// The remote name of an annotation key of ours ("c2" of "c2.wireguard.semaphore.uw.io/pubKey"), or "".
std::string RemoteOf(const std::string& key) {
  size_t at = key.find(std::string(kAnnotationDomain) + "/");
  return at == std::string::npos || at == 0 ? std::string() : key.substr(0, at);
}

NodeTowards Towards(const k8s::NodeInfo& n, const std::string& other) {
  NodeTowards t;
  t.node = n.name;
  t.pub_key = Get(n, Key(other, "pubKey"));
  t.endpoint = Get(n, Key(other, "endpoint"));
  if (std::string text = Get(n, Key(other, "report")); !text.empty()) {
    Result<Report> r = ParseReport(text);
    if (r.ok())
      t.report = std::move(*r);
    else
      t.report_error = r.error().message;
  }
  std::string type = ConditionType(other);
  for (const k8s::NodeCondition& c : n.conditions) {
    if (c.type == type) t.condition = c;
  }
  return t;
}

bool Configured(const std::vector<NodeTowards>& nodes) {
  return std::any_of(nodes.begin(), nodes.end(), [](const NodeTowards& t) {
    return !t.pub_key.empty() || !t.endpoint.empty() || t.report || !t.report_error.empty();
  });
}

// Whether `name`, not in a list that may be cut (the first names by name), could be among those left out.
bool MaybeLeftOut(bool complete, size_t listed, const std::string& last, const std::string& name) {
  return !complete && (listed == 0 || name > last);
}

// `mine` (one side's nodes) as seen from the other side's reports.
void CountFromReports(std::vector<NodeTowards>& mine, const std::vector<NodeTowards>& theirs) {
  for (NodeTowards& x : mine) {
    for (const NodeTowards& y : theirs) {
      if (!y.report || !y.report->synced()) continue;
      const Report& r = *y.report;
      if (auto it = r.rejected.find(x.node); it != r.rejected.end()) {
        x.rejected_by[y.node] = it->second;
        ++x.reporters;
        continue;
      }
      if (!x.agent()) continue;  // not a peer of anyone: no key to peer with
      ++x.reporters;
      std::string last_rejected = r.rejected.empty() ? "" : r.rejected.rbegin()->first;
      if (MaybeLeftOut(r.rejected_complete, r.rejected.size(), last_rejected, x.node)) {
        x.lower_bound = true;
        continue;
      }
      ++x.peered_by;
      if (std::find(r.stale.begin(), r.stale.end(), x.node) != r.stale.end()) {
        x.stale_at.push_back(y.node);
      } else if (MaybeLeftOut(r.stale_complete, r.stale.size(), r.stale.empty() ? "" : r.stale.back(),
                              x.node)) {
        x.fresh_lower_bound = true;
      } else {
        ++x.fresh_at;
      }
    }
  }
}

bool HasPeer(const NodeTowards& x, const std::string& other) {
  return x.agent() && x.report && x.report->synced() && !x.report->rejected.count(other);
}

// Findings about one side (`mine`, in cluster `me`) towards `other`.
void SideFindings(const std::string& me, const std::string& other, const std::vector<NodeTowards>& mine,
                  std::vector<Finding>& out) {
  for (const NodeTowards& x : mine) {
    auto add = [&](std::string kind, std::string text) {
      out.push_back({std::move(kind), me, x.node, std::move(text)});
    };
    if (!x.agent()) {
      add("no_agent",
          x.node + " runs no agent for " + other + " (no pubKey annotation towards " + other + ")");
    } else if (x.endpoint.empty()) {
      add("no_agent", x.node + " advertises no endpoint towards " + other);
    }
    if (!x.report_error.empty()) {
      add("bad_report", x.node + ": its report towards " + other + " does not parse: " + x.report_error);
    } else if (x.agent() && !x.report) {
      add("no_report", x.node + " writes no report towards " + other + " (an agent without reports?)");
    }
    if (x.condition && x.condition->status == "False") {
      std::string text = x.node + ": " + x.condition->type + " False: " + x.condition->reason;
      if (!x.condition->message.empty()) text += " (" + x.condition->message + ")";
      add("not_ready", text);
    } else if (!x.condition && x.report && !x.report->ready) {
      add("not_ready", x.node + ": not ready towards " + other + ": " + x.report->reason);
    }
    for (const auto& [y, reason] : x.rejected_by) {
      if (HasPeer(x, y)) {
        add("asymmetry", x.node + " peers with " + y + ", but " + y + " rejected " + x.node + ": " + reason);
      } else {
        add("rejected", y + " rejected " + x.node + ": " + reason);
      }
    }
    for (const std::string& y : x.stale_at) {
      add("stale", y + " has no fresh handshake with " + x.node + " (none within 180 s)");
    }
  }
}

}  // namespace

Result<Report> ParseReport(const std::string& json) {
  if (json.size() > kMaxReportBytes)
    return Error{"larger than " + std::to_string(kMaxReportBytes) + " bytes"};
  json_error_t err;
  JsonPtr root(json_loadb(json.data(), json.size(), JSON_REJECT_DUPLICATES, &err));
  if (!root) return Error{std::string("not JSON: ") + err.text};
  if (!json_is_object(root.get())) return Error{"not a JSON object"};
  const json_t* v = json_object_get(root.get(), "v");
  if (!json_is_integer(v) || json_integer_value(v) != 1) return Error{"not version 1 (\"v\")"};
  Report r;
  auto str = [&](const char* key, std::string& out) {
    if (auto s = JsonString(root.get(), key)) out = std::string(*s);
  };
  auto num = [&](const char* key, int64_t& out) {
    const json_t* n = json_object_get(root.get(), key);
    if (json_is_integer(n) && json_integer_value(n) >= 0) out = static_cast<int64_t>(json_integer_value(n));
  };
  str("local", r.local);
  str("reason", r.reason);
  str("sync", r.sync);
  r.ready = json_is_true(json_object_get(root.get(), "ready"));
  num("peers", r.peers);
  num("fresh", r.fresh);
  num("more", r.more);
  if (const json_t* rej = json_object_get(root.get(), "rejected"); json_is_object(rej)) {
    const char* key;
    json_t* value;
    json_object_foreach(const_cast<json_t*>(rej), key, value) {
      r.rejected[key] = json_is_string(value) ? json_string_value(value) : "";
    }
  }
  if (const json_t* stale = json_object_get(root.get(), "stale"); json_is_array(stale)) {
    size_t i;
    json_t* value;
    json_array_foreach(stale, i, value) {
      if (json_is_string(value)) r.stale.emplace_back(json_string_value(value));
    }
    std::sort(r.stale.begin(), r.stale.end());
  }
  bool small = json.size() < kReportUncut;
  r.rejected_complete = r.more == 0 || (small && r.rejected.size() < kReportListBound);
  r.stale_complete = r.more == 0 || (small && r.stale.size() < kReportListBound);
  return r;
}

std::string ConditionType(const std::string& remote) {
  std::string out = "WireGuard";
  bool upper = true;
  for (char c : remote) {
    if (c == '-' || c == '.') {
      upper = true;
      continue;
    }
    out += upper && c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c;
    upper = false;
  }
  return out + "Ready";
}

MeshView Analyze(const std::vector<ClusterInput>& clusters) {
  MeshView view;
  std::vector<Finding>& f = view.findings;
  // Each cluster's own name, from its nodes' reports; the remotes its nodes carry annotations for.
  for (const ClusterInput& in : clusters) {
    ClusterView c;
    c.context = in.context;
    c.assumed = in.context;
    c.nodes = in.nodes.size();
    c.error = in.error;
    std::map<std::string, int> locals;
    std::set<std::string> remotes;
    for (const k8s::NodeInfo& n : in.nodes) {
      for (const auto& [key, value] : n.annotations) {
        std::string remote = RemoteOf(key);
        if (remote.empty()) continue;
        remotes.insert(remote);
        if (key == Key(remote, "report")) {
          if (Result<Report> r = ParseReport(value); r.ok() && !r->local.empty()) ++locals[r->local];
        }
      }
    }
    c.remotes.assign(remotes.begin(), remotes.end());
    if (!locals.empty()) {
      c.name = std::max_element(locals.begin(), locals.end(), [](const auto& x, const auto& y) {
                 return x.second < y.second;
               })->first;
    }
    if (!c.error.empty()) f.push_back({"list_failed", c.Name(), "", c.context + ": " + c.error});
    if (locals.size() > 1) {
      std::string names;
      for (const auto& [name, count] : locals) names += (names.empty() ? "" : ", ") + Quote(name);
      f.push_back({"name_mismatch", c.Name(), "",
                   "context " + c.context + ": its nodes' reports call the cluster by different names (" +
                       names + "): their configs disagree"});
    }
    if (c.error.empty() && remotes.empty()) {
      f.push_back(
          {"no_agent", c.Name(), "",
           "context " + c.context + ": no node carries semaphore-wireguard annotations (no agent runs)"});
    }
    view.clusters.push_back(std::move(c));
  }
  // Names: every remote a cluster's nodes know must be some other cluster's own name, and names are unique.
  for (size_t i = 0; i < view.clusters.size(); ++i) {
    const ClusterView& c = view.clusters[i];
    for (size_t j = i + 1; j < view.clusters.size(); ++j) {
      if (view.clusters[j].Name() == c.Name()) {
        f.push_back({"name_mismatch", c.Name(), "",
                     "contexts " + c.context + " and " + view.clusters[j].context + " both call themselves " +
                         Quote(c.Name())});
      }
    }
    for (const std::string& remote : c.remotes) {
      bool known = std::any_of(view.clusters.begin(), view.clusters.end(),
                               [&](const ClusterView& o) { return &o != &c && o.Name() == remote; });
      if (!known) {
        f.push_back(
            {"name_mismatch", c.Name(), "",
             c.Name() + "'s nodes are configured for a remote " + Quote(remote) +
                 " that no cluster calls itself (a name differs between configs, or its context was not "
                 "given)"});
      }
    }
  }
  // Pairs.
  for (size_t i = 0; i < clusters.size(); ++i) {
    for (size_t j = i + 1; j < clusters.size(); ++j) {
      const std::string& na = view.clusters[i].Name();
      const std::string& nb = view.clusters[j].Name();
      if (na == nb) continue;
      PairView p;
      p.a = i;
      p.b = j;
      for (const k8s::NodeInfo& n : clusters[i].nodes) p.a_nodes.push_back(Towards(n, nb));
      for (const k8s::NodeInfo& n : clusters[j].nodes) p.b_nodes.push_back(Towards(n, na));
      p.a_configured = Configured(p.a_nodes);
      p.b_configured = Configured(p.b_nodes);
      if (!p.a_configured && !p.b_configured) continue;
      if (p.a_configured != p.b_configured) {
        const std::string& yes = p.a_configured ? na : nb;
        const std::string& no = p.a_configured ? nb : na;
        if (clusters[p.a_configured ? j : i].error.empty()) {
          f.push_back({"one_sided", no, "",
                       yes + " pairs with " + no + ", but no node of " + no + " advertises towards " + yes});
        }
      } else {
        CountFromReports(p.a_nodes, p.b_nodes);
        CountFromReports(p.b_nodes, p.a_nodes);
        SideFindings(na, nb, p.a_nodes, f);
        SideFindings(nb, na, p.b_nodes, f);
      }
      view.pairs.push_back(std::move(p));
    }
  }
  // Endpoints: one node's address and port each.
  std::map<std::string, std::set<std::string>> by_endpoint;
  for (const ClusterInput& in : clusters) {
    for (const k8s::NodeInfo& n : in.nodes) {
      for (const auto& [key, value] : n.annotations) {
        if (!value.empty() && !RemoteOf(key).empty() && key == Key(RemoteOf(key), "endpoint"))
          by_endpoint[value].insert(n.name);
      }
    }
  }
  for (const auto& [endpoint, nodes] : by_endpoint) {
    if (nodes.size() < 2) continue;
    std::string names;
    for (const std::string& n : nodes) names += (names.empty() ? "" : ", ") + n;
    f.push_back({"endpoint_collision", "", "", "endpoint " + endpoint + " is advertised by " + names});
  }
  return view;
}

}  // namespace swg::mesh
