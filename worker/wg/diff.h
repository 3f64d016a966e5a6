#pragma once
// The peer diff: the smallest change that turns the device's peers into the desired ones without dropping a
// session. Never REPLACE_PEERS; a peer that stays is updated in place (sessions and counters survive).

#include <vector>

#include "worker/wg/device.h"

namespace swg::wg {

// Host bits cleared, sorted, duplicates dropped: the form in which allowed IPs are compared (the device masks
// host bits on insert, so "10.4.1.7/16" and "10.4.0.0/16" are the same entry).
std::vector<Cidr> NormalizeCidrs(std::vector<Cidr> cidrs);

// `desired`: the peers the device should have (unique public keys; for a duplicate the first wins).
// `current`: the device's peers as read. `previous_desired`: what was desired when the device was last
// changed, or nullptr when unknown (after a start).
//
// The change removes peers that are not desired, updates the others only where they differ (allowed IPs as
// normalised sets -> update_only + replace_allowed_ips; keepalive; the endpoint only when the desired
// endpoint changed, so an endpoint the peer roamed to is kept: with `previous_desired` unknown, only when the
// device has none for that peer), and adds new peers. Order: removals, updates, additions, each by public
// key.
DeviceChange DiffPeers(const std::vector<Peer>& desired, const std::vector<Peer>& current,
                       const std::vector<Peer>* previous_desired);

}  // namespace swg::wg
