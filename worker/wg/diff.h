#pragma once
// The peer diff: the smallest change that turns the device's peers into the desired ones without dropping a
// session. Never REPLACE_PEERS; a peer that stays is updated in place (sessions and counters survive).

#include <cstdint>
#include <vector>

#include "worker/wg/device.h"

namespace swg::wg {

// Host bits cleared, sorted, duplicates dropped: the form in which allowed IPs are compared (the device masks
// host bits on insert, so "10.4.1.7/16" and "10.4.0.0/16" are the same entry).
std::vector<Cidr> NormalizeCidrs(std::vector<Cidr> cidrs);

// `desired`: the peers the device should have (unique public keys; for a duplicate the first wins).
// `current`: the device's peers. `previous_desired`: what was desired when the device was last changed, or
// nullptr when unknown (after a start). `now`: the unix time at which `current` was read from the device, so its
// handshake times are real; 0 when `current` is only a model of what was applied.
//
// The change removes peers that are not desired, updates the others only where they differ (allowed IPs as
// normalised sets -> update_only + replace_allowed_ips; keepalive; the endpoint), and adds new peers. Order:
// removals, updates, additions, each by public key.
//
// The endpoint: the device's endpoint follows a peer that roams (it is where the peer's authenticated packets
// come from), so it is kept while the peer is live, and the desired endpoint is sent only when it changed
// (`previous_desired`; when unknown, only when the device has none). A peer without a handshake for longer than
// kRejectAfterTimeSec (HandshakeLive; or never) is not live: then, with `now`, a device endpoint other than the desired one
// is stale (the remote node moved while nobody applied it, or it roamed and went away) and the desired one is
// sent.
DeviceChange DiffPeers(const std::vector<Peer>& desired, const std::vector<Peer>& current,
                       const std::vector<Peer>* previous_desired, int64_t now = 0);

}  // namespace swg::wg
