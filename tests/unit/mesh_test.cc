// `semaphore-wireguard mesh`'s analysis on fixture nodes: every finding, the counts, the outputs.

#include "supervisor/tools/mesh.h"

#include <doctest/doctest.h>
#include <jansson.h>

#include <algorithm>

#include "k8s/kubeconfig.h"

using swg::k8s::NodeInfo;
using swg::mesh::Analyze;
using swg::mesh::ClusterInput;
using swg::mesh::MeshView;

namespace {

std::string ReportJson(const std::string& local, const std::string& extra = "", bool ready = true) {
  return R"({"v":1,"local":")" + local + R"(","ready":)" + (ready ? "true" : "false") + R"(,"reason":")" +
         (ready ? "PairingReady" : "NoHandshakes") +
         R"(","peers":2,"fresh":2,"more":0,"sync":"2026-12-03T15:00:00Z")" + extra + "}";
}

// A node running the agent towards `remote`, with a report unless `report` is "-".
NodeInfo Agent(const std::string& name, const std::string& remote, const std::string& local,
               const std::string& ip, const std::string& report = "") {
  NodeInfo n;
  n.name = name;
  std::string p = remote + ".wireguard.semaphore.uw.io/";
  n.annotations[p + "pubKey"] = "key-of-" + name + "-towards-" + remote + "=";
  n.annotations[p + "endpoint"] = ip + ":51821";
  if (report != "-") n.annotations[p + "report"] = report.empty() ? ReportJson(local) : report;
  return n;
}

// Two clusters of two nodes each, all healthy.
std::vector<ClusterInput> Healthy() {
  return {{"ctx1", {Agent("c1n1", "c2", "c1", "10.0.1.1"), Agent("c1n2", "c2", "c1", "10.0.1.2")}, ""},
          {"ctx2", {Agent("c2n1", "c1", "c2", "10.0.2.1"), Agent("c2n2", "c1", "c2", "10.0.2.2")}, ""}};
}

std::vector<std::string> Texts(const MeshView& v) {
  std::vector<std::string> out;
  for (const auto& f : v.findings) out.push_back(f.kind + ": " + f.text);
  return out;
}

bool Has(const MeshView& v, const std::string& line) {
  auto t = Texts(v);
  return std::find(t.begin(), t.end(), line) != t.end();
}

}  // namespace

TEST_CASE("mesh: reports parse, unknown fields ignored, other versions refused") {
  auto r = swg::mesh::ParseReport(
      R"({"v":1,"local":"c2","ready":true,"reason":"PairingReady","peers":3,"fresh":3,
      "rejected":{"c1n3":"own_key"},"stale":["c1n4"],"more":0,"sync":"2026-12-03T15:00:00Z","future":[1]})");
  REQUIRE(r.ok());
  CHECK(r->local == "c2");
  CHECK(r->ready);
  CHECK(r->peers == 3);
  CHECK(r->rejected.at("c1n3") == "own_key");
  CHECK(r->stale == std::vector<std::string>{"c1n4"});
  CHECK(r->synced());
  CHECK_FALSE(swg::mesh::ParseReport(R"({"v":2,"local":"c2"})").ok());
  CHECK_FALSE(swg::mesh::ParseReport("not json").ok());
  CHECK_FALSE(swg::mesh::ParseReport("[]").ok());
  CHECK(swg::mesh::ConditionType("c2") == "WireGuardC2Ready");
  CHECK(swg::mesh::ConditionType("eu-west") == "WireGuardEuWestReady");
  CHECK(swg::mesh::ConditionType("a.b-c") == "WireGuardABCReady");
}

TEST_CASE("mesh: a healthy pair has no findings, names from the reports, every node peered by all") {
  MeshView v = Analyze(Healthy());
  CHECK(Texts(v).empty());
  CHECK(v.Healthy());
  REQUIRE(v.clusters.size() == 2);
  CHECK(v.clusters[0].name == "c1");
  CHECK(v.clusters[1].name == "c2");
  REQUIRE(v.pairs.size() == 1);
  for (const auto& t : v.pairs[0].a_nodes) {
    CHECK(t.peered_by == 2);
    CHECK(t.reporters == 2);
    CHECK(t.fresh_at == 2);
    CHECK_FALSE(t.lower_bound);
  }
  std::string table = swg::mesh::FormatTable(v);
  CHECK(table.find("c1 <-> c2") != std::string::npos);
  CHECK(table.find("No findings: the mesh is healthy.") != std::string::npos);
}

TEST_CASE("mesh: a rejection is an asymmetry with its reason, and the peer count drops") {
  auto in = Healthy();
  in[1].nodes[1] =
      Agent("c2n2", "c1", "c2", "10.0.2.2", ReportJson("c2", R"(,"rejected":{"c1n2":"own_key"})"));
  MeshView v = Analyze(in);
  CHECK(Texts(v) ==
        std::vector<std::string>{"asymmetry: c1n2 peers with c2n2, but c2n2 rejected c1n2: own_key"});
  CHECK(v.pairs[0].a_nodes[1].peered_by == 1);
  CHECK(v.pairs[0].a_nodes[1].reporters == 2);
  // Both sides reject each other: no "peers with", each rejection named.
  in[0].nodes[1] =
      Agent("c1n2", "c2", "c1", "10.0.1.2", ReportJson("c1", R"(,"rejected":{"c2n2":"bad_key"})"));
  v = Analyze(in);
  CHECK(Has(v, "rejected: c2n2 rejected c1n2: own_key"));
  CHECK(Has(v, "rejected: c1n2 rejected c2n2: bad_key"));
  std::string dot = swg::mesh::FormatDot(v);
  CHECK(dot.find(R"("c1/c1n2" -- "c2/c2n2" [color=red, label="c2n2 rejected c1n2: own_key"])") !=
        std::string::npos);
  CHECK(dot.find("subgraph \"cluster_0\"") != std::string::npos);
  CHECK(dot.find(R"("c1/c1n1" -- "c2/c2n1" [color=darkgreen])") != std::string::npos);
}

TEST_CASE("mesh: nodes without an agent, colliding endpoints") {
  auto in = Healthy();
  NodeInfo bare;
  bare.name = "c1n3";
  in[0].nodes.push_back(bare);
  in[1].nodes[1] = Agent("c2n2", "c1", "c2", "10.0.2.1");  // c2n1's endpoint
  MeshView v = Analyze(in);
  CHECK(Texts(v) ==
        std::vector<std::string>{"no_agent: c1n3 runs no agent for c2 (no pubKey annotation towards c2)",
                                 "endpoint_collision: endpoint 10.0.2.1:51821 is advertised by c2n1, c2n2"});
  CHECK_FALSE(v.Healthy());
}

TEST_CASE("mesh: names that disagree between configs") {
  auto in = Healthy();
  // c2's agents call c1 "cluster1", which no cluster calls itself.
  in[1].nodes = {Agent("c2n1", "cluster1", "c2", "10.0.2.1"), Agent("c2n2", "cluster1", "c2", "10.0.2.2")};
  MeshView v = Analyze(in);
  CHECK(Has(
      v,
      "name_mismatch: c2's nodes are configured for a remote \"cluster1\" that no cluster calls itself (a "
      "name differs between configs, or its context was not given)"));
  CHECK(Has(v, "one_sided: c1 pairs with c2, but no node of c2 advertises towards c1"));
  // Two clusters that call themselves the same.
  in = Healthy();
  in[1].nodes = {Agent("c2n1", "c1", "c1", "10.0.2.1")};
  v = Analyze(in);
  CHECK(Has(v, "name_mismatch: contexts ctx1 and ctx2 both call themselves \"c1\""));
  // One cluster's nodes disagree about its name.
  in = Healthy();
  in[1].nodes[1] = Agent("c2n2", "c1", "c2b", "10.0.2.2");
  v = Analyze(in);
  CHECK(Has(v,
            "name_mismatch: context ctx2: its nodes' reports call the cluster by different names (\"c2\", "
            "\"c2b\"): their configs disagree"));
}

TEST_CASE("mesh: without reports the names are the contexts', and the missing reports are named") {
  std::vector<ClusterInput> in = {{"c1", {Agent("c1n1", "c2", "", "10.0.1.1", "-")}, ""},
                                  {"c2", {Agent("c2n1", "c1", "", "10.0.2.1", "-")}, ""}};
  MeshView v = Analyze(in);
  CHECK(v.clusters[0].name.empty());
  CHECK(v.clusters[0].Name() == "c1");
  CHECK(Texts(v) ==
        std::vector<std::string>{"no_report: c1n1 writes no report towards c2 (an agent without reports?)",
                                 "no_report: c2n1 writes no report towards c1 (an agent without reports?)"});
  CHECK(v.pairs[0].a_nodes[0].reporters == 0);
  CHECK(swg::mesh::FormatTable(v).find("unknown (no reports; taken as \"c1\")") != std::string::npos);
  // What a node writes reaches the terminal escaped.
  in[0].nodes[0].annotations["c2.wireguard.semaphore.uw.io/endpoint"] = "1.2.3.4:1\x1b[2J\nforged";
  std::string table = swg::mesh::FormatTable(Analyze(in));
  CHECK(table.find('\x1b') == std::string::npos);
  CHECK(table.find("\nforged") == std::string::npos);
}

TEST_CASE("mesh: a truncated report makes the count a lower bound") {
  std::string rejected =
      R"({"v":1,"local":"c2","ready":true,"peers":1,"more":3,"sync":"2026-12-03T15:00:00Z","rejected":{)";
  for (int i = 0; i < 32; ++i)
    rejected += (i ? "," : "") + std::string("\"a") + std::to_string(10 + i) + "\":\"bad_key\"";
  rejected += "}}";
  auto in = Healthy();
  in[1].nodes[0] = Agent("c2n1", "c1", "c2", "10.0.2.1", rejected);
  MeshView v = Analyze(in);
  // "c1n1" sorts after "a41", the last name listed: it may be among the 3 left out.
  const auto& t = v.pairs[0].a_nodes[0];
  CHECK(t.peered_by == 1);
  CHECK(t.lower_bound);
  CHECK(swg::mesh::FormatTable(v).find(">=1/2") != std::string::npos);
  // Only the stale list was cut (a short report, one rejection): the count is exact.
  std::string stale = R"({"v":1,"local":"c2","ready":true,"more":40,"sync":"2026-12-03T15:00:00Z",)"
                      R"("rejected":{"a1":"bad_key"},"stale":[)";
  for (int i = 0; i < 32; ++i) stale += (i ? "," : "") + std::string("\"b") + std::to_string(10 + i) + "\"";
  in[1].nodes[0] = Agent("c2n1", "c1", "c2", "10.0.2.1", stale + "]}");
  v = Analyze(in);
  CHECK(v.pairs[0].a_nodes[0].peered_by == 2);
  CHECK_FALSE(v.pairs[0].a_nodes[0].lower_bound);
  CHECK(v.pairs[0].a_nodes[0].fresh_at == 1);  // c1n1 sorts after b41: its handshake at c2n1 is unknown
  CHECK(v.pairs[0].a_nodes[0].fresh_lower_bound);
  // Cut to fit 4 KiB: every list may miss names after its last.
  in[1].nodes[0] = Agent("c2n1", "c1", "c2", "10.0.2.1",
                         R"({"v":1,"local":"c2","ready":true,"more":1,"sync":"2026-12-03T15:00:00Z",)"
                         R"("rejected":{},"stale":[],"pad":")" +
                             std::string(3900, 'x') + R"("})");
  CHECK(Analyze(in).pairs[0].a_nodes[0].lower_bound);
}

TEST_CASE("mesh: conditions False with their reason, stale peers, a report that does not parse") {
  auto in = Healthy();
  in[0].nodes[0].conditions.push_back(
      {"WireGuardC2Ready", "False", "NoHandshakes", "2 peers, 0 with a fresh handshake"});
  in[0].nodes[1].conditions.push_back({"WireGuardC2Ready", "True", "PairingReady", ""});
  in[1].nodes[0] = Agent("c2n1", "c1", "c2", "10.0.2.1", ReportJson("c2", R"(,"stale":["c1n1"])"));
  in[1].nodes[1] = Agent("c2n2", "c1", "c2", "10.0.2.2", "{");
  MeshView v = Analyze(in);
  CHECK(Texts(v) ==
        std::vector<std::string>{
            "not_ready: c1n1: WireGuardC2Ready False: NoHandshakes (2 peers, 0 with a fresh handshake)",
            "stale: c2n1 has no fresh handshake with c1n1 (none within 180 s)",
            "bad_report: c2n2: its report towards c1 does not parse: not JSON: string or '}' expected near "
            "end of file"});
  CHECK(v.pairs[0].a_nodes[0].fresh_at == 0);
  CHECK(v.pairs[0].a_nodes[1].fresh_at == 1);
  // A report not ready, without a condition: the report's reason.
  in = Healthy();
  in[0].nodes[0] = Agent("c1n1", "c2", "c1", "10.0.1.1", ReportJson("c1", "", false));
  CHECK(Has(Analyze(in), "not_ready: c1n1: not ready towards c2: NoHandshakes"));
}

TEST_CASE("mesh: a list that failed, a context without agents; JSON") {
  auto in = Healthy();
  in.push_back({"ctx3", {}, "ctx3: GET /api/v1/nodes: HTTP 403 Forbidden"});
  in.push_back({"ctx4", {NodeInfo{}}, ""});
  MeshView v = Analyze(in);
  CHECK(Has(v, "list_failed: ctx3: ctx3: GET /api/v1/nodes: HTTP 403 Forbidden"));
  CHECK(Has(v, "no_agent: context ctx4: no node carries semaphore-wireguard annotations (no agent runs)"));
  std::string json = swg::mesh::FormatJson(v);
  json_error_t err;
  json_t* root = json_loads(json.c_str(), 0, &err);
  REQUIRE(root);
  CHECK(json_is_false(json_object_get(root, "healthy")));
  CHECK(json_array_size(json_object_get(root, "findings")) == 2);
  CHECK(json_array_size(json_object_get(root, "pairs")) == 1);
  json_decref(root);
}

TEST_CASE("kubeconfig: the contexts' names in file order") {
  auto names = swg::k8s::ParseKubeconfigContexts(R"(apiVersion: v1
contexts:
- name: c2
  context: {cluster: a, user: u}
- name: c1
  context: {cluster: b, user: u}
)",
                                                 "k");
  REQUIRE(names.ok());
  CHECK(*names == std::vector<std::string>{"c2", "c1"});
  CHECK(swg::k8s::ParseKubeconfigContexts("apiVersion: v1\n", "k")->empty());
  CHECK_FALSE(swg::k8s::ParseKubeconfigContexts("contexts: 3\n", "k").ok());
  CHECK_FALSE(swg::k8s::ParseKubeconfigContexts("contexts:\n- context: {}\n", "k").ok());
}
