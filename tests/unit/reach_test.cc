// Reach: chosen endpoints, keepalive and MTU (README "Reach").
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "common/config.h"
#include "worker/advertiser.h"
#include "worker/peers.h"
#include "worker/underlay.h"

using swg::ParseConfig;
using swg::worker::ChooseEndpoint;

namespace {

std::string Remote(const std::string& fields) {
  return R"({"local":{"name":"c1"},"remotes":[{"name":"c2","kubeConfigPath":"/k","podSubnet":"10.4.0.0/16")" +
         fields + "}]}";
}

swg::k8s::NodeInfo LocalNode(std::map<std::string, std::string> annotations) {
  swg::k8s::NodeInfo n;
  n.name = "n1";
  n.annotations = std::move(annotations);
  n.addresses = {{"Hostname", "n1"}, {"InternalIP", "10.0.0.5"}, {"ExternalIP", "203.0.113.5"},
                 {"InternalIP", "fd00::5"}};
  return n;
}

std::string Chosen(const swg::worker::EndpointChoice& c) { return c.endpoint ? c.endpoint->ToString() : "-"; }

}  // namespace

TEST_CASE("reach config: wgDeviceMTU auto or 0, advertiseAddressType, persistentKeepalive; round trip") {
  auto p = ParseConfig(Remote(R"(,"wgDeviceMTU":"auto","advertiseAddressType":"ExternalIP,InternalIP",)"
                              R"("persistentKeepalive":"1m")"));
  REQUIRE(p.errors.empty());
  const auto& r = p.config.remotes[0];
  CHECK(r.wg_device_mtu_auto);
  CHECK(r.advertise_address_types == std::vector<std::string>{"ExternalIP", "InternalIP"});
  CHECK(r.persistent_keepalive == std::chrono::seconds(60));
  // The supervisor hands the worker the config as JSON: every reach field survives it.
  auto again = ParseConfig(swg::ConfigToJson(p.config, false));
  REQUIRE(again.errors.empty());
  CHECK(again.config.remotes[0].wg_device_mtu_auto);
  CHECK(again.config.remotes[0].advertise_address_types == r.advertise_address_types);
  CHECK(again.config.remotes[0].persistent_keepalive == std::chrono::seconds(60));

  auto zero = ParseConfig(Remote(R"(,"wgDeviceMTU":0,"persistentKeepalive":0)"));
  REQUIRE(zero.errors.empty());
  CHECK(zero.config.remotes[0].wg_device_mtu_auto);
  CHECK(zero.config.remotes[0].persistent_keepalive.count() == 0);
  auto dflt = ParseConfig(Remote(""));
  CHECK(!dflt.config.remotes[0].wg_device_mtu_auto);
  CHECK(dflt.config.remotes[0].persistent_keepalive == std::chrono::seconds(25));
  CHECK(dflt.config.remotes[0].advertise_address_types.empty());  // the flag decides
}

TEST_CASE("reach config: bad values are errors naming the field") {
  CHECK(ParseConfig(Remote(R"(,"wgDeviceMTU":"big")")).errors ==
        std::vector<std::string>{"remotes[0].wgDeviceMTU: \"big\" is not a number nor \"auto\""});
  auto types = ParseConfig(Remote(R"(,"advertiseAddressType":"PublicIP")")).errors;
  REQUIRE(types.size() == 1);
  CHECK(types[0].find("remotes[0].advertiseAddressType: \"PublicIP\": \"PublicIP\" is not an address type") == 0);
  CHECK(!ParseConfig(Remote(R"(,"advertiseAddressType":"InternalIP,InternalIP")")).errors.empty());
  CHECK(!ParseConfig(Remote(R"(,"advertiseAddressType":"InternalIP,")")).errors.empty());
  for (const char* bad : {R"("1.5s")", R"("70000s")", R"("-1s")", R"("soon")", "25", "true"}) {
    auto e = ParseConfig(Remote(std::string(R"(,"persistentKeepalive":)") + bad)).errors;
    REQUIRE(e.size() == 1);
    CHECK(e[0].find("remotes[0].persistentKeepalive: ") == 0);
    CHECK(e[0].find("0 (off) to 65535s") != std::string::npos);
  }
}

TEST_CASE("the advertised endpoint: per-remote override, node-wide override, then the address types") {
  const std::vector<std::string> internal = {"InternalIP"};
  auto c = ChooseEndpoint(LocalNode({}), "c2", internal, 51821);
  CHECK(Chosen(c) == "10.0.0.5:51821");
  CHECK(c.source == "InternalIP");
  CHECK(Chosen(ChooseEndpoint(LocalNode({}), "c2", {"ExternalIP", "InternalIP"}, 51821)) == "203.0.113.5:51821");
  // The first type the node has wins.
  auto n = LocalNode({});
  n.addresses = {{"InternalIP", "10.0.0.5"}};
  CHECK(Chosen(ChooseEndpoint(n, "c2", {"ExternalIP", "InternalIP"}, 51821)) == "10.0.0.5:51821");
  auto none = ChooseEndpoint(n, "c2", {"ExternalIP"}, 51821);
  CHECK(!none.endpoint);
  CHECK(none.error == "node n1 has no ExternalIP address to advertise as the endpoint");

  // Without a port, the remote's listen port; a port applies as given; IPv6 bare or in brackets.
  CHECK(Chosen(ChooseEndpoint(LocalNode({{"wireguard.semaphore.uw.io/advertise-endpoint", "198.51.100.7"}}), "c2",
                              internal, 51821)) == "198.51.100.7:51821");
  CHECK(Chosen(ChooseEndpoint(LocalNode({{"wireguard.semaphore.uw.io/advertise-endpoint", "198.51.100.7:4500"}}),
                              "c2", internal, 51821)) == "198.51.100.7:4500");
  CHECK(Chosen(ChooseEndpoint(LocalNode({{"wireguard.semaphore.uw.io/advertise-endpoint", "2001:db8::7"}}), "c2",
                              internal, 51821)) == "[2001:db8::7]:51821");
  CHECK(Chosen(ChooseEndpoint(LocalNode({{"wireguard.semaphore.uw.io/advertise-endpoint", "[2001:db8::7]:4500"}}),
                              "c2", internal, 51821)) == "[2001:db8::7]:4500");
  // The per-remote one wins, and only for its remote.
  std::map<std::string, std::string> both = {{"wireguard.semaphore.uw.io/advertise-endpoint", "198.51.100.7"},
                                             {"c2.wireguard.semaphore.uw.io/advertise-endpoint", "198.51.100.8:4502"}};
  auto per = ChooseEndpoint(LocalNode(both), "c2", internal, 51821);
  CHECK(Chosen(per) == "198.51.100.8:4502");
  CHECK(per.source == "c2.wireguard.semaphore.uw.io/advertise-endpoint");
  CHECK(Chosen(ChooseEndpoint(LocalNode(both), "c3", internal, 51822)) == "198.51.100.7:51822");
}

TEST_CASE("a bad override is never advertised: a warning with the reason, and the next choice") {
  for (const char* bad : {"node1.example.com", "10.0.0.9:0", "10.0.0.9:70000", "127.0.0.1", "169.254.1.1:51820",
                          "2001:db8::7:51820", "10.0.0.9 ", ""}) {
    CAPTURE(bad);
    auto c = ChooseEndpoint(LocalNode({{"c2.wireguard.semaphore.uw.io/advertise-endpoint", bad}}), "c2",
                            {"InternalIP"}, 51821);
    CHECK(Chosen(c) == "10.0.0.5:51821");
    CHECK(c.warning.find("ignoring annotation c2.wireguard.semaphore.uw.io/advertise-endpoint: \"") == 0);
  }
  auto c = ChooseEndpoint(LocalNode({{"c2.wireguard.semaphore.uw.io/advertise-endpoint", "127.0.0.1"},
                                     {"wireguard.semaphore.uw.io/advertise-endpoint", "198.51.100.7"}}),
                          "c2", {"InternalIP"}, 51821);
  CHECK(Chosen(c) == "198.51.100.7:51821");  // the node-wide override still applies
  CHECK(c.warning.find("is a loopback address") != std::string::npos);
}

TEST_CASE("a remote node's keepalive annotation: 0, seconds or a duration within 10s..3600s") {
  using swg::worker::ParsePeerKeepalive;
  CHECK(*ParsePeerKeepalive("0") == 0);
  CHECK(*ParsePeerKeepalive("0s") == 0);
  CHECK(*ParsePeerKeepalive("10") == 10);
  CHECK(*ParsePeerKeepalive("1m") == 60);
  CHECK(*ParsePeerKeepalive("3600s") == 3600);
  for (const char* bad : {"5", "9s", "3601", "2h", "1.5s", "-10s", "soon", "", " 25"}) {
    CAPTURE(bad);
    auto r = ParsePeerKeepalive(bad);
    REQUIRE(!r.ok());
    CHECK(r.error().message.find("(use 0 to turn it off, or whole seconds from 10s to 3600s") != std::string::npos);
  }
}

TEST_CASE("peers get the configured keepalive, or the one their node asks for; a bad ask rejects the node") {
  uint8_t raw[32] = {};
  auto key = [&](uint8_t seed) {
    raw[0] = seed;
    raw[31] = 0x40;
    return swg::Key(raw).ToBase64();
  };
  auto node = [&](const std::string& name, uint8_t seed, const std::string& cidr, const char* keepalive) {
    swg::k8s::NodeInfo n;
    n.name = name;
    n.annotations["c1.wireguard.semaphore.uw.io/pubKey"] = key(seed);
    n.annotations["c1.wireguard.semaphore.uw.io/endpoint"] = "192.168.1." + std::to_string(seed) + ":51820";
    if (keepalive) n.annotations["c1.wireguard.semaphore.uw.io/persistentKeepalive"] = keepalive;
    n.pod_cidrs = {cidr};
    return n;
  };
  swg::worker::PeerContext ctx;
  ctx.local_cluster = "c1";
  ctx.pod_subnets = {*swg::Cidr::Parse("10.4.0.0/16")};
  ctx.own_public_key = *swg::Key::FromBase64(key(99));
  ctx.keepalive = 0;
  std::map<std::string, swg::k8s::NodeInfo> nodes;
  for (auto n : {node("a", 1, "10.4.1.0/24", nullptr), node("b", 2, "10.4.2.0/24", "40s"),
                 node("c", 3, "10.4.3.0/24", "1")}) {
    nodes[n.name] = n;
  }
  auto set = swg::worker::ComputePeers(nodes, ctx);
  REQUIRE(set.peers.size() == 2);
  CHECK(set.peers[0].peer.persistent_keepalive == 0);
  CHECK(set.peers[1].peer.persistent_keepalive == 40);
  REQUIRE(set.rejected.size() == 1);
  CHECK(set.rejected[0].node == "c");
  CHECK(set.rejected[0].code == "bad_keepalive");
  CHECK(set.rejected[0].message.find("c1.wireguard.semaphore.uw.io/persistentKeepalive: \"1\" is out of bounds") ==
        0);
}

TEST_CASE("MTU: a configured number as it is; auto without an underlay falls back to 1420, saying why") {
  swg::RemoteConfig r;
  r.wg_device_mtu = 1380;
  auto fixed = swg::worker::ChooseMtu(r, {});
  CHECK(fixed.mtu == 1380);
  CHECK(fixed.source == "config");
  r.wg_device_mtu_auto = true;
  auto unknown = swg::worker::ChooseMtu(r, {});
  CHECK(unknown.mtu == 1420);
  CHECK(unknown.source == "default");
  // 127.0.0.1 is on lo, which is never the underlay; TEST-NET-3 is on no interface.
  auto none = swg::worker::ChooseMtu(r, {*swg::IpAddr::Parse("127.0.0.1"), *swg::IpAddr::Parse("203.0.113.77")});
  CHECK(none.mtu == 1420);
  CHECK(none.detail == "auto, but no interface here holds 127.0.0.1, 203.0.113.77; using the default 1420");
}
