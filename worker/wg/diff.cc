#include "worker/wg/diff.h"

#include <algorithm>
#include <map>

namespace swg::wg {
namespace {

using ByKey = std::map<Key, const Peer*>;

ByKey Index(const std::vector<Peer>& peers) {
  ByKey out;
  for (const Peer& p : peers) out.emplace(p.public_key, &p);  // emplace keeps the first of duplicates
  return out;
}

bool Live(const Peer& have, int64_t now) {
  return HandshakeLive(have.last_handshake_sec, now);
}

bool SendEndpoint(const Peer& want, const Peer& have, const ByKey* previous, int64_t now) {
  if (!want.endpoint) return false;  // an endpoint cannot be cleared; leave whatever the device has
  if (!have.endpoint) return true;
  if (*have.endpoint == *want.endpoint) return false;
  if (now > 0 && !Live(have, now)) return true;
  if (!previous) return false;
  auto it = previous->find(want.public_key);
  // Not desired before: the desired endpoint is new, so it counts as changed where the device differs.
  if (it == previous->end()) return *have.endpoint != *want.endpoint;
  return it->second->endpoint != want.endpoint;
}

}  // namespace

std::vector<Cidr> NormalizeCidrs(std::vector<Cidr> cidrs) {
  for (Cidr& c : cidrs) c = c.Normalized();
  std::sort(cidrs.begin(), cidrs.end());
  cidrs.erase(std::unique(cidrs.begin(), cidrs.end()), cidrs.end());
  return cidrs;
}

DeviceChange DiffPeers(const std::vector<Peer>& desired, const std::vector<Peer>& current,
                       const std::vector<Peer>* previous_desired, int64_t now) {
  const ByKey want = Index(desired), have = Index(current);
  ByKey previous;
  if (previous_desired) previous = Index(*previous_desired);
  const ByKey* prev = previous_desired ? &previous : nullptr;

  DeviceChange change;
  for (const auto& [key, peer] : have) {
    if (!want.count(key)) {
      PeerChange pc;
      pc.public_key = key;
      pc.remove = true;
      change.peers.push_back(std::move(pc));
    }
  }
  std::vector<PeerChange> added;
  for (const auto& [key, peer] : want) {
    PeerChange pc;
    pc.public_key = key;
    std::vector<Cidr> ips = NormalizeCidrs(peer->allowed_ips);
    auto it = have.find(key);
    if (it == have.end()) {
      pc.endpoint = peer->endpoint;
      if (peer->persistent_keepalive) pc.persistent_keepalive = peer->persistent_keepalive;
      pc.allowed_ips = std::move(ips);
      added.push_back(std::move(pc));
      continue;
    }
    const Peer& dev = *it->second;
    bool changed = false;
    if (ips != NormalizeCidrs(dev.allowed_ips)) {
      pc.replace_allowed_ips = true;
      pc.allowed_ips = std::move(ips);
      changed = true;
    }
    if (peer->persistent_keepalive != dev.persistent_keepalive) {
      pc.persistent_keepalive = peer->persistent_keepalive;
      changed = true;
    }
    if (SendEndpoint(*peer, dev, prev, now)) {
      pc.endpoint = peer->endpoint;
      changed = true;
    }
    if (changed) {
      pc.update_only = true;
      change.peers.push_back(std::move(pc));
    }
  }
  for (PeerChange& pc : added) change.peers.push_back(std::move(pc));
  return change;
}

}  // namespace swg::wg
