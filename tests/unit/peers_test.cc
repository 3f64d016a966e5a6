#include "worker/peers.h"
#include "worker/mirror_worker.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <map>
#include <ostream>

using swg::worker::ComputePeers;
using swg::worker::PeerContext;
using swg::worker::Rejection;

namespace {

std::string KeyB64(int seed) {
  uint8_t raw[32] = {};
  raw[0] = static_cast<uint8_t>(seed);
  raw[31] = 0x40;
  return swg::Key(raw).ToBase64();
}

swg::k8s::NodeInfo Node(const std::string& name, int64_t created, const std::string& key, const std::string& ep,
                        std::vector<std::string> cidrs) {
  swg::k8s::NodeInfo n;
  n.name = name;
  n.creation_timestamp = created;
  if (!key.empty()) n.annotations["c1.wireguard.semaphore.uw.io/pubKey"] = key;
  if (!ep.empty()) n.annotations["c1.wireguard.semaphore.uw.io/endpoint"] = ep;
  n.pod_cidrs = std::move(cidrs);
  return n;
}

PeerContext Ctx() {
  PeerContext c;
  c.local_cluster = "c1";
  c.pod_subnets = {*swg::Cidr::Parse("10.4.0.0/16")};
  c.own_public_key = *swg::Key::FromBase64(KeyB64(99));
  return c;
}

std::map<std::string, swg::k8s::NodeInfo> Nodes(std::vector<swg::k8s::NodeInfo> list) {
  std::map<std::string, swg::k8s::NodeInfo> m;
  for (auto& n : list) m[n.name] = n;
  return m;
}

}  // namespace

namespace swg::worker {
std::ostream& operator<<(std::ostream& os, const Rejection& r) {
  return os << "{" << r.node << ", " << r.code << ", " << r.message << "}";
}
}  // namespace swg::worker

TEST_CASE("valid nodes become peers with their pod CIDRs and keepalive 25") {
  auto set = ComputePeers(Nodes({Node("b", 2, KeyB64(2), "192.168.1.2:51820", {"10.4.2.0/24"}),
                                 Node("a", 1, KeyB64(1), "[fd00::1]:51821", {"10.4.1.0/24"}),
                                 Node("plain", 1, "", "", {"10.4.3.0/24"})}),
                          Ctx());
  REQUIRE(set.peers.size() == 2);
  CHECK(set.peers[0].node == "a");
  CHECK(set.peers[0].peer.endpoint->ToString() == "[fd00::1]:51821");
  CHECK(set.peers[1].node == "b");
  CHECK(set.peers[1].peer.persistent_keepalive == 25);
  CHECK(set.peers[1].peer.endpoint->ToString() == "192.168.1.2:51820");
  CHECK(set.peers[1].peer.allowed_ips == std::vector<swg::Cidr>{*swg::Cidr::Parse("10.4.2.0/24")});
  CHECK(set.rejected.empty());
}

TEST_CASE("dual-stack nodes: both CIDRs with podSubnets, the configured family's with one podSubnet") {
  auto nodes = Nodes({Node("dual", 1, KeyB64(1), "192.168.1.1:51820", {"10.4.1.0/24", "fd00:4:0:1::/64"}),
                      Node("v6first", 2, KeyB64(2), "192.168.1.2:51820", {"fd00:4:0:2::/64", "10.4.2.0/24"}),
                      Node("v4only", 3, KeyB64(3), "192.168.1.3:51820", {"10.4.3.0/24"}),
                      Node("v6only", 4, KeyB64(4), "192.168.1.4:51820", {"fd00:4:0:4::/64"})});
  auto both = Ctx();
  both.pod_subnets = {*swg::Cidr::Parse("10.4.0.0/16"), *swg::Cidr::Parse("fd00:4::/48")};
  auto set = ComputePeers(nodes, both);
  CHECK(set.rejected.empty());
  REQUIRE(set.peers.size() == 4);
  CHECK(set.peers[0].peer.allowed_ips ==
        std::vector<swg::Cidr>{*swg::Cidr::Parse("10.4.1.0/24"), *swg::Cidr::Parse("fd00:4:0:1::/64")});
  CHECK(set.peers[0].ignored_cidrs.empty());
  CHECK(set.peers[2].node == "v6first");
  CHECK(set.peers[2].peer.allowed_ips ==
        std::vector<swg::Cidr>{*swg::Cidr::Parse("fd00:4:0:2::/64"), *swg::Cidr::Parse("10.4.2.0/24")});

  // IPv4 podSubnet only (the original's configuration): a dual-stack node is a peer with its IPv4 CIDR; the IPv6
  // one is ignored, not a rejection. A node with IPv6 only has nothing of the configured family.
  set = ComputePeers(nodes, Ctx());
  REQUIRE(set.peers.size() == 3);
  CHECK(set.peers[0].node == "dual");
  CHECK(set.peers[0].peer.allowed_ips == std::vector<swg::Cidr>{*swg::Cidr::Parse("10.4.1.0/24")});
  CHECK(set.peers[0].ignored_cidrs == std::vector<swg::Cidr>{*swg::Cidr::Parse("fd00:4:0:1::/64")});
  CHECK(set.peers[1].node == "v4only");
  CHECK(set.peers[1].ignored_cidrs.empty());
  CHECK(set.peers[2].node == "v6first");
  CHECK(set.peers[2].peer.allowed_ips == std::vector<swg::Cidr>{*swg::Cidr::Parse("10.4.2.0/24")});
  CHECK(set.rejected ==
        std::vector<Rejection>{{"v6only", "no_pod_cidr",
                                "node has no pod CIDR of a configured address family (its pod CIDRs: "
                                "fd00:4:0:4::/64; the remote pod subnets: 10.4.0.0/16)"}});

  // IPv6 podSubnet only: the mirror image.
  auto v6 = Ctx();
  v6.pod_subnets = {*swg::Cidr::Parse("fd00:4::/48")};
  set = ComputePeers(nodes, v6);
  std::vector<std::string> names;
  for (const auto& p : set.peers) names.push_back(p.node);
  CHECK(names == std::vector<std::string>{"dual", "v6first", "v6only"});
  CHECK(set.peers[0].peer.allowed_ips == std::vector<swg::Cidr>{*swg::Cidr::Parse("fd00:4:0:1::/64")});
  CHECK(set.peers[0].ignored_cidrs == std::vector<swg::Cidr>{*swg::Cidr::Parse("10.4.1.0/24")});
  REQUIRE(set.rejected.size() == 1);
  CHECK(set.rejected[0].node == "v4only");
  CHECK(set.rejected[0].code == "no_pod_cidr");
}

TEST_CASE("dual-stack nodes: a configured family outside its subnet, two of a family, v4-mapped") {
  auto both = Ctx();
  both.pod_subnets = {*swg::Cidr::Parse("10.4.0.0/16"), *swg::Cidr::Parse("fd00:4::/48")};
  auto nodes = Nodes({
      Node("v6out", 1, KeyB64(1), "192.168.1.1:51820", {"10.4.1.0/24", "fd00:9:1::/64"}),
      Node("v4out", 1, KeyB64(2), "192.168.1.2:51820", {"10.9.2.0/24", "fd00:4:0:2::/64"}),
      Node("two4", 1, KeyB64(3), "192.168.1.3:51820", {"10.4.3.0/24", "10.4.33.0/24"}),
      Node("two6", 1, KeyB64(4), "192.168.1.4:51820", {"fd00:4:0:4::/64", "10.4.4.0/24", "fd00:4:0:44::/64"}),
      Node("twice", 1, KeyB64(5), "192.168.1.5:51820", {"10.4.5.0/24", "10.4.5.0/24"}),
      Node("mapped", 1, KeyB64(6), "192.168.1.6:51820", {"10.4.6.0/24", "::ffff:10.4.6.0/120"}),
      Node("good", 1, KeyB64(7), "192.168.1.7:51820", {"10.4.7.0/24", "fd00:4:0:7::/64"}),
  });
  auto set = ComputePeers(nodes, both);
  REQUIRE(set.peers.size() == 1);
  CHECK(set.peers[0].node == "good");
  std::vector<Rejection> want = {
      {"mapped", "bad_pod_cidr", "pod CIDR \"::ffff:10.4.6.0/120\" overlaps the IPv4-mapped IPv6 range ::ffff:0:0/96"},
      {"twice", "bad_pod_cidr",
       "node lists more than one IPv4 pod CIDR (10.4.5.0/24, 10.4.5.0/24); Kubernetes allows one per address family"},
      {"two4", "bad_pod_cidr",
       "node lists more than one IPv4 pod CIDR (10.4.3.0/24, 10.4.33.0/24); Kubernetes allows one per address "
       "family"},
      {"two6", "bad_pod_cidr",
       "node lists more than one IPv6 pod CIDR (fd00:4:0:4::/64, fd00:4:0:44::/64); Kubernetes allows one per address "
       "family"},
      {"v4out", "outside_subnet", "pod CIDR 10.9.2.0/24 is outside the remote pod subnet 10.4.0.0/16"},
      {"v6out", "outside_subnet", "pod CIDR fd00:9:1::/64 is outside the remote pod subnet fd00:4::/48"},
  };
  CHECK(set.rejected == want);
  // The same rules hold for a family that is not configured: two IPv6 CIDRs or a v4-mapped one are bad even
  // where IPv6 CIDRs would be ignored.
  set = ComputePeers(nodes, Ctx());
  std::vector<std::string> rejected;
  for (const auto& r : set.rejected) rejected.push_back(r.node + " " + r.code);
  CHECK(rejected == std::vector<std::string>{"mapped bad_pod_cidr", "twice bad_pod_cidr", "two4 bad_pod_cidr",
                                             "two6 bad_pod_cidr", "v4out outside_subnet"});
  std::vector<std::string> peers;
  for (const auto& p : set.peers) peers.push_back(p.node);
  CHECK(peers == std::vector<std::string>{"good", "v6out"});
}

TEST_CASE("dual-stack conflicts: an IPv6 CIDR claimed twice goes to the oldest node") {
  auto both = Ctx();
  both.pod_subnets = {*swg::Cidr::Parse("10.4.0.0/16"), *swg::Cidr::Parse("fd00:4::/48")};
  auto set = ComputePeers(Nodes({Node("old", 1, KeyB64(1), "192.168.1.1:51820", {"10.4.1.0/24", "fd00:4:0:1::/64"}),
                                 Node("new", 2, KeyB64(2), "192.168.1.2:51820", {"10.4.2.0/24", "fd00:4::/56"})}),
                          both);
  REQUIRE(set.peers.size() == 1);
  CHECK(set.peers[0].node == "old");
  CHECK(set.rejected == std::vector<Rejection>{{"new", "cidr_conflict",
                                                "pod CIDR fd00:4::/56 overlaps fd00:4:0:1::/64 of node old, which "
                                                "keeps it (older)"}});
}

TEST_CASE("every kind of bad node is rejected with a reason, and the others still become peers") {
  auto set = ComputePeers(
      Nodes({Node("good", 1, KeyB64(1), "10.0.0.1:51820", {"10.4.1.0/24"}),
             Node("badkey", 1, "not-a-key", "10.0.0.2:51820", {"10.4.2.0/24"}),
             Node("zero", 1, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", "10.0.0.3:51820", {"10.4.3.0/24"}),
             Node("own", 1, KeyB64(99), "10.0.0.4:51820", {"10.4.4.0/24"}),
             Node("noport", 1, KeyB64(5), "10.0.0.5", {"10.4.5.0/24"}),
             Node("hostname", 1, KeyB64(6), "node6.example:51820", {"10.4.6.0/24"}),
             Node("nocidr", 1, KeyB64(7), "10.0.0.7:51820", {}),
             Node("outside", 1, KeyB64(8), "10.0.0.8:51820", {"10.2.0.0/24"}),
             Node("everything", 1, KeyB64(9), "10.0.0.9:51820", {"0.0.0.0/0"}),
             Node("garbage", 1, KeyB64(10), "10.0.0.10:51820", {"10.4.10.0/33"}),
             Node("hostbits", 1, KeyB64(11), "10.0.0.11:51820", {"10.4.11.1/24"}),
             Node("halfkey", 1, KeyB64(12), "", {"10.4.12.0/24"}),
             Node("halfep", 1, "", "10.0.0.13:51820", {"10.4.13.0/24"})}),
      Ctx());
  REQUIRE(set.peers.size() == 1);
  CHECK(set.peers[0].node == "good");
  std::vector<Rejection> want = {
      {"badkey", "bad_key", "public key \"not-a-key\" is not 44 base64 characters"},
      {"everything", "outside_subnet", "pod CIDR 0.0.0.0/0 is outside the remote pod subnet 10.4.0.0/16"},
      {"garbage", "bad_pod_cidr", "pod CIDR \"10.4.10.0/33\" is not a valid CIDR"},
      {"halfep", "missing_annotation",
       "has c1.wireguard.semaphore.uw.io/endpoint but no c1.wireguard.semaphore.uw.io/pubKey"},
      {"halfkey", "missing_annotation",
       "has c1.wireguard.semaphore.uw.io/pubKey but no c1.wireguard.semaphore.uw.io/endpoint"},
      {"hostbits", "bad_pod_cidr", "pod CIDR \"10.4.11.1/24\" has host bits set"},
      {"hostname", "bad_endpoint",
       "endpoint \"node6.example:51820\" is not a numeric IPv4:port or [IPv6]:port with a port in 1-65535"},
      {"nocidr", "no_pod_cidr", "node has no pod CIDR (spec.podCIDRs is empty)"},
      {"noport", "bad_endpoint",
       "endpoint \"10.0.0.5\" is not a numeric IPv4:port or [IPv6]:port with a port in 1-65535"},
      {"outside", "outside_subnet", "pod CIDR 10.2.0.0/24 is outside the remote pod subnet 10.4.0.0/16"},
      {"own", "own_key", "public key is this node's own key"},
      {"zero", "bad_key", "public key is all zeros"},
  };
  CHECK(set.rejected == want);
}

TEST_CASE("conflicts over a CIDR or a key: the oldest node wins, then the smaller name") {
  auto set = ComputePeers(Nodes({Node("young", 50, KeyB64(1), "10.0.0.1:1", {"10.4.1.0/24"}),
                                 Node("old", 10, KeyB64(2), "10.0.0.2:1", {"10.4.1.0/24"}),
                                 Node("wide", 60, KeyB64(3), "10.0.0.3:1", {"10.4.0.0/16"}),
                                 Node("copycat", 70, KeyB64(2), "10.0.0.4:1", {"10.4.9.0/24"}),
                                 Node("twin-b", 5, KeyB64(4), "10.0.0.5:1", {"10.4.5.0/24"}),
                                 Node("twin-a", 5, KeyB64(5), "10.0.0.6:1", {"10.4.5.0/24"})}),
                          Ctx());
  std::vector<std::string> names;
  for (const auto& p : set.peers) names.push_back(p.node);
  CHECK(names == std::vector<std::string>{"old", "twin-a"});
  std::vector<Rejection> want = {
      {"copycat", "key_conflict", "public key is also claimed by node old, which keeps it (older)"},
      {"twin-b", "cidr_conflict",
       "pod CIDR 10.4.5.0/24 overlaps 10.4.5.0/24 of node twin-a, which keeps it (same age, smaller name)"},
      {"wide", "cidr_conflict", "pod CIDR 10.4.0.0/16 overlaps 10.4.1.0/24 of node old, which keeps it (older)"},
      {"young", "cidr_conflict", "pod CIDR 10.4.1.0/24 overlaps 10.4.1.0/24 of node old, which keeps it (older)"},
  };
  CHECK(set.rejected == want);
  // A wide claim made first blocks the narrower ones after it.
  auto first = ComputePeers(Nodes({Node("wide", 1, KeyB64(3), "10.0.0.3:1", {"10.4.0.0/16"}),
                                   Node("n", 2, KeyB64(1), "10.0.0.1:1", {"10.4.1.0/24"})}),
                            Ctx());
  REQUIRE(first.peers.size() == 1);
  CHECK(first.peers[0].node == "wide");
  CHECK(first.rejected.at(0).message ==
        "pod CIDR 10.4.1.0/24 overlaps 10.4.0.0/16 of node wide, which keeps it (older)");
}

TEST_CASE("5,000 nodes resolve without conflicts") {
  std::map<std::string, swg::k8s::NodeInfo> nodes;
  for (int i = 0; i < 5000; ++i) {
    uint8_t raw[32] = {};
    raw[0] = static_cast<uint8_t>(i & 0xff);
    raw[1] = static_cast<uint8_t>(i >> 8);
    raw[2] = 1;  // never the context's own key
    raw[31] = 0x40;
    std::string cidr = "10.4." + std::to_string(i / 64) + "." + std::to_string((i % 64) * 4) + "/30";
    auto n = Node("n" + std::to_string(i), i, swg::Key(raw).ToBase64(), "192.168.0.1:51820", {cidr});
    nodes[n.name] = n;
  }
  auto set = ComputePeers(nodes, Ctx());
  CHECK(set.peers.size() == 5000);
  CHECK(set.rejected.empty());
}

TEST_CASE("endpoints of the wrong address class are rejected as bad_endpoint, naming the class") {
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"127.0.0.1:22", "a loopback address"},
      {"0.0.0.0:51820", "an unspecified address"},
      {"224.0.0.5:51820", "a multicast address"},
      {"169.254.169.254:80", "a link-local address"},
      {"255.255.255.255:51820", "the broadcast address"},
      {"[::1]:51820", "a loopback address"},
      {"[::]:51820", "an unspecified address"},
      {"[fe80::1]:51820", "a link-local address"},
      {"[febf::1]:51820", "a link-local address"},
      {"[ff02::1]:51820", "a multicast address"},
      {"[::ffff:1.2.3.4]:51820", "an IPv4-mapped IPv6 address (write the IPv4 address)"},
  };
  std::vector<swg::k8s::NodeInfo> nodes;
  for (size_t i = 0; i < bad.size(); ++i) {
    nodes.push_back(Node("n" + std::to_string(10 + i), 1, KeyB64(static_cast<int>(i + 1)), bad[i].first,
                         {"10.4." + std::to_string(i) + ".0/24"}));
  }
  nodes.push_back(Node("ok", 1, KeyB64(50), "[fec0::1]:51820", {"10.4.200.0/24"}));
  auto set = ComputePeers(Nodes(nodes), Ctx());
  REQUIRE(set.peers.size() == 1);
  CHECK(set.peers[0].node == "ok");
  REQUIRE(set.rejected.size() == bad.size());
  for (size_t i = 0; i < bad.size(); ++i) {
    CHECK(set.rejected[i] == Rejection{"n" + std::to_string(10 + i), "bad_endpoint",
                                       "endpoint \"" + bad[i].first + "\" is " + bad[i].second});
  }
}

TEST_CASE("beyond maxPeers the newest nodes are rejected as too_many_peers, each with the reason") {
  auto ctx = Ctx();
  ctx.max_peers = 2;
  auto set = ComputePeers(Nodes({Node("d", 4, KeyB64(4), "192.168.1.4:51820", {"10.4.4.0/24"}),
                                 Node("a", 1, KeyB64(1), "192.168.1.1:51820", {"10.4.1.0/24"}),
                                 Node("c", 2, KeyB64(3), "192.168.1.3:51820", {"10.4.3.0/24"}),
                                 Node("b", 2, KeyB64(2), "192.168.1.2:51820", {"10.4.2.0/24"})}),
                          ctx);
  REQUIRE(set.peers.size() == 2);
  CHECK(set.peers[0].node == "a");
  CHECK(set.peers[1].node == "b");  // same age as c, smaller name
  const std::string why = "4 remote nodes qualify as peers, more than maxPeers 2; the newest are left out";
  CHECK(set.rejected == std::vector<Rejection>{{"c", "too_many_peers", why}, {"d", "too_many_peers", why}});
  CHECK(std::find(std::begin(swg::worker::kReasonCodes), std::end(swg::worker::kReasonCodes),
                  std::string("too_many_peers")) != std::end(swg::worker::kReasonCodes));
}

namespace {

// Everything a PeerSet says, as text: two sets are the same when their texts are.
std::string Text(const swg::worker::PeerSet& s) {
  std::string out;
  for (const auto& p : s.peers) {
    out += p.node + " " + p.peer.public_key.ToBase64() + " " + (p.peer.endpoint ? p.peer.endpoint->ToString() : "-") +
           " " + std::to_string(p.peer.persistent_keepalive) + " " + std::to_string(p.created);
    for (const auto& c : p.peer.allowed_ips) out += " " + c.ToString();
    out += "\n";
  }
  for (const auto& r : s.rejected) out += r.node + " " + r.code + " " + r.message + "\n";
  return out;
}

}  // namespace

TEST_CASE("an endpoint change updates one peer in place, exactly as recomputing every node would") {
  // Conflicts, a rejection and the maxPeers cut around the node that changes.
  auto nodes = Nodes({Node("a", 1, KeyB64(1), "192.168.1.1:51820", {"10.4.1.0/24"}),
                      Node("b", 2, KeyB64(2), "192.168.1.2:51820", {"10.4.2.0/24"}),
                      Node("c", 3, KeyB64(2), "192.168.1.3:51820", {"10.4.3.0/24"}),   // b's key
                      Node("d", 4, KeyB64(4), "192.168.1.4:51820", {"10.4.2.0/25"}),   // inside b's CIDR
                      Node("e", 5, KeyB64(5), "192.168.1.5:51820", {"10.4.5.0/24"}),
                      Node("f", 6, KeyB64(6), "192.168.1.6:51820", {"10.4.6.0/24"}),   // past maxPeers
                      Node("g", 7, "not a key", "192.168.1.7:51820", {"10.4.7.0/24"})});
  auto ctx = Ctx();
  ctx.max_peers = 3;
  auto before = ComputePeers(nodes, ctx);
  REQUIRE(before.peers.size() == 3);
  REQUIRE(before.rejected.size() == 4);
  for (const std::string name : {"a", "b", "e"}) {
    auto changed = nodes;
    changed[name].annotations["c1.wireguard.semaphore.uw.io/endpoint"] = "[fd00::9]:40000";
    auto set = before;
    REQUIRE(swg::worker::UpdatePeerInPlace(set, changed[name], ctx));
    CHECK(Text(set) == Text(ComputePeers(changed, ctx)));
    CHECK(Text(set) != Text(before));
  }
  // Anything else, or a node that was not a peer: recompute them all.
  auto refused = [&](const std::string& name, auto change) {
    auto changed = nodes;
    change(changed[name]);
    auto set = before;
    bool in_place = swg::worker::UpdatePeerInPlace(set, changed[name], ctx);
    CHECK(Text(set) == Text(before));  // untouched when refused
    return !in_place;
  };
  auto endpoint = [](swg::k8s::NodeInfo& n) { n.annotations["c1.wireguard.semaphore.uw.io/endpoint"] = "192.168.9.9:1"; };
  CHECK(refused("c", endpoint));  // rejected: a key conflict
  CHECK(refused("f", endpoint));  // rejected: too many peers
  CHECK(refused("g", endpoint));  // rejected: bad key
  CHECK(refused("a", [](auto& n) { n.annotations["c1.wireguard.semaphore.uw.io/endpoint"] = "127.0.0.1:1"; }));
  CHECK(refused("a", [](auto& n) { n.annotations["c1.wireguard.semaphore.uw.io/pubKey"] = KeyB64(7); }));
  CHECK(refused("b", [](auto& n) { n.pod_cidrs = {"10.4.8.0/24"}; }));  // would free d
  CHECK(refused("a", [](auto& n) { n.creation_timestamp = 9; }));     // would move the maxPeers cut
  CHECK(refused("a", [](auto& n) { n.annotations["c1.wireguard.semaphore.uw.io/persistentKeepalive"] = "30"; }));
}

TEST_CASE("mirror records: a refused record is rejected with its reason; the sync marker is no node") {
  auto refused = Node("n2", 1, KeyB64(2), "10.0.0.2:51820", {"10.4.2.0/24"});
  refused.refused_code = "mirror_rejected";
  refused.refused = "the mirror rejected this node: it is cordoned";
  auto bad = Node("record c2.x", 1, "", "", {});
  bad.refused_code = "bad_record";
  bad.refused = "record: spec.nodeName is missing";
  swg::k8s::NodeInfo marker;  // named "": k8s/peer_record.h's kSyncMarkerNode
  marker.annotations["sync/complete"] = "true";
  auto set = ComputePeers(
      Nodes({Node("n1", 1, KeyB64(1), "10.0.0.1:51820", {"10.4.1.0/24"}), refused, bad, marker}), Ctx());
  REQUIRE(set.peers.size() == 1);
  CHECK(set.peers[0].node == "n1");
  std::vector<Rejection> want = {
      {"n2", "mirror_rejected", "the mirror rejected this node: it is cordoned"},
      {"record c2.x", "bad_record", "record: spec.nodeName is missing"},
  };
  CHECK(set.rejected == want);
}

TEST_CASE("the mirror's records: one per remote node, rejected ones with the agents' reason code") {
  swg::RemoteConfig remote;
  remote.name = "c2";
  remote.pod_subnets = {*swg::Cidr::Parse("10.4.0.0/16")};
  std::map<std::string, swg::k8s::NodeInfo> nodes;
  auto node = [&](const std::string& name, const std::string& key, const std::string& cidr) {
    swg::k8s::NodeInfo n;
    n.name = name;
    n.creation_timestamp = 1767323045;
    n.annotations[swg::PubKeyAnnotation("c1")] = key;
    n.annotations[swg::EndpointAnnotation("c1")] = "192.0.2.7:51820";
    n.pod_cidrs = {cidr};
    nodes[name] = n;
  };
  const std::string key = "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=";
  node("good", key, "10.4.1.0/24");
  node("badkey", "nope", "10.4.2.0/24");
  node("outside", "AgIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=", "10.9.0.0/24");
  std::vector<swg::worker::Rejection> rejected;
  auto desired = swg::worker::DesiredRecords(nodes, "c1", remote, &rejected);
  REQUIRE(desired.size() == 3);
  CHECK(desired["good"].rejection.empty());
  CHECK(desired["good"].public_key == key);
  CHECK(desired["good"].endpoint == "192.0.2.7:51820");
  CHECK(desired["badkey"].rejection.starts_with("bad_key: "));
  CHECK(desired["outside"].rejection.starts_with("outside_subnet: "));
  CHECK(rejected.size() == 2);
  CHECK(swg::worker::OtherRemotesSelector({"c2", "c3"}) ==
        "wireguard.semaphore.uw.io/remote,wireguard.semaphore.uw.io/remote notin (c2,c3)");
}
