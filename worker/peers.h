#pragma once
// Turns the remote cluster's nodes into the peers this node should have. Remote data is untrusted: every node
// is validated, a bad one is rejected with a reason and never blocks the others, and conflicts over a pod CIDR
// or a public key go to one deterministic winner (the oldest node, then the smaller name).

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "common/config.h"
#include "common/ip.h"
#include "common/keys.h"
#include "k8s/node.h"
#include "worker/wg/device.h"

namespace swg::worker {

inline constexpr uint16_t kPersistentKeepalive = 25;

struct PeerContext {
  std::string local_cluster;  // remote nodes advertise to us under "<local_cluster>.wireguard.semaphore.uw.io/"
  std::vector<Cidr> pod_subnets;  // the remote cluster's pod subnets from the config, at most one per family
  Key own_public_key;         // this interface's key: a remote node claiming it is rejected
  size_t max_peers = kDefaultMaxPeers;  // beyond it the newest nodes are rejected as too_many_peers
  uint16_t keepalive = kPersistentKeepalive;  // persistentKeepalive of the config, seconds, 0 = off
};

// A remote node may ask for another keepalive towards itself: "<local>.wireguard.semaphore.uw.io/
// persistentKeepalive" = "0" (off), whole seconds ("30") or a duration ("30s", "1m") within these bounds.
// Below the minimum a remote could make every node here send it a packet every second; above the maximum a
// keepalive no longer holds a NAT mapping open (UDP conntrack timeouts are 30 s to a few minutes).
inline constexpr uint16_t kMinPeerKeepalive = 10;
inline constexpr uint16_t kMaxPeerKeepalive = 3600;
std::string KeepaliveAnnotation(const std::string& local_cluster);
// The keepalive in seconds, or an error naming the value and the bounds.
Result<uint16_t> ParsePeerKeepalive(const std::string& text);

struct Rejection {
  std::string node;
  std::string code;     // short, for the metric label: bad_key, own_key, bad_endpoint, ...
  std::string message;  // for logs and status
  bool operator==(const Rejection&) const = default;
};

struct DesiredPeer {
  std::string node;
  wg::Peer peer;
  // The node's pod CIDRs of an address family without a configured subnet: valid, but not allowed IPs (an IPv6
  // CIDR of a dual-stack node when the remote has an IPv4 podSubnet only).
  std::vector<Cidr> ignored_cidrs;
  int64_t created = 0;  // the node's creation timestamp: its rank in conflicts and maxPeers
};

struct PeerSet {
  std::vector<DesiredPeer> peers;    // sorted by node name
  std::vector<Rejection> rejected;   // sorted by node name
  std::vector<wg::Peer> AsPeers() const;
};

// Reason codes, also the values of the `reason` label of the rejected-peers metric.
inline constexpr const char* kReasonCodes[] = {"missing_annotation", "bad_key",       "own_key",
                                               "bad_endpoint",       "no_pod_cidr",   "bad_pod_cidr",
                                               "outside_subnet",     "cidr_conflict", "key_conflict",
                                               "too_many_peers",     "bad_keepalive",
                                               "bad_record",         "mirror_rejected"};

// Why an endpoint address cannot be a remote node's public address ("a loopback address"), or "" when it can.
// Loopback, unspecified, multicast, link-local, broadcast and IPv4-mapped IPv6 addresses would send this node's
// WireGuard traffic to itself, to a cloud metadata service or to a whole segment instead of a remote node.
std::string EndpointAddressProblem(const IpAddr& addr);

// A node's pod CIDRs (spec.podCIDRs) become its allowed IPs: those of a configured family must lie inside that
// family's subnet (else outside_subnet), those of another family are left out (DesiredPeer::ignored_cidrs). At
// most one per family, as Kubernetes allows, and no IPv4-mapped IPv6 range (else bad_pod_cidr); none left of a
// configured family is no_pod_cidr.
PeerSet ComputePeers(const std::map<std::string, k8s::NodeInfo>& nodes, const PeerContext& context);

// ComputePeers after one node changed, when that is known to give the same result without looking at the other
// nodes: `before` is ComputePeers of the nodes before, `node` the changed node, which was a peer in `before`
// and still validates with the same key, pod CIDRs, keepalive and creation time (so that no conflict and no
// maxPeers rank moves). Returns false otherwise, with `before` untouched: recompute them all. On success,
// `index` (if given) is the changed peer's position in before.peers.
bool UpdatePeerInPlace(PeerSet& before, const k8s::NodeInfo& node, const PeerContext& context,
                       size_t* index = nullptr);

// The annotation keys the informer must keep for this pairing.
std::vector<std::string> PeerAnnotationKeys(const std::string& local_cluster);

}  // namespace swg::worker
