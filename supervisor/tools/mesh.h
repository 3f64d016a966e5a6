#pragma once
// `semaphore-wireguard mesh`: the whole mesh from the Nodes of every cluster. Pure: parsed Nodes in, a view
// with findings out (no I/O), so that every finding is unit-tested on fixture nodes. The agents write, on
// their own Node, per remote: `<remote>.wireguard.semaphore.uw.io/{pubKey,endpoint,report}` and the condition
// `WireGuard<Remote>Ready` (see README, "Every agent reports on its own Node").

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "k8s/node.h"

namespace swg::mesh {

// `<remote>.wireguard.semaphore.uw.io/report`, version 1. Unknown fields are ignored.
struct Report {
  std::string local;  // the writer's own cluster name
  bool ready = false;
  std::string reason;
  int64_t peers = 0, fresh = 0, more = 0;
  std::map<std::string, std::string> rejected;  // remote node -> reason (the first 32 by name)
  std::vector<std::string> stale;               // remote nodes without a fresh handshake (the first 32)
  std::string sync;                             // last full sync (RFC 3339); empty before the first
  // Whether `rejected` / `stale` name every node (see ParseReport).
  bool rejected_complete = true, stale_complete = true;
  bool synced() const { return !sync.empty(); }
};
// Fails on what is not a version 1 report, naming why.
Result<Report> ParseReport(const std::string& json);

// "c2" -> "WireGuardC2Ready", "eu-west" -> "WireGuardEuWestReady".
std::string ConditionType(const std::string& remote);

// One cluster as read: its kubeconfig context and its Nodes (or why they could not be read).
struct ClusterInput {
  std::string context;
  std::vector<k8s::NodeInfo> nodes;  // annotations: at least ours (kAnnotationDomain); WireGuard conditions
  std::string error;                 // the list failed
};

// One node of a cluster towards another cluster.
struct NodeTowards {
  std::string node;
  std::string pub_key, endpoint;                // advertised towards the other cluster; empty: none
  std::optional<Report> report;                 // its own report towards the other cluster
  std::string report_error;                     // an annotation that does not parse
  std::optional<k8s::NodeCondition> condition;  // WireGuard<Other>Ready
  // From the other cluster's reports: how many of its nodes have this one as a peer, out of how many report.
  int peered_by = 0, reporters = 0;
  bool lower_bound = false;                        // a truncated report may hide more peers
  int fresh_at = 0;                                // of peered_by, how many have a fresh handshake with it
  bool fresh_lower_bound = false;                  // a truncated stale list may hide more
  std::map<std::string, std::string> rejected_by;  // other node -> reason
  std::vector<std::string> stale_at;               // other nodes whose handshake with it is stale
  bool agent() const { return !pub_key.empty(); }
};

// Two clusters (a < b by index), each side's nodes towards the other.
struct PairView {
  size_t a = 0, b = 0;
  bool a_configured = false, b_configured = false;  // some node carries annotations for the other
  std::vector<NodeTowards> a_nodes, b_nodes;
};

struct ClusterView {
  std::string context;
  std::string name;                  // from the reports' `local`; empty: unknown
  std::string assumed;               // the name used when unknown: the context's
  std::vector<std::string> remotes;  // names its nodes carry annotations for
  size_t nodes = 0;
  std::string error;
  const std::string& Name() const { return name.empty() ? assumed : name; }
};

struct Finding {
  std::string kind;           // asymmetry, rejected, no_agent, no_report, endpoint_collision, name_mismatch,
                              // one_sided, not_ready, stale, bad_report, list_failed
  std::string cluster, node;  // where, when one node or cluster is concerned
  std::string text;           // one line, with the reason where known
};

struct MeshView {
  std::vector<ClusterView> clusters;
  std::vector<PairView> pairs;
  std::vector<Finding> findings;
  bool Healthy() const { return findings.empty(); }
};

MeshView Analyze(const std::vector<ClusterInput>& clusters);

// Output (pure): the table per cluster pair with the findings, JSON, Graphviz.
std::string FormatTable(const MeshView& view);
std::string FormatJson(const MeshView& view);
std::string FormatDot(const MeshView& view);

}  // namespace swg::mesh
