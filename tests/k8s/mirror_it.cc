// The mirror (worker/mirror_worker.h) against real kube-apiservers: remote cluster "c" holds the nodes, local
// cluster "a" the WireGuardPeer records (CRD from deploy/crd) and the Leases. Two replicas in this process,
// on short leases. Checked from the apiserver (what `kubectl get wgpeer` shows), not from the writer:
//  - one leads; a record per annotated remote node, bad ones with the agents' reason; the sync marker
//  complete;
//  - a status-only change of a node writes nothing; an endpoint change is one update; a deleted node's record
//    goes;
//  - the leader dies without a word (as kill -9): the standby takes over after the lease, rewrites nothing
//  but
//    the marker, and deletes the records of a remote not configured;
//  - the leader stops (SIGTERM): the Lease is released and the standby takes over at once.
#include <doctest/doctest.h>

#include <cstdio>

#include "common/config.h"
#include "common/json.h"
#include "common/keys.h"
#include "common/loop.h"
#include "k8s/peer_record.h"
#include "k8s/record_writer.h"
#include "tests/k8s/cluster.h"
#include "tests/unit/testutil.h"
#include "worker/mirror_worker.h"

using namespace std::chrono_literals;
using swg::Loop;
using swg::worker::MirrorWorker;
using namespace swg::test;

namespace {

constexpr const char* kLocal =
    "mi";  // the local cluster's name in the config: annotation keys "mi.wireguard..."
constexpr const char* kRemote = "mc";  // the mirrored remote's name
// Its own namespace: the mirror deletes the records of remotes it does not have in its namespace (k8s_records
// writes remote itc2's in default, perhaps at the same time).
constexpr const char* kNamespace = "mirror-it";
constexpr const char* kNodeLabel = "swg-test=mirror";
const std::string kCrd = std::string(SWG_SOURCE_DIR) + "/deploy/crd/wireguardpeers.yaml";

std::string KeyOf(int i) {
  uint8_t raw[32];
  for (int b = 0; b < 32; ++b) raw[b] = static_cast<uint8_t>(i * 7 + b + 1);
  return swg::Key(raw).ToBase64();
}

NodeSpec MirrorNode(int i) {
  NodeSpec n;
  n.name = "mirror-n" + std::to_string(i);
  n.labels["swg-test"] = "mirror";
  n.annotations[swg::PubKeyAnnotation(kLocal)] = KeyOf(i);
  n.annotations[swg::EndpointAnnotation(kLocal)] = "10.61.0." + std::to_string(i + 1) + ":51820";
  n.pod_cidr = "10.60." + std::to_string(i) + ".0/24";
  n.internal_ip = "10.61.0." + std::to_string(i + 1);
  n.kubelet_status = true;
  return n;
}

struct Record {
  std::string node, endpoint, rejection;
  bool complete = false;
  std::string leader;
};

// The records of `remote` in the local cluster, by name, as the apiserver has them.
std::map<std::string, Record> Records(const Admin& admin, const std::string& remote) {
  auto r = admin.Request("GET", swg::k8s::PeerRecordsPath(kNamespace) + "?labelSelector=" +
                                    std::string(swg::k8s::kRecordRemoteLabel) + "%3D" + remote);
  std::map<std::string, Record> out;
  if (r.code != 200) return out;
  json_error_t err;
  swg::JsonPtr list(json_loads(r.body.c_str(), 0, &err));
  size_t i;
  json_t* item;
  json_array_foreach(json_object_get(list.get(), "items"), i, item) {
    Record rec;
    const json_t* spec = json_object_get(item, "spec");
    auto str = [](const json_t* o, const char* k) {
      const char* v = json_string_value(json_object_get(o, k));
      return std::string(v ? v : "");
    };
    rec.node = str(spec, "nodeName");
    rec.endpoint = str(spec, "endpoint");
    rec.rejection = str(spec, "rejection");
    const json_t* sync = json_object_get(spec, "sync");
    rec.complete = json_is_true(json_object_get(sync, "complete"));
    rec.leader = str(sync, "leader");
    out[str(json_object_get(item, "metadata"), "name")] = rec;
  }
  return out;
}

double Metric(MirrorWorker& w, const std::string& name, const std::vector<std::string>& labels) {
  for (const auto& f : w.CollectMetrics()) {
    if (f.name != name) continue;
    for (const auto& s : f.series) {
      if (s.label_values == labels) return s.value;
    }
  }
  return -1;
}

swg::worker::MirrorOptions Options(const ClusterEnv& local, const ClusterEnv& remote, const std::string& id) {
  swg::worker::MirrorOptions o;
  o.local.name = kLocal;
  o.local.kube_config_path = local.kubeconfig;
  o.remote.name = kRemote;
  o.remote.kube_config_path = remote.kubeconfig;
  o.remote.pod_subnets = {*swg::Cidr::Parse("10.60.0.0/16")};
  o.identity = id;
  o.namespace_name = kNamespace;
  o.lease_duration = 8s;
  o.renew_deadline = 5000ms;
  o.retry_period = 500ms;
  o.marker_interval = 60s;  // only the first marker, and those after a takeover, within this test
  o.configured_remotes = {kRemote};
  return o;
}

}  // namespace

TEST_SUITE("mirror") {
  TEST_CASE("the mirror: records of the remote's nodes, written on change only, failover and release") {
    ClusterEnv a = LoadCluster("a"), c = LoadCluster("c");
    Admin local(a), remote(c);
    Shell(a.kubectl + " --kubeconfig " + a.kubeconfig + " apply -f " + kCrd + " >/dev/null && " + a.kubectl +
          " --kubeconfig " + a.kubeconfig +
          " wait --for condition=established --timeout=60s crd/wireguardpeers.wireguard.semaphore.uw.io "
          ">/dev/null");
    auto ns = local.Request(
        "POST", "/api/v1/namespaces",
        std::string(R"({"apiVersion":"v1","kind":"Namespace","metadata":{"name":")") + kNamespace + R"("}})");
    REQUIRE_MESSAGE((ns.code == 201 || ns.code == 409), ns.body);
    Loop loop;
    // Leftovers of an earlier run: nodes, records, the Lease.
    remote.DeleteNodes(kNodeLabel);
    {
      auto client = MakeClient(loop, "a", swg::k8s::ClusterSource::Kubeconfig(a.kubeconfig));
      for (const char* r : {kRemote, "gone"}) {
        swg::k8s::RecordWriter w(*client, {kNamespace, r});
        bool done = false;
        w.DeleteAll([&](swg::Status st) {
          CHECK(st.ok());
          done = true;
        });
        REQUIRE(loop.RunUntil([&] { return done; }, 60s));
      }
    }
    local.Request("DELETE", std::string("/apis/coordination.k8s.io/v1/namespaces/") + kNamespace +
                                "/leases/" + swg::worker::MirrorLeaseName(kRemote));

    std::vector<NodeSpec> nodes;
    for (int i = 0; i < 10; ++i) nodes.push_back(MirrorNode(i));
    NodeSpec bad_key = MirrorNode(10), outside = MirrorNode(11);
    bad_key.annotations[swg::PubKeyAnnotation(kLocal)] = "not-a-key";
    outside.pod_cidr = "10.99.0.0/24";
    nodes.push_back(bad_key);
    nodes.push_back(outside);
    NodeSpec other = MirrorNode(12);  // advertises to another cluster only: no record
    other.annotations = {{swg::PubKeyAnnotation("zz"), KeyOf(12)},
                         {swg::EndpointAnnotation("zz"), "10.61.0.13:51820"}};
    nodes.push_back(other);
    remote.CreateNodes(nodes);

    auto m1 = std::make_unique<MirrorWorker>(loop, Options(a, c, "m1"), nullptr);
    REQUIRE(m1->Start().ok());
    auto marker_by = [&](const std::string& leader) {
      auto recs = Records(local, kRemote);
      auto it = recs.find(kRemote);
      return it != recs.end() && it->second.complete && it->second.leader == leader;
    };
    REQUIRE_MESSAGE(loop.RunUntil([&] { return marker_by("m1"); }, 60s), "m1: ", m1->CurrentStatus().state);
    auto m2 = std::make_unique<MirrorWorker>(loop, Options(a, c, "m2"), nullptr);
    REQUIRE(m2->Start().ok());
    loop.RunUntil([&] { return m2->CurrentStatus().leader == "m1"; }, 30s);

    auto recs = Records(local, kRemote);
    CHECK(recs.size() == 13);  // 12 nodes and the marker
    CHECK(recs.count("mc.mirror-n12") == 0);
    CHECK(recs["mc.mirror-n3"].endpoint == "10.61.0.4:51820");
    CHECK(recs["mc.mirror-n3"].rejection.empty());
    CHECK_MESSAGE(recs["mc.mirror-n10"].rejection.starts_with("bad_key: "), recs["mc.mirror-n10"].rejection);
    CHECK_MESSAGE(recs["mc.mirror-n11"].rejection.starts_with("outside_subnet: "),
                  recs["mc.mirror-n11"].rejection);
    auto record_bytes = [&](const std::string& name) {
      auto one = local.Request("GET", swg::k8s::PeerRecordsPath(kNamespace) + "/" + name);
      CHECK(one.code == 200);
      return one.body;
    };
    {
      // What each agent receives for a new record (the apiserver adds the creator's managedFields): under 1
      // KB.
      std::string created = record_bytes("mc.mirror-n3");
      MESSAGE("a new record as the apiserver sends it: ", created.size(), " bytes");
      CHECK(created.size() < 1024);
    }
    CHECK(m1->CurrentStatus().state == "ready");
    CHECK(m1->CurrentStatus().peers == 12);
    CHECK(m1->CurrentStatus().rejected == 2);
    CHECK(m2->CurrentStatus().state == "standby");
    CHECK(m2->CurrentStatus().leader == "m1");
    CHECK(Metric(*m1, "semaphore_wg_mirror_leader", {kRemote}) == 1);
    CHECK(Metric(*m2, "semaphore_wg_mirror_leader", {kRemote}) == 0);
    CHECK(Metric(*m1, "semaphore_wg_mirror_writes_total", {kRemote, "create"}) == 12);
    CHECK(Metric(*m1, "semaphore_wg_mirror_writes_total", {kRemote, "marker"}) == 1);

    // Status-only changes (labels, a condition) write nothing; the endpoint change after them is one update.
    const double updates = Metric(*m1, "semaphore_wg_mirror_writes_total", {kRemote, "update"});
    for (int i = 0; i < 5; ++i) {
      auto r = remote.Request("PATCH", "/api/v1/nodes/mirror-n1",
                              "{\"metadata\":{\"labels\":{\"beat\":\"" + std::to_string(i) + "\"}}}",
                              "application/merge-patch+json");
      CHECK(r.code == 200);
    }
    remote.PatchAnnotations("mirror-n2", "{\"" + swg::EndpointAnnotation(kLocal) + "\":\"10.61.1.3:51820\"}");
    CHECK(loop.RunUntil([&] { return Records(local, kRemote)["mc.mirror-n2"].endpoint == "10.61.1.3:51820"; },
                        60s));
    // The write's answer may arrive after the record is visible.
    loop.RunUntil(
        [&] {
          return Metric(*m1, "semaphore_wg_mirror_writes_total", {kRemote, "update"}) > updates;
        },
        30s);
    CHECK(Metric(*m1, "semaphore_wg_mirror_writes_total", {kRemote, "update"}) == updates + 1);
    {
      // An update clears managedFields: what each agent receives per peer change is the record alone.
      std::string updated = record_bytes("mc.mirror-n2");
      CHECK(updated.find("managedFields") == std::string::npos);
      MESSAGE("an updated record as the apiserver sends it: ", updated.size(), " bytes");
      CHECK(updated.size() < 700);
    }

    remote.DeleteNode("mirror-n4");
    CHECK(loop.RunUntil([&] { return Records(local, kRemote).count("mc.mirror-n4") == 0; }, 60s));
    loop.RunUntil(
        [&] {
          return Metric(*m1, "semaphore_wg_mirror_writes_total", {kRemote, "delete"}) > 0;
        },
        30s);
    CHECK(Metric(*m1, "semaphore_wg_mirror_writes_total", {kRemote, "delete"}) == 1);

    // Records of a remote that is not configured, left by a mirror whose configuration had it.
    for (const char* name : {"gone.x1", "gone.x2"}) {
      auto r = local.Request(
          "POST", swg::k8s::PeerRecordsPath(kNamespace),
          std::string("{\"apiVersion\":\"wireguard.semaphore.uw.io/v1alpha1\",\"kind\":\"WireGuardPeer\",") +
              "\"metadata\":{\"name\":\"" + name +
              "\",\"labels\":{\"wireguard.semaphore.uw.io/remote\":\"gone\"}}," +
              "\"spec\":{\"nodeName\":\"x\"}}");
      CHECK(r.code == 201);
    }

    // The leader dies without a word (its process killed): m2 takes over once the lease has run out.
    const auto killed = std::chrono::steady_clock::now();
    m1.reset();
    REQUIRE(loop.RunUntil([&] { return m2->CurrentStatus().state == "ready"; }, 60s));
    const double takeover = std::chrono::duration<double>(std::chrono::steady_clock::now() - killed).count();
    MESSAGE("takeover after the leader was killed: ", takeover, " s (lease 8 s, retry 0.5 s)");
    CHECK(takeover > 4);  // not before the lease ran out (counted from m2's last sight of a renewal)
    CHECK(takeover < 30);
    CHECK(marker_by("m2"));
    // The records were right: nothing but the marker is written.
    CHECK(Metric(*m2, "semaphore_wg_mirror_writes_total", {kRemote, "create"}) == 0);
    CHECK(Metric(*m2, "semaphore_wg_mirror_writes_total", {kRemote, "update"}) == 0);
    CHECK(Metric(*m2, "semaphore_wg_mirror_writes_total", {kRemote, "marker"}) == 1);
    CHECK(Metric(*m2, "semaphore_wg_mirror_writes_total", {kRemote, "delete"}) == 0);
    CHECK(Records(local, kRemote).size() == 12);
    // The janitor: the records of the remote not configured are gone.
    CHECK(loop.RunUntil([&] { return Records(local, "gone").empty(); }, 60s));
    loop.RunUntil(
        [&] {
          return Metric(*m2, "semaphore_wg_mirror_writes_total", {kRemote, "delete_removed_remote"}) >= 2;
        },
        30s);
    CHECK(Metric(*m2, "semaphore_wg_mirror_writes_total", {kRemote, "delete_removed_remote"}) == 2);

    // A graceful stop releases the Lease: a standby takes over at its next try, not after the lease.
    auto m3 = std::make_unique<MirrorWorker>(loop, Options(a, c, "m3"), nullptr);
    REQUIRE(m3->Start().ok());
    loop.RunUntil([&] { return m3->CurrentStatus().leader == "m2"; }, 30s);
    bool stopped = false;
    const auto stop = std::chrono::steady_clock::now();
    m2->Stop([&] { stopped = true; });
    REQUIRE(loop.RunUntil([&] { return stopped; }, 30s));
    REQUIRE(loop.RunUntil([&] { return m3->CurrentStatus().state == "ready"; }, 60s));
    const double handover = std::chrono::duration<double>(std::chrono::steady_clock::now() - stop).count();
    MESSAGE("handover after a graceful stop: ", handover, " s");
    CHECK(handover < 7);  // under the 8 s lease: the release, not the expiry
    CHECK(marker_by("m3"));
    CHECK(Metric(*m3, "semaphore_wg_mirror_writes_total", {kRemote, "create"}) == 0);

    m2.reset();
    m3.reset();
    remote.DeleteNodes(kNodeLabel);
  }
}
