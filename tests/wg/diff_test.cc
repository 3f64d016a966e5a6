// The peer diff: minimal, deterministic, never undoing the roamed endpoint of a live peer.
#include "worker/wg/diff.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <string>

namespace swg::wg {
namespace {

Key K(uint8_t n) {
  uint8_t raw[Key::kSize] = {};
  raw[0] = n;
  return Key(raw);
}

Peer P(uint8_t n, const char* endpoint, std::initializer_list<const char*> ips, uint16_t keepalive = 25) {
  Peer p;
  p.public_key = K(n);
  if (endpoint) p.endpoint = *Endpoint::Parse(endpoint);
  for (const char* ip : ips) p.allowed_ips.push_back(*Cidr::Parse(ip));
  p.persistent_keepalive = keepalive;
  return p;
}

// One line per peer change, e.g. "3 update_only endpoint=1.2.3.4:5 keepalive=25 replace 10.0.0.0/24".
std::string Show(const DeviceChange& c) {
  std::string out;
  for (const PeerChange& pc : c.peers) {
    out += std::to_string(pc.public_key.bytes()[0]);
    if (pc.remove) out += " remove";
    if (pc.update_only) out += " update_only";
    if (pc.endpoint) out += " endpoint=" + pc.endpoint->ToString();
    if (pc.persistent_keepalive) out += " keepalive=" + std::to_string(*pc.persistent_keepalive);
    if (pc.replace_allowed_ips) out += " replace";
    for (const Cidr& ip : pc.allowed_ips) out += " " + ip.ToString();
    out += "\n";
  }
  return out;
}

TEST_CASE("DiffPeers adds, updates only what changed, removes; in a fixed order") {
  std::vector<Peer> current = {
      P(9, "10.0.0.9:51820", {"10.9.0.0/24"}), P(2, "10.0.0.2:51820", {"10.2.0.0/24"}),
      P(5, "10.0.0.5:51820", {"10.5.0.0/24"}), P(7, "10.0.0.7:51820", {"10.7.0.0/24"})};
  std::vector<Peer> desired = {P(8, "10.0.0.8:51820", {"10.8.0.7/24", "fd00:8::/64"}),
                               P(5, "10.0.0.5:51820", {"10.5.0.0/24", "10.55.0.0/24"}),
                               P(2, "10.0.0.2:51820", {"10.2.0.0/24"}, 10), P(1, nullptr, {"10.1.0.0/24"}, 0),
                               P(7, "10.0.0.7:51820", {"10.7.0.0/24"})};
  DeviceChange c = DiffPeers(desired, current, nullptr);
  CHECK_FALSE(c.private_key);
  CHECK_FALSE(c.listen_port);
  CHECK(Show(c) ==
        "9 remove\n"
        "2 update_only keepalive=10\n"
        "5 update_only replace 10.5.0.0/24 10.55.0.0/24\n"
        "1 10.1.0.0/24\n"
        "8 endpoint=10.0.0.8:51820 keepalive=25 10.8.0.0/24 fd00:8::/64\n");
  // The same inputs in another order give the same change.
  std::reverse(desired.begin(), desired.end());
  std::reverse(current.begin(), current.end());
  CHECK(Show(DiffPeers(desired, current, nullptr)) == Show(c));
}

TEST_CASE("DiffPeers compares allowed IPs as normalised sets") {
  std::vector<Peer> current = {P(1, "10.0.0.1:1", {"10.1.0.0/24", "fd00:1::/64", "10.2.0.0/24"})};
  std::vector<Peer> desired = {
      P(1, "10.0.0.1:1", {"fd00:1::5/64", "10.2.0.9/24", "10.1.0.1/24", "10.1.0.0/24"})};
  CHECK(DiffPeers(desired, current, nullptr).empty());
  CHECK(DiffPeers(current, current, &current).empty());
  CHECK(NormalizeCidrs(
            {*Cidr::Parse("10.2.0.9/24"), *Cidr::Parse("10.1.0.1/24"), *Cidr::Parse("10.1.0.0/24")}) ==
        std::vector<Cidr>{*Cidr::Parse("10.1.0.0/24"), *Cidr::Parse("10.2.0.0/24")});
  // Dropping one is a replace with the remaining set.
  desired[0].allowed_ips.pop_back();
  desired[0].allowed_ips.pop_back();
  CHECK(Show(DiffPeers(desired, current, nullptr)) == "1 update_only replace 10.2.0.0/24 fd00:1::/64\n");
}

TEST_CASE("DiffPeers sends an endpoint only when the desired endpoint changed") {
  Peer roamed = P(1, "192.168.9.9:4000", {"10.1.0.0/24"});  // where the peer's packets now come from
  std::vector<Peer> current = {roamed};
  std::vector<Peer> previous = {P(1, "10.0.0.1:51820", {"10.1.0.0/24"})};

  SUBCASE("unchanged desire keeps the roamed endpoint") {
    CHECK(DiffPeers(previous, current, &previous).empty());
  }
  SUBCASE("a changed desire is sent") {
    std::vector<Peer> desired = {P(1, "10.0.0.1:51821", {"10.1.0.0/24"})};
    CHECK(Show(DiffPeers(desired, current, &previous)) == "1 update_only endpoint=10.0.0.1:51821\n");
  }
  SUBCASE("a changed desire equal to the device's endpoint sends nothing") {
    std::vector<Peer> desired = {roamed};
    CHECK(DiffPeers(desired, current, &previous).empty());
  }
  SUBCASE("unknown previous desire: the device's endpoint is kept") {
    CHECK(DiffPeers(previous, current, nullptr).empty());
  }
  SUBCASE("unknown previous desire: sent when the device has none") {
    current[0].endpoint.reset();
    CHECK(Show(DiffPeers(previous, current, nullptr)) == "1 update_only endpoint=10.0.0.1:51820\n");
  }
  SUBCASE("a peer not desired before counts as a new desire") {
    std::vector<Peer> other = {P(2, "10.0.0.2:51820", {"10.2.0.0/24"})};
    CHECK(Show(DiffPeers(previous, current, &other)) == "1 update_only endpoint=10.0.0.1:51820\n");
  }
  SUBCASE("a desired peer without endpoint never clears the device's") {
    std::vector<Peer> desired = {P(1, nullptr, {"10.1.0.0/24"})};
    CHECK(DiffPeers(desired, current, nullptr).empty());
  }
}

TEST_CASE("DiffPeers with a device read: a peer that is not live gets the desired endpoint back") {
  const int64_t now = 1700000000;
  std::vector<Peer> desired = {P(1, "10.0.0.1:51820", {"10.1.0.0/24"})};
  // The device still has the endpoint the remote node advertised before it moved, e.g. while the worker was down.
  Peer stale = P(1, "10.0.0.99:51820", {"10.1.0.0/24"});
  std::vector<Peer> current = {stale};
  const std::string send = "1 update_only endpoint=10.0.0.1:51820\n";

  SUBCASE("never a handshake: after a restart (previous desire unknown)") {
    CHECK(Show(DiffPeers(desired, current, nullptr, now)) == send);
  }
  SUBCASE("never a handshake: also when the desire is unchanged, so it is not stuck after the first diff") {
    CHECK(Show(DiffPeers(desired, current, &desired, now)) == send);
  }
  SUBCASE("the last handshake is older than REJECT_AFTER_TIME") {
    current[0].last_handshake_sec = now - kRejectAfterTimeSec - 1;
    CHECK(Show(DiffPeers(desired, current, nullptr, now)) == send);
    CHECK(Show(DiffPeers(desired, current, &desired, now)) == send);
  }
  SUBCASE("a live peer keeps the endpoint it roamed to") {
    current[0].last_handshake_sec = now - kRejectAfterTimeSec;
    CHECK(DiffPeers(desired, current, nullptr, now).empty());
    CHECK(DiffPeers(desired, current, &desired, now).empty());
    current[0].last_handshake_sec = now - 5;
    CHECK(DiffPeers(desired, current, &desired, now).empty());
    current[0].last_handshake_sec = now + 3;  // the clock stepped back: still live
    CHECK(DiffPeers(desired, current, &desired, now).empty());
  }
  SUBCASE("a live peer still gets a changed desire") {
    current[0].last_handshake_sec = now - 5;
    std::vector<Peer> moved = {P(1, "10.0.0.2:51820", {"10.1.0.0/24"})};
    CHECK(Show(DiffPeers(moved, current, &desired, now)) == "1 update_only endpoint=10.0.0.2:51820\n");
  }
  SUBCASE("without a read time (the model of what was applied) handshake times are not looked at") {
    CHECK(DiffPeers(desired, current, &desired).empty());
    CHECK(DiffPeers(desired, current, nullptr, 0).empty());
  }
  SUBCASE("an endpoint equal to the desired one is never sent, live or not") {
    CHECK(DiffPeers(desired, desired, &desired, now).empty());
    CHECK(DiffPeers(desired, desired, nullptr, now).empty());
  }
}

TEST_CASE("DiffPeers: keepalive alone, nothing to do, everything to remove, duplicates") {
  std::vector<Peer> current = {P(1, "10.0.0.1:1", {"10.1.0.0/24"}, 25)};
  std::vector<Peer> desired = {P(1, "10.0.0.1:1", {"10.1.0.0/24"}, 0)};
  CHECK(Show(DiffPeers(desired, current, nullptr)) == "1 update_only keepalive=0\n");
  CHECK(DiffPeers(current, current, nullptr).empty());
  CHECK(Show(DiffPeers({}, current, nullptr)) == "1 remove\n");
  CHECK(DiffPeers({}, {}, nullptr).empty());
  // A duplicate public key in the desired set (the caller should have rejected it): the first one wins.
  std::vector<Peer> dup = {P(3, "10.0.0.3:1", {"10.3.0.0/24"}), P(3, "10.0.0.4:1", {"10.4.0.0/24"})};
  CHECK(Show(DiffPeers(dup, {}, nullptr)) == "3 endpoint=10.0.0.3:1 keepalive=25 10.3.0.0/24\n");
}

}  // namespace
}  // namespace swg::wg
