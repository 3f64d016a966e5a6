#include "worker/peers.h"

#include <algorithm>
#include <bitset>
#include <map>
#include <tuple>

#include "common/config.h"
#include "common/duration.h"
#include "common/strings.h"

namespace swg::worker {
namespace {

struct Candidate {
  const k8s::NodeInfo* node;
  wg::Peer peer;
  std::vector<Cidr> ignored;  // pod CIDRs of a family without a configured subnet
};

std::string CidrList(const std::vector<Cidr>& cidrs) {
  std::string out;
  for (const Cidr& c : cidrs) out += (out.empty() ? "" : ", ") + c.ToString();
  return out;
}

// Validates one node on its own. Returns false with *rejection filled when it cannot be a peer; returns false
// with an empty code when the node simply does not take part (no annotations for us).
// The annotation keys of a pairing, built once per computation rather than once per node.
struct AnnotationKeys {
  std::string key, endpoint, keepalive;
};
AnnotationKeys AnnotationKeysOf(const std::string& local_cluster);

bool Validate(const k8s::NodeInfo& n, const PeerContext& ctx, const AnnotationKeys& keys, Candidate* out,
              Rejection* rejection) {
  const std::string& key_ann = keys.key;
  const std::string& ep_ann = keys.endpoint;
  auto key_it = n.annotations.find(key_ann);
  auto ep_it = n.annotations.find(ep_ann);
  auto reject = [&](const char* code, std::string message) {
    *rejection = Rejection{n.name, code, std::move(message)};
    return false;
  };
  // A mirror record that cannot stand for a node, or that the mirror rejected (k8s/peer_record.h).
  if (!n.refused_code.empty()) return reject(n.refused_code.c_str(), n.refused);
  if (key_it == n.annotations.end() && ep_it == n.annotations.end()) return false;
  if (key_it == n.annotations.end()) return reject("missing_annotation", "has " + ep_ann + " but no " + key_ann);
  if (ep_it == n.annotations.end()) return reject("missing_annotation", "has " + key_ann + " but no " + ep_ann);

  if (std::string problem = PeerKeyProblem(key_it->second); !problem.empty()) return reject("bad_key", problem);
  Key key = *Key::FromBase64(key_it->second);
  if (key == ctx.own_public_key) return reject("own_key", "public key is this node's own key");

  auto endpoint = Endpoint::Parse(ep_it->second);
  if (!endpoint) {
    return reject("bad_endpoint", "endpoint " + Quote(ep_it->second) +
                                      " is not a numeric IPv4:port or [IPv6]:port with a port in 1-65535");
  }
  if (std::string problem = EndpointAddressProblem(endpoint->addr); !problem.empty()) {
    return reject("bad_endpoint", "endpoint " + Quote(ep_it->second) + " is " + problem);
  }
  if (n.pod_cidrs.empty()) return reject("no_pod_cidr", "node has no pod CIDR (spec.podCIDRs is empty)");
  std::vector<Cidr> listed;
  for (const auto& text : n.pod_cidrs) {
    auto c = Cidr::Parse(text);
    if (!c) return reject("bad_pod_cidr", "pod CIDR " + Quote(text) + " is not a valid CIDR");
    if (c->HasHostBits()) return reject("bad_pod_cidr", "pod CIDR " + Quote(text) + " has host bits set");
    if (c->OverlapsV4Mapped()) {
      return reject("bad_pod_cidr", "pod CIDR " + Quote(text) + " overlaps the IPv4-mapped IPv6 range ::ffff:0:0/96");
    }
    for (const Cidr& before : listed) {
      if (before.addr.family != c->addr.family) continue;
      return reject("bad_pod_cidr", std::string("node lists more than one ") + FamilyName(c->addr.family) +
                                        " pod CIDR (" + before.ToString() + ", " + c->ToString() +
                                        "); Kubernetes allows one per address family");
    }
    listed.push_back(*c);
  }
  std::vector<Cidr> cidrs, ignored;
  for (const Cidr& c : listed) {
    auto subnet = std::find_if(ctx.pod_subnets.begin(), ctx.pod_subnets.end(),
                               [&](const Cidr& s) { return s.addr.family == c.addr.family; });
    if (subnet == ctx.pod_subnets.end()) {
      ignored.push_back(c);
    } else if (!subnet->Contains(c)) {
      return reject("outside_subnet",
                    "pod CIDR " + c.ToString() + " is outside the remote pod subnet " + subnet->ToString());
    } else {
      cidrs.push_back(c);
    }
  }
  if (cidrs.empty()) {
    return reject("no_pod_cidr", "node has no pod CIDR of a configured address family (its pod CIDRs: " +
                                     CidrList(listed) + "; the remote pod subnets: " + CidrList(ctx.pod_subnets) +
                                     ")");
  }
  out->node = &n;
  out->peer.public_key = key;
  out->peer.endpoint = *endpoint;
  out->peer.allowed_ips = std::move(cidrs);
  out->peer.persistent_keepalive = ctx.keepalive;
  out->ignored = std::move(ignored);
  if (auto ka = n.annotations.find(keys.keepalive); ka != n.annotations.end()) {
    auto seconds = ParsePeerKeepalive(ka->second);
    if (!seconds.ok()) return reject("bad_keepalive", ka->first + ": " + seconds.error().message);
    out->peer.persistent_keepalive = *seconds;
  }
  return true;
}

// The accepted CIDRs, ordered by (family, address, prefix), and the prefix lengths among them per family.
struct Claimed {
  std::map<Cidr, const Candidate*> by_cidr;
  std::bitset<129> v4_lengths, v6_lengths;
  void Add(const Cidr& c, const Candidate* owner) {
    by_cidr[c] = owner;
    (c.addr.is_v4() ? v4_lengths : v6_lengths).set(c.prefix);
  }
};

// An accepted CIDR overlapping `c`: either one containing it (same address masked to a shorter or equal
// prefix) or one inside it (the first entry at or after c's start, if it lies within c's range). Only the prefix
// lengths in use are looked up: with thousands of nodes, 33 or 129 lookups per CIDR were most of the cost.
std::map<Cidr, const Candidate*>::const_iterator FindOverlap(const Claimed& claimed, const Cidr& c) {
  const auto& lengths = c.addr.is_v4() ? claimed.v4_lengths : claimed.v6_lengths;
  for (unsigned len = 0; len <= c.prefix; ++len) {
    if (!lengths.test(len)) continue;
    Cidr outer = Cidr{c.addr, static_cast<uint8_t>(len)}.Normalized();
    if (auto it = claimed.by_cidr.find(outer); it != claimed.by_cidr.end()) return it;
  }
  auto it = claimed.by_cidr.lower_bound(c);
  if (it != claimed.by_cidr.end() && c.Contains(it->first)) return it;
  return claimed.by_cidr.end();
}

std::string WinnerText(const k8s::NodeInfo& winner, const k8s::NodeInfo& loser) {
  return winner.creation_timestamp < loser.creation_timestamp ? "older" : "same age, smaller name";
}

}  // namespace

std::string EndpointAddressProblem(const IpAddr& a) {
  const auto& b = a.bytes;
  if (a.is_v4()) {
    if (b[0] == 127) return "a loopback address";
    if (b[0] == 0) return "an unspecified address";  // 0.0.0.0/8: "this network"
    if (b[0] >= 224 && b[0] <= 239) return "a multicast address";
    if (b[0] == 169 && b[1] == 254) return "a link-local address";
    if (b[0] == 255 && b[1] == 255 && b[2] == 255 && b[3] == 255) return "the broadcast address";
    return "";
  }
  bool zero_to_14 = std::all_of(b.begin(), b.begin() + 15, [](uint8_t x) { return x == 0; });
  if (zero_to_14 && b[15] == 1) return "a loopback address";
  if (zero_to_14 && b[15] == 0) return "an unspecified address";
  if (b[0] == 0xff) return "a multicast address";
  if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) return "a link-local address";
  if (a.IsV4Mapped()) return "an IPv4-mapped IPv6 address (write the IPv4 address)";
  return "";
}

std::vector<wg::Peer> PeerSet::AsPeers() const {
  std::vector<wg::Peer> out;
  out.reserve(peers.size());
  for (const auto& p : peers) out.push_back(p.peer);
  return out;
}

std::vector<std::string> PeerAnnotationKeys(const std::string& local_cluster) {
  return {PubKeyAnnotation(local_cluster), EndpointAnnotation(local_cluster), KeepaliveAnnotation(local_cluster)};
}

std::string KeepaliveAnnotation(const std::string& local_cluster) {
  return ClusterAnnotation(local_cluster, "persistentKeepalive");
}

namespace {
AnnotationKeys AnnotationKeysOf(const std::string& local_cluster) {
  return {PubKeyAnnotation(local_cluster), EndpointAnnotation(local_cluster), KeepaliveAnnotation(local_cluster)};
}
}  // namespace

Result<uint16_t> ParsePeerKeepalive(const std::string& text) {
  std::optional<std::chrono::nanoseconds> d;
  if (auto n = ParseUint(text, 1u << 20)) d = std::chrono::seconds(*n);
  else d = ParseDuration(text);
  const std::string bounds = " (use 0 to turn it off, or whole seconds from " + std::to_string(kMinPeerKeepalive) +
                             "s to " + std::to_string(kMaxPeerKeepalive) + "s, such as \"25s\")";
  if (!d) return Error{Quote(text) + " is not a duration" + bounds};
  if (*d % std::chrono::seconds(1) != std::chrono::nanoseconds(0)) {
    return Error{Quote(text) + " is not whole seconds" + bounds};
  }
  auto s = std::chrono::duration_cast<std::chrono::seconds>(*d).count();
  if (s != 0 && (s < kMinPeerKeepalive || s > kMaxPeerKeepalive)) {
    return Error{Quote(text) + " is out of bounds" + bounds};
  }
  return static_cast<uint16_t>(s);
}

PeerSet ComputePeers(const std::map<std::string, k8s::NodeInfo>& nodes, const PeerContext& ctx) {
  PeerSet out;
  const AnnotationKeys ann = AnnotationKeysOf(ctx.local_cluster);
  std::vector<Candidate> candidates;
  candidates.reserve(nodes.size());
  for (const auto& [name, node] : nodes) {
    if (name.empty()) continue;  // the mirror's sync marker (k8s/peer_record.h), not a node
    Candidate c;
    Rejection r;
    if (Validate(node, ctx, ann, &c, &r)) {
      candidates.push_back(std::move(c));
    } else if (!r.code.empty()) {
      out.rejected.push_back(std::move(r));
    }
  }
  // Oldest first, then by name: the first claimant of a CIDR or key keeps it.
  std::sort(candidates.begin(), candidates.end(), [](const Candidate& a, const Candidate& b) {
    return std::tie(a.node->creation_timestamp, a.node->name) < std::tie(b.node->creation_timestamp, b.node->name);
  });
  std::vector<const Candidate*> accepted;
  std::map<Key, const Candidate*> keys;
  Claimed claimed;
  for (const auto& c : candidates) {
    std::string conflict_code, conflict;
    if (auto it = keys.find(c.peer.public_key); it != keys.end()) {
      conflict_code = "key_conflict";
      conflict = "public key is also claimed by node " + it->second->node->name + ", which keeps it (" +
                 WinnerText(*it->second->node, *c.node) + ")";
    }
    for (const auto& mine : c.peer.allowed_ips) {
      if (!conflict.empty()) break;
      if (auto hit = FindOverlap(claimed, mine); hit != claimed.by_cidr.end()) {
        conflict_code = "cidr_conflict";
        conflict = "pod CIDR " + mine.ToString() + " overlaps " + hit->first.ToString() + " of node " +
                   hit->second->node->name + ", which keeps it (" + WinnerText(*hit->second->node, *c.node) + ")";
      }
    }
    if (!conflict.empty()) {
      out.rejected.push_back(Rejection{c.node->name, conflict_code, conflict});
      continue;
    }
    accepted.push_back(&c);
    keys[c.peer.public_key] = &c;
    for (const auto& mine : c.peer.allowed_ips) claimed.Add(mine, &c);
  }
  // Oldest first: past the limit, the newest nodes are left out, so the peers in place stay.
  for (size_t i = ctx.max_peers; i < accepted.size(); ++i) {
    out.rejected.push_back(Rejection{accepted[i]->node->name, "too_many_peers",
                                     std::to_string(accepted.size()) + " remote nodes qualify as peers, more than " +
                                         "maxPeers " + std::to_string(ctx.max_peers) + "; the newest are left out"});
  }
  if (accepted.size() > ctx.max_peers) accepted.resize(ctx.max_peers);
  out.peers.reserve(accepted.size());  // held until the next recompute: no room for doubling (0.6 MB at 5,000)
  for (const Candidate* a : accepted) {
    out.peers.push_back(DesiredPeer{a->node->name, a->peer, a->ignored, a->node->creation_timestamp});
  }
  std::sort(out.peers.begin(), out.peers.end(),
            [](const DesiredPeer& a, const DesiredPeer& b) { return a.node < b.node; });
  std::sort(out.rejected.begin(), out.rejected.end(),
            [](const Rejection& a, const Rejection& b) { return a.node < b.node; });
  return out;
}

bool UpdatePeerInPlace(PeerSet& before, const k8s::NodeInfo& node, const PeerContext& ctx, size_t* index) {
  auto it = std::lower_bound(before.peers.begin(), before.peers.end(), node.name,
                             [](const DesiredPeer& p, const std::string& name) { return p.node < name; });
  if (it == before.peers.end() || it->node != node.name) return false;  // not a peer before
  const AnnotationKeys ann = AnnotationKeysOf(ctx.local_cluster);
  Candidate c;
  Rejection r;
  if (!Validate(node, ctx, ann, &c, &r)) return false;
  // Conflicts (keys, CIDRs) and the maxPeers cut depend on these and on the order (creation time, name) only:
  // with them unchanged every other node keeps its outcome, and only this peer's endpoint can differ.
  const wg::Peer& was = it->peer;
  if (!(c.peer.public_key == was.public_key) || c.peer.allowed_ips != was.allowed_ips ||
      c.peer.persistent_keepalive != was.persistent_keepalive || c.ignored != it->ignored_cidrs ||
      node.creation_timestamp != it->created) {
    return false;
  }
  it->peer.endpoint = c.peer.endpoint;
  if (index) *index = static_cast<size_t>(it - before.peers.begin());
  return true;
}

}  // namespace swg::worker
