// `semaphore-wireguard mesh` output: a table per cluster pair with the findings, JSON, Graphviz (pure).

#include <algorithm>

#include "common/json.h"
#include "common/strings.h"
#include "supervisor/tools/mesh.h"

namespace swg::mesh {
namespace {

std::string NameText(const ClusterView& c) {
  return c.name.empty() ? "unknown (no reports; taken as " + Quote(c.assumed) + ")" : c.name;
}

std::string Short(const std::string& key) { return key.size() > 10 ? key.substr(0, 10) + "..." : key; }

std::string Count(int n, int of, bool lower_bound) {
  if (of == 0) return "?";
  return (lower_bound ? ">=" : "") + std::to_string(n) + "/" + std::to_string(of);
}

std::string OwnReport(const NodeTowards& t) {
  if (!t.report_error.empty()) return "bad report";
  if (!t.report) return t.agent() ? "no report" : "no agent";
  const Report& r = *t.report;
  std::string s = (r.ready ? "ready " : "not ready ") + r.reason + ": " + std::to_string(r.peers) +
                  " peers, " + std::to_string(r.fresh) + " fresh";
  if (!r.rejected.empty()) s += ", " + std::to_string(r.rejected.size()) + " rejected";
  if (!r.synced()) s += ", not synced";
  return s;
}

// Rows of columns, left-aligned, two spaces apart. Cells come from Nodes that any node of a cluster can
// write: control characters are escaped so that they cannot forge lines or reach the terminal.
std::string Table(std::vector<std::vector<std::string>> rows, const std::string& indent) {
  for (auto& row : rows) {
    for (std::string& cell : row) cell = EscapeControl(cell);
  }
  std::vector<size_t> width;
  for (const auto& row : rows) {
    width.resize(std::max(width.size(), row.size()));
    for (size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], row[i].size());
  }
  std::string out;
  for (const auto& row : rows) {
    std::string line = indent;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(width[i] - row[i].size() + 2, ' ');
    }
    out += line + "\n";
  }
  return out;
}

void Side(const std::string& me, const std::string& other, const std::vector<NodeTowards>& nodes,
          bool configured, std::string& out) {
  out += "  " + me + " towards " + other + ":";
  if (!configured) {
    out += " no node advertises towards " + other + "\n";
    return;
  }
  out += "\n";
  std::vector<std::vector<std::string>> rows = {
      {"NODE", "PUBKEY", "ENDPOINT", "PEERED BY " + other, "FRESH", "ITS REPORT"}};
  for (const NodeTowards& t : nodes) {
    rows.push_back({t.node, t.pub_key.empty() ? "-" : Short(t.pub_key), t.endpoint.empty() ? "-" : t.endpoint,
                    t.agent() ? Count(t.peered_by, t.reporters, t.lower_bound) : "-",
                    t.agent() ? Count(t.fresh_at, t.peered_by, t.fresh_lower_bound) : "-", OwnReport(t)});
  }
  out += Table(rows, "    ");
}

json_t* NodeJson(const NodeTowards& t) {
  json_t* n = json_object();
  json_object_set_new(n, "node", json_string(t.node.c_str()));
  json_object_set_new(n, "pubKey", json_string(t.pub_key.c_str()));
  json_object_set_new(n, "endpoint", json_string(t.endpoint.c_str()));
  json_object_set_new(n, "agent", json_boolean(t.agent()));
  json_object_set_new(n, "peeredBy", json_integer(t.peered_by));
  json_object_set_new(n, "reporters", json_integer(t.reporters));
  json_object_set_new(n, "lowerBound", json_boolean(t.lower_bound));
  json_object_set_new(n, "freshAt", json_integer(t.fresh_at));
  json_object_set_new(n, "freshLowerBound", json_boolean(t.fresh_lower_bound));
  json_t* rejected = json_object();
  for (const auto& [node, reason] : t.rejected_by)
    json_object_set_new(rejected, node.c_str(), json_string(reason.c_str()));
  json_object_set_new(n, "rejectedBy", rejected);
  json_t* stale = json_array();
  for (const std::string& s : t.stale_at) json_array_append_new(stale, json_string(s.c_str()));
  json_object_set_new(n, "staleAt", stale);
  if (t.report) {
    json_t* r = json_object();
    json_object_set_new(r, "local", json_string(t.report->local.c_str()));
    json_object_set_new(r, "ready", json_boolean(t.report->ready));
    json_object_set_new(r, "reason", json_string(t.report->reason.c_str()));
    json_object_set_new(r, "peers", json_integer(t.report->peers));
    json_object_set_new(r, "fresh", json_integer(t.report->fresh));
    json_object_set_new(r, "more", json_integer(t.report->more));
    json_object_set_new(r, "sync", json_string(t.report->sync.c_str()));
    json_object_set_new(n, "report", r);
  }
  if (!t.report_error.empty()) json_object_set_new(n, "reportError", json_string(t.report_error.c_str()));
  if (t.condition) {
    json_t* c = json_object();
    json_object_set_new(c, "type", json_string(t.condition->type.c_str()));
    json_object_set_new(c, "status", json_string(t.condition->status.c_str()));
    json_object_set_new(c, "reason", json_string(t.condition->reason.c_str()));
    json_object_set_new(c, "message", json_string(t.condition->message.c_str()));
    json_object_set_new(n, "condition", c);
  }
  return n;
}

std::string DotId(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

// The state of the link between x (one side) and y (the other): what each one's report says of the other.
std::pair<std::string, std::string> EdgeState(const NodeTowards& x, const NodeTowards& y) {
  for (const auto* pair : {&x, &y}) {
    const NodeTowards& other = pair == &x ? y : x;
    if (auto it = pair->rejected_by.find(other.node); it != pair->rejected_by.end()) {
      return {"red", other.node + " rejected " + pair->node + ": " + it->second};
    }
  }
  bool stale = std::count(x.stale_at.begin(), x.stale_at.end(), y.node) ||
               std::count(y.stale_at.begin(), y.stale_at.end(), x.node);
  if (stale) return {"orange", "stale"};
  bool known = x.report && x.report->synced() && y.report && y.report->synced();
  return known ? std::pair<std::string, std::string>{"darkgreen", ""}
               : std::pair<std::string, std::string>{"grey", "unknown"};
}

}  // namespace

std::string FormatTable(const MeshView& view) {
  std::string out;
  std::vector<std::vector<std::string>> rows = {{"CONTEXT", "NAME", "NODES", "REMOTES"}};
  for (const ClusterView& c : view.clusters) {
    std::string remotes;
    for (const std::string& r : c.remotes) remotes += (remotes.empty() ? "" : ", ") + r;
    rows.push_back({c.context, NameText(c), c.error.empty() ? std::to_string(c.nodes) : "?",
                    c.error.empty() ? (remotes.empty() ? "-" : remotes) : "list failed"});
  }
  out += Table(rows, "");
  for (const PairView& p : view.pairs) {
    const std::string& a = view.clusters[p.a].Name();
    const std::string& b = view.clusters[p.b].Name();
    out += "\n" + a + " <-> " + b + "\n";
    Side(a, b, p.a_nodes, p.a_configured, out);
    Side(b, a, p.b_nodes, p.b_configured, out);
  }
  if (view.findings.empty()) {
    out += "\nNo findings: the mesh is healthy.\n";
  } else {
    out += "\nFINDINGS (" + std::to_string(view.findings.size()) + ")\n";
    for (const Finding& f : view.findings) out += "  " + f.kind + ": " + EscapeControl(f.text) + "\n";
  }
  return out;
}

std::string FormatJson(const MeshView& view) {
  JsonPtr root(json_object());
  json_object_set_new(root.get(), "healthy", json_boolean(view.Healthy()));
  json_t* clusters = json_array();
  for (const ClusterView& c : view.clusters) {
    json_t* o = json_object();
    json_object_set_new(o, "context", json_string(c.context.c_str()));
    json_object_set_new(o, "name", c.name.empty() ? json_null() : json_string(c.name.c_str()));
    json_object_set_new(o, "nodes", json_integer(static_cast<json_int_t>(c.nodes)));
    json_t* remotes = json_array();
    for (const std::string& r : c.remotes) json_array_append_new(remotes, json_string(r.c_str()));
    json_object_set_new(o, "remotes", remotes);
    if (!c.error.empty()) json_object_set_new(o, "error", json_string(c.error.c_str()));
    json_array_append_new(clusters, o);
  }
  json_object_set_new(root.get(), "clusters", clusters);
  json_t* pairs = json_array();
  for (const PairView& p : view.pairs) {
    json_t* o = json_object();
    for (int side = 0; side < 2; ++side) {
      const ClusterView& me = view.clusters[side == 0 ? p.a : p.b];
      const ClusterView& other = view.clusters[side == 0 ? p.b : p.a];
      json_t* s = json_object();
      json_object_set_new(s, "cluster", json_string(me.Name().c_str()));
      json_object_set_new(s, "towards", json_string(other.Name().c_str()));
      json_object_set_new(s, "configured", json_boolean(side == 0 ? p.a_configured : p.b_configured));
      json_t* nodes = json_array();
      for (const NodeTowards& t : side == 0 ? p.a_nodes : p.b_nodes)
        json_array_append_new(nodes, NodeJson(t));
      json_object_set_new(s, "nodes", nodes);
      json_object_set_new(o, side == 0 ? "a" : "b", s);
    }
    json_array_append_new(pairs, o);
  }
  json_object_set_new(root.get(), "pairs", pairs);
  json_t* findings = json_array();
  for (const Finding& f : view.findings) {
    json_t* o = json_object();
    json_object_set_new(o, "kind", json_string(f.kind.c_str()));
    if (!f.cluster.empty()) json_object_set_new(o, "cluster", json_string(f.cluster.c_str()));
    if (!f.node.empty()) json_object_set_new(o, "node", json_string(f.node.c_str()));
    json_object_set_new(o, "text", json_string(f.text.c_str()));
    json_array_append_new(findings, o);
  }
  json_object_set_new(root.get(), "findings", findings);
  return JsonDump(root.get(), true) + "\n";
}

std::string FormatDot(const MeshView& view) {
  std::string out = "graph mesh {\n  node [shape=box];\n";
  for (size_t i = 0; i < view.clusters.size(); ++i) {
    const ClusterView& c = view.clusters[i];
    out += "  subgraph " + DotId("cluster_" + std::to_string(i)) +
           " {\n    label=" + DotId(c.Name() + " (context " + c.context + ")") + ";\n";
    for (const PairView& p : view.pairs) {
      if (p.a != i && p.b != i) continue;
      for (const NodeTowards& t : p.a == i ? p.a_nodes : p.b_nodes) {
        out += "    " + DotId(c.Name() + "/" + t.node) + " [label=" + DotId(t.node) + "];\n";
      }
      break;  // every pair lists all the cluster's nodes
    }
    out += "  }\n";
  }
  for (const PairView& p : view.pairs) {
    const std::string& a = view.clusters[p.a].Name();
    const std::string& b = view.clusters[p.b].Name();
    for (const NodeTowards& x : p.a_nodes) {
      for (const NodeTowards& y : p.b_nodes) {
        if (!x.agent() && !y.agent()) continue;
        auto [colour, label] = !x.agent() || !y.agent()
                                   ? std::pair<std::string, std::string>{"red", "no agent"}
                                   : EdgeState(x, y);
        out += "  " + DotId(a + "/" + x.node) + " -- " + DotId(b + "/" + y.node) + " [color=" + colour;
        if (!label.empty()) out += ", label=" + DotId(label);
        out += "];\n";
      }
    }
  }
  return out + "}\n";
}

}  // namespace swg::mesh
