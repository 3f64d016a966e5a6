// The mirror's side of the records (k8s/record_content.h): what a remote node becomes, that the agents'
// parser reads it back as the same node, and the plan of creates, updates and deletes.
#include "k8s/record_content.h"

#include <doctest/doctest.h>

#include "common/json.h"
#include "k8s/peer_record.h"

using swg::JsonDump;
using swg::JsonPtr;
using swg::k8s::NodeInfo;
using swg::k8s::PeerRecords;
using swg::k8s::RecordContent;
using swg::k8s::StoredRecord;

namespace {

const char* const kPubKey = "c1.wireguard.semaphore.uw.io/pubKey";
const char* const kEndpoint = "c1.wireguard.semaphore.uw.io/endpoint";
const char* const kKeepalive = "c1.wireguard.semaphore.uw.io/persistentKeepalive";
const PeerRecords kRecords{"semaphore-wireguard", "c2", "c1"};

NodeInfo RemoteNode(const std::string& name) {
  NodeInfo n;
  n.name = name;
  n.uid = "uid-" + name;
  n.resource_version = "42";
  n.creation_timestamp = 1767323045;  // 2026-01-02T03:04:05Z
  n.annotations = {{kPubKey, "K1/+abc="},
                   {kEndpoint, "10.0.0.1:51820"},
                   {kKeepalive, "25s"},
                   {"c3.wireguard.semaphore.uw.io/pubKey", "for another cluster"}};
  n.pod_cidrs = {"10.4.1.0/24", "fd00:4:1::/64"};
  n.addresses = {{"InternalIP", "10.0.0.1"}};
  return n;
}

// The record as an agent of c1 reads it from the apiserver (which adds uid and resourceVersion).
NodeInfo ReadBack(const JsonPtr& object) {
  json_t* meta = json_object_get(object.get(), "metadata");
  json_object_set_new(meta, "uid", json_string("u1"));
  json_object_set_new(meta, "resourceVersion", json_string("7"));
  auto node = swg::k8s::ParsePeerRecord(object.get(), kRecords);
  REQUIRE(node.ok());
  return std::move(node).value();
}

StoredRecord Stored(const RecordContent& c) {
  JsonPtr object = swg::k8s::RecordObject("ns", "c2", c);
  auto r = swg::k8s::ReadStoredRecord(object.get());
  REQUIRE(r.ok());
  return std::move(r).value();
}

}  // namespace

TEST_CASE("a record holds the node's fields addressed to the local cluster, nothing else") {
  RecordContent c = swg::k8s::RecordFromNode(RemoteNode("r1"), "c1");
  CHECK(c.node_name == "r1");
  CHECK(c.public_key == "K1/+abc=");
  CHECK(c.endpoint == "10.0.0.1:51820");
  CHECK(c.persistent_keepalive == "25s");
  CHECK(c.pod_cidrs == std::vector<std::string>{"10.4.1.0/24", "fd00:4:1::/64"});
  CHECK(c.node_creation_timestamp == "2026-01-02T03:04:05Z");
  CHECK(c.rejection.empty());

  JsonPtr object = swg::k8s::RecordObject("semaphore-wireguard", "c2", c);
  CHECK(
      JsonDump(object.get(), false, true) ==
      R"({"apiVersion":"wireguard.semaphore.uw.io/v1alpha1","kind":"WireGuardPeer","metadata":{"labels":)"
      R"({"wireguard.semaphore.uw.io/remote":"c2"},"managedFields":[{}],"name":"c2.r1","namespace":"semaphore-wireguard"},)"
      R"("spec":{"endpoint":"10.0.0.1:51820","nodeCreationTimestamp":"2026-01-02T03:04:05Z","nodeName":"r1",)"
      R"("persistentKeepalive":"25s","podCIDRs":["10.4.1.0/24","fd00:4:1::/64"],"publicKey":"K1/+abc="}})");

  SUBCASE("fields the node lacks are left out") {
    NodeInfo bare;
    bare.name = "r2";
    JsonPtr o = swg::k8s::RecordObject("ns", "c2", swg::k8s::RecordFromNode(bare, "c1"));
    CHECK(JsonDump(json_object_get(o.get(), "spec"), false, true) == R"({"nodeName":"r2"})");
  }
}

TEST_CASE("what the mirror writes, an agent reads back as the same node") {
  NodeInfo source = RemoteNode("r1");
  NodeInfo read =
      ReadBack(swg::k8s::RecordObject("semaphore-wireguard", "c2", swg::k8s::RecordFromNode(source, "c1")));
  CHECK(read.name == "r1");
  CHECK(read.creation_timestamp == source.creation_timestamp);
  CHECK(read.pod_cidrs == source.pod_cidrs);
  CHECK(read.annotations == std::map<std::string, std::string>{
                                {kPubKey, "K1/+abc="}, {kEndpoint, "10.0.0.1:51820"}, {kKeepalive, "25s"}});
  CHECK(read.refused_code.empty());

  SUBCASE("without keepalive") {
    source.annotations.erase(kKeepalive);
    NodeInfo r = ReadBack(swg::k8s::RecordObject("ns", "c2", swg::k8s::RecordFromNode(source, "c1")));
    CHECK_FALSE(r.annotations.contains(kKeepalive));
    CHECK(r.annotations.size() == 2);
  }
  SUBCASE("a node the mirror refused reads as refused, with the mirror's reason") {
    NodeInfo r = ReadBack(swg::k8s::RecordObject(
        "ns", "c2", swg::k8s::RecordFromNode(source, "c1", "the public key is not 32 bytes of base64")));
    CHECK(r.refused_code == "mirror_rejected");
    CHECK(r.refused == "the mirror rejected this node: the public key is not 32 bytes of base64");
  }
  SUBCASE("and the mirror reads its own record back as the content it wrote") {
    RecordContent c = swg::k8s::RecordFromNode(source, "c1", "why");
    StoredRecord s = Stored(c);
    CHECK(s.name == "c2.r1");
    REQUIRE(s.digest.has_value());
    CHECK(*s.digest == swg::k8s::ContentDigest(c));
  }
}

TEST_CASE("the sync marker the mirror writes is what FindSyncMarker reads") {
  JsonPtr object = swg::k8s::MarkerObject("ns", "c2", {true, "2026-01-02T03:04:05Z", "mirror-7f9", 200});
  CHECK(
      JsonDump(json_object_get(object.get(), "metadata"), false, true) ==
      R"({"labels":{"wireguard.semaphore.uw.io/remote":"c2","wireguard.semaphore.uw.io/sync-marker":"true"},)"
      R"("managedFields":[{}],"name":"c2","namespace":"ns"})");
  NodeInfo read = ReadBack(object);
  auto marker = swg::k8s::FindSyncMarker({{read.name, read}});
  REQUIRE(marker.has_value());
  CHECK(marker->complete);
  CHECK(marker->last_sync == 1767323045);
  CHECK(marker->leader == "mirror-7f9");
  CHECK(marker->nodes == 200);
  auto stored = swg::k8s::ReadStoredRecord(object.get());
  REQUIRE(stored.ok());
  CHECK(stored->name == "c2");
  CHECK_FALSE(stored->digest.has_value());
}

TEST_CASE("the plan: create what is missing, update what differs, delete only after a complete list") {
  std::map<std::string, RecordContent> desired;
  for (const char* n : {"a", "b", "c"}) desired[n] = swg::k8s::RecordFromNode(RemoteNode(n), "c1");
  std::map<std::string, StoredRecord> stored;
  stored["c2.a"] = Stored(desired["a"]);  // as wanted
  RecordContent moved = desired["b"];
  moved.endpoint = "10.0.0.9:51820";
  stored["c2.b"] = Stored(moved);  // differs
  stored["c2.gone"] = Stored(swg::k8s::RecordFromNode(RemoteNode("gone"), "c1"));
  stored["c2"] = StoredRecord{"c2", "5", std::nullopt};  // the marker

  auto plan = swg::k8s::PlanRecords("c2", desired, stored, false);
  CHECK(plan.create == std::vector<std::string>{"c2.c"});
  CHECK(plan.update == std::vector<std::string>{"c2.b"});
  CHECK(plan.remove.empty());
  CHECK(plan.unchanged == 1);

  plan = swg::k8s::PlanRecords("c2", desired, stored, true);
  CHECK(plan.remove == std::vector<std::string>{"c2.gone"});  // never the marker

  SUBCASE("a change to a field the record does not hold plans nothing") {
    NodeInfo a = RemoteNode("a");
    a.resource_version = "43";
    a.addresses = {{"InternalIP", "10.9.9.9"}};
    a.annotations["c3.wireguard.semaphore.uw.io/endpoint"] = "1.2.3.4:1";
    std::map<std::string, RecordContent> only_a{{"a", swg::k8s::RecordFromNode(a, "c1")}};
    auto p = swg::k8s::PlanRecords("c2", only_a, {{"c2.a", stored["c2.a"]}}, true);
    CHECK(p.create.empty());
    CHECK(p.update.empty());
    CHECK(p.remove.empty());
    CHECK(p.unchanged == 1);
  }
  SUBCASE("a rejection appearing or going away is an update") {
    desired["a"].rejection = "bad key";
    CHECK(swg::k8s::PlanRecords("c2", desired, stored, false).update ==
          std::vector<std::string>{"c2.a", "c2.b"});
  }
  SUBCASE("a stored record whose spec is not one the mirror writes is rewritten") {
    stored["c2.a"].digest.reset();
    CHECK(swg::k8s::PlanRecords("c2", desired, stored, false).update ==
          std::vector<std::string>{"c2.a", "c2.b"});
  }
}

TEST_CASE("a record name stays a valid object name for the longest node names") {
  using swg::k8s::RecordName;
  CHECK(RecordName("c2", "node-a") == "c2.node-a");
  // A node name of 253 characters (the most Kubernetes allows), and another with the same first 240.
  std::string long_a = std::string(240, 'a') + ".b-node-12345", long_b = std::string(240, 'a') + ".b-node-12346";
  std::string a = RecordName("c2", long_a), b = RecordName("c2", long_b);
  CHECK(a.size() <= 253);
  CHECK(b.size() <= 253);
  CHECK(a != b);
  CHECK(a.starts_with("c2.aaaa"));
  // Ends with "-" and 16 hex digits; a DNS subdomain ends with an alphanumeric character.
  REQUIRE(a.size() > 17);
  CHECK(a[a.size() - 17] == '-');
  CHECK(a.substr(a.size() - 16).find_first_not_of("0123456789abcdef") == std::string::npos);
  CHECK(RecordName("c2", long_a) == a);  // the same node, the same name
  // A cut that would end at a dot or dash drops it.
  std::string dotted = std::string(234, 'x') + "." + std::string(18, 'y');
  std::string d = RecordName("c2", dotted);
  CHECK(d.find(".-") == std::string::npos);
  CHECK(d.find("--") == std::string::npos);
}

TEST_CASE("the content digest tells every field apart") {
  RecordContent a;
  a.node_name = "n1";
  a.public_key = "k";
  a.endpoint = "10.0.0.1:51820";
  a.pod_cidrs = {"10.4.1.0/24"};
  a.node_creation_timestamp = "2026-01-02T03:04:05Z";
  const uint64_t base = swg::k8s::ContentDigest(a);
  CHECK(swg::k8s::ContentDigest(a) == base);
  auto differs = [&](auto change) {
    RecordContent b = a;
    change(b);
    return swg::k8s::ContentDigest(b) != base;
  };
  CHECK(differs([](RecordContent& b) { b.node_name = "n2"; }));
  CHECK(differs([](RecordContent& b) { b.public_key = "k2"; }));
  CHECK(differs([](RecordContent& b) { b.endpoint = "10.0.0.2:51820"; }));
  CHECK(differs([](RecordContent& b) { b.persistent_keepalive = "25s"; }));
  CHECK(differs([](RecordContent& b) { b.pod_cidrs.push_back("fd00::/64"); }));
  CHECK(differs([](RecordContent& b) { b.pod_cidrs.clear(); }));
  CHECK(differs([](RecordContent& b) { b.node_creation_timestamp = ""; }));
  CHECK(differs([](RecordContent& b) { b.rejection = "bad_key: x"; }));
  // The same characters split differently between two fields.
  CHECK(differs([](RecordContent& b) {
    b.node_name = "n1k";
    b.public_key = "";
  }));
}
