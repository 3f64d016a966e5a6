// Traffic through the tunnel: two namespaces ("nodes") joined by a veth pair, a WireGuard interface in each
// configured through the backend, a route for the other side's pod subnet. A ping from pod address to pod
// address goes through; after the peer is removed it does not.
//
//   node A                                            node B
//   lo 10.1.0.1/32, fd00:1::1/128                     lo 10.2.0.1/32, fd00:2::1/128
//   wireguard.b  -- route 10.2.0.0/16, fd00:2::/64    wireguard.a  -- route 10.1.0.0/16, fd00:1::/64
//   veth-a 192.168.50.1/24  <------------------------>  veth-b 192.168.50.2/24
#include <doctest/doctest.h>

#include "tests/wg/nstest.h"
#include "worker/wg/diff.h"

namespace swg::wg::test {
namespace {

struct Node {
  NetNs ns;
  std::unique_ptr<Interface> iface;
  Key key;
  Peer as_peer;  // how the other node sees this one
};

void Configure(Node& node, const Peer& remote) {
  auto scope = node.ns.Enter();
  DeviceChange c = DiffPeers({remote}, {}, nullptr);
  c.private_key = node.key;
  c.listen_port = 51820;
  Status s = node.iface->backend().Apply(node.iface->name(), c);
  INFO(ErrorOf(s));
  REQUIRE(s);
  for (const Cidr& subnet : remote.allowed_ips) REQUIRE(node.iface->EnsureRoute(subnet));
}

RunResult Ping(const std::string& from, const std::string& to) {
  bool v6 = to.find(':') != std::string::npos;
  return Run({"ping", v6 ? "-6" : "-4", "-c", "1", "-w", "5", "-I", from, to}, 20s);
}

void PingThroughTunnel(BackendChoice choice) {
  Node a, b;
  a.key = RandomKey();
  b.key = RandomKey();
  {
    auto scope = a.ns.Enter();
    Sh("ip link add veth-a type veth peer name veth-b netns " + b.ns.path());
    Sh("ip addr add 192.168.50.1/24 dev veth-a && ip link set veth-a up && "
       "ip addr add 10.1.0.1/32 dev lo && ip -6 addr add fd00:1::1/128 dev lo");
    a.iface = MustEnsure({"wireguard.b", 1420, choice});
  }
  {
    auto scope = b.ns.Enter();
    Sh("ip addr add 192.168.50.2/24 dev veth-b && ip link set veth-b up && "
       "ip addr add 10.2.0.1/32 dev lo && ip -6 addr add fd00:2::1/128 dev lo");
    b.iface = MustEnsure({"wireguard.a", 1420, choice});
  }
  a.as_peer.public_key = *PublicKeyOf(a.key);
  a.as_peer.endpoint = *Endpoint::Parse("192.168.50.1:51820");
  a.as_peer.allowed_ips = {*Cidr::Parse("10.1.0.0/16"), *Cidr::Parse("fd00:1::/64")};
  b.as_peer.public_key = *PublicKeyOf(b.key);
  b.as_peer.endpoint = *Endpoint::Parse("192.168.50.2:51820");
  b.as_peer.allowed_ips = {*Cidr::Parse("10.2.0.0/16"), *Cidr::Parse("fd00:2::/64")};
  Configure(a, b.as_peer);
  Configure(b, a.as_peer);

  auto scope = a.ns.Enter();
  RunResult v4 = Ping("10.1.0.1", "10.2.0.1");
  INFO("ping: ", v4.output);
  CHECK(v4.status == 0);
  RunResult v6 = Ping("fd00:1::1", "fd00:2::1");
  INFO("ping -6: ", v6.output);
  CHECK(v6.status == 0);
  auto d = a.iface->backend().GetDevice("wireguard.b");
  REQUIRE(d);
  REQUIRE(d->peers.size() == 1);
  CHECK(d->peers[0].last_handshake_sec != 0);
  CHECK(d->peers[0].rx_bytes > 0);
  CHECK(d->peers[0].tx_bytes > 0);

  // Peer removed: no key for the destination any more, the ping fails.
  REQUIRE(a.iface->backend().Apply("wireguard.b", DiffPeers({}, d->peers, nullptr)));
  CHECK(a.iface->backend().GetDevice("wireguard.b")->peers.empty());
  RunResult after = Run({"ping", "-4", "-c", "1", "-w", "2", "-I", "10.1.0.1", "10.2.0.1"}, 20s);
  INFO("ping after removal: ", after.output);
  CHECK(after.status != 0);
  // The route is still there: the failure is the missing peer, not a missing route.
  CHECK(Sh("ip -4 -o route show proto 87").find("10.2.0.0/16 dev wireguard.b") != std::string::npos);
}

TEST_CASE("datapath-kernel: ping through the tunnel, none after the peer is removed" *
          doctest::test_suite("datapath-kernel")) {
  PingThroughTunnel(BackendChoice::kKernel);
}
TEST_CASE("datapath-userspace: ping through the tunnel, none after the peer is removed" *
          doctest::test_suite("datapath-userspace")) {
  PingThroughTunnel(BackendChoice::kUserspace);
}

}  // namespace
}  // namespace swg::wg::test
