// The mirror's WireGuardPeer records read as nodes (k8s/peer_record.h): through the same list and watch parsers
// as Nodes, every content problem a rejection with its reason, the sync marker as its own entry.
#include "k8s/peer_record.h"

#include <doctest/doctest.h>

#include "k8s/list_stream.h"
#include "k8s/watch_stream.h"

using swg::k8s::AnnotationFilter;
using swg::k8s::NodeInfo;
using swg::k8s::PeerRecords;

namespace {

const char* const kPubKey = "c1.wireguard.semaphore.uw.io/pubKey";
const char* const kEndpoint = "c1.wireguard.semaphore.uw.io/endpoint";
const char* const kKeepalive = "c1.wireguard.semaphore.uw.io/persistentKeepalive";

AnnotationFilter Records() {
  AnnotationFilter f = AnnotationFilter::Only({kPubKey, kEndpoint, kKeepalive});
  f.records = PeerRecords{"semaphore-wireguard", "c2", "c1"};
  return f;
}

std::string Record(const std::string& name, const std::string& spec) {
  return R"({"apiVersion":"wireguard.semaphore.uw.io/v1alpha1","kind":"WireGuardPeer","metadata":{"name":")" +
         name + R"(","namespace":"semaphore-wireguard","uid":"u-)" + name +
         R"(","resourceVersion":"7","labels":{"wireguard.semaphore.uw.io/remote":"c2"}},"spec":)" + spec + "}";
}

const char* kGoodSpec =
    R"({"nodeName":"n1","publicKey":"K1","endpoint":"10.0.0.1:51820","persistentKeepalive":"30s",)"
    R"("podCIDRs":["10.2.1.0/24"],"nodeCreationTimestamp":"2026-01-02T03:04:05Z"})";

std::vector<NodeInfo> List(const std::string& items) {
  std::vector<NodeInfo> out;
  swg::k8s::NodeListStreamParser p(Records(), 1 << 20, [&out](NodeInfo n) {
    out.push_back(std::move(n));
    return swg::Ok();
  });
  std::string body = R"({"kind":"WireGuardPeerList","apiVersion":"wireguard.semaphore.uw.io/v1alpha1",)"
                     R"("metadata":{"resourceVersion":"9"},"items":[)" + items + "]}";
  REQUIRE(p.Feed(body).ok());
  auto page = p.Finish();
  REQUIRE(page.ok());
  CHECK(page->resource_version == "9");
  return out;
}

}  // namespace

TEST_CASE("a record reads as the node it describes, its fields as the annotations addressed to us") {
  auto nodes = List(Record("c2.n1", kGoodSpec));
  REQUIRE(nodes.size() == 1);
  const NodeInfo& n = nodes[0];
  CHECK(n.name == "n1");
  CHECK(n.uid == "u-c2.n1");
  CHECK(n.resource_version == "7");
  CHECK(n.annotations.at(kPubKey) == "K1");
  CHECK(n.annotations.at(kEndpoint) == "10.0.0.1:51820");
  CHECK(n.annotations.at(kKeepalive) == "30s");
  CHECK(n.pod_cidrs == std::vector<std::string>{"10.2.1.0/24"});
  CHECK(n.creation_timestamp == 1767323045);
  CHECK(n.refused_code.empty());
}

TEST_CASE("a record that cannot stand for a node is kept as a refusal naming the field and the value") {
  struct Case {
    std::string spec, want;
  };
  std::vector<Case> cases = {
      {R"({"publicKey":"K","nodeCreationTimestamp":"2026-01-02T03:04:05Z"})", "spec.nodeName is missing"},
      {R"({"nodeName":"Bad_Name","nodeCreationTimestamp":"2026-01-02T03:04:05Z"})",
       "spec.nodeName \"Bad_Name\" is not a Kubernetes node name"},
      {R"({"nodeName":"n1"})", "spec.nodeCreationTimestamp is missing"},
      {R"({"nodeName":"n1","nodeCreationTimestamp":"yesterday"})",
       "spec.nodeCreationTimestamp \"yesterday\" is not an RFC 3339 time"},
      {R"({"nodeName":"n1","podCIDRs":"10.2.1.0/24","nodeCreationTimestamp":"2026-01-02T03:04:05Z"})",
       "spec.podCIDRs is a JSON string, not a list of strings"},
      {R"({"nodeName":"n1","podCIDRs":[7],"nodeCreationTimestamp":"2026-01-02T03:04:05Z"})",
       "spec.podCIDRs[0] is a JSON integer, not a string"},
      {R"({"nodeName":"n1","publicKey":5,"nodeCreationTimestamp":"2026-01-02T03:04:05Z"})",
       "spec.publicKey is a JSON integer, not a string"},
      {R"("a string")", "spec is missing or not an object"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.spec);
    auto nodes = List(Record("c2.x", c.spec));
    REQUIRE(nodes.size() == 1);
    CHECK(nodes[0].refused_code == "bad_record");
    CHECK(nodes[0].refused.find(c.want) != std::string::npos);
    // Named after the record unless its nodeName is good: a rejection never names a node that is not one.
    if (c.want.find("nodeName") != std::string::npos || c.want.find("spec is") != std::string::npos) {
      CHECK(nodes[0].name == "record c2.x");
    }
  }
}

TEST_CASE("the mirror's rejection is the agent's, worded as the mirror's") {
  std::string spec = std::string(kGoodSpec);
  spec.insert(spec.size() - 1, R"(,"rejection":"endpoint \"1.2.3.4:0\" has port 0")");
  auto nodes = List(Record("c2.n1", spec));
  REQUIRE(nodes.size() == 1);
  CHECK(nodes[0].name == "n1");
  CHECK(nodes[0].refused_code == "mirror_rejected");
  CHECK(nodes[0].refused == "the mirror rejected this node: endpoint \"1.2.3.4:0\" has port 0");
}

TEST_CASE("the sync marker is the record named after the remote, and FindSyncMarker reads it") {
  auto nodes = List(Record("c2", R"({"sync":{"complete":true,"lastSyncTime":"2026-01-02T03:04:05Z",)"
                                 R"("leader":"mirror-0","nodes":12}})") +
                    "," + Record("c2.n1", kGoodSpec));
  REQUIRE(nodes.size() == 2);
  std::map<std::string, NodeInfo> cache;
  for (auto& n : nodes) cache[n.name] = n;
  REQUIRE(cache.count(""));
  auto m = swg::k8s::FindSyncMarker(cache);
  REQUIRE(m.has_value());
  CHECK(m->complete);
  CHECK(m->last_sync == 1767323045);
  CHECK(m->leader == "mirror-0");
  CHECK(m->nodes == 12);
  // Anything but JSON true is not complete; no marker at all is none.
  auto half = List(Record("c2", R"({"sync":{"complete":"yes"}})"));
  std::map<std::string, NodeInfo> c2{{half[0].name, half[0]}};
  CHECK_FALSE(swg::k8s::FindSyncMarker(c2)->complete);
  CHECK_FALSE(swg::k8s::FindSyncMarker({}).has_value());
}

TEST_CASE("records come through a watch; another kind or a NodeList is refused") {
  swg::k8s::WatchStreamParser w(Records());
  std::vector<swg::k8s::WatchEvent> events;
  std::string stream = R"({"type":"ADDED","object":)" + Record("c2.n1", kGoodSpec) + "}\n" +
                       R"({"type":"DELETED","object":)" + Record("c2", R"({"sync":{"complete":true}})") + "}\n";
  REQUIRE(w.Feed(stream, events).ok());
  REQUIRE(events.size() == 2);
  CHECK(events[0].node.name == "n1");
  CHECK(events[0].node.annotations.at(kPubKey) == "K1");
  CHECK(events[1].type == swg::k8s::WatchEventType::kDeleted);
  CHECK(events[1].node.name.empty());

  swg::k8s::WatchStreamParser bad(Records());
  std::vector<swg::k8s::WatchEvent> none;
  auto st = bad.Feed(R"({"type":"ADDED","object":{"kind":"Node","metadata":{"name":"n1"}}})" "\n", none);
  REQUIRE_FALSE(st.ok());
  CHECK(st.error().message.find("expected a WireGuardPeer, got kind \"Node\"") != std::string::npos);

  swg::k8s::NodeListStreamParser list(Records(), 1 << 20, [](NodeInfo) { return swg::Ok(); });
  REQUIRE(list.Feed(R"({"kind":"NodeList","metadata":{"resourceVersion":"1"},"items":[]})").ok());
  auto page = list.Finish();
  REQUIRE_FALSE(page.ok());
  CHECK(page.error().message.find("expected kind \"WireGuardPeerList\"") != std::string::npos);
}

TEST_CASE("the records' path") {
  CHECK(swg::k8s::PeerRecordsPath("semaphore-wireguard") ==
        "/apis/wireguard.semaphore.uw.io/v1alpha1/namespaces/semaphore-wireguard/wireguardpeers");
}
