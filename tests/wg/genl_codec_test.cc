// The generic netlink builder/splitter and the dump parser, checked by decoding the bytes independently.
#include "worker/wg/genl_codec.h"

#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <linux/genetlink.h>
#include <linux/wireguard.h>
#include <netlink/attr.h>
#include <netlink/genl/genl.h>
#include <netlink/msg.h>

#include <cstring>
#include <string>

namespace swg::wg {
namespace {

constexpr int kFamily = 0x1234;

Key K(uint32_t n) {
  uint8_t raw[Key::kSize] = {};
  std::memcpy(raw, &n, sizeof n);
  raw[31] = 0x42;
  return Key(raw);
}

// What one peer nest of a SET message holds, decoded with libnl's attribute walkers.
struct WirePeer {
  Key key;
  uint32_t flags = 0;
  bool has_endpoint = false, has_keepalive = false;
  std::vector<Cidr> ips;
};

struct WireMessage {
  size_t size = 0;
  uint16_t type = 0, nl_flags = 0;
  uint8_t cmd = 0;
  std::string ifname;
  bool private_key = false, listen_port = false;
  std::vector<WirePeer> peers;
};

WireMessage Decode(nl_msg* msg) {
  WireMessage w;
  nlmsghdr* hdr = nlmsg_hdr(msg);
  w.size = hdr->nlmsg_len;
  w.type = hdr->nlmsg_type;
  w.nl_flags = hdr->nlmsg_flags;
  auto* g = static_cast<genlmsghdr*>(nlmsg_data(hdr));
  w.cmd = g->cmd;
  nlattr* a;
  int rem;
  nla_for_each_attr(a, genlmsg_attrdata(g, 0), genlmsg_attrlen(g, 0), rem) {
    switch (nla_type(a)) {
      case WGDEVICE_A_IFNAME:
        w.ifname = nla_get_string(a);
        break;
      case WGDEVICE_A_PRIVATE_KEY:
        w.private_key = true;
        break;
      case WGDEVICE_A_LISTEN_PORT:
        w.listen_port = true;
        break;
      case WGDEVICE_A_PEERS: {
        nlattr* p;
        int rem_p;
        nla_for_each_nested(p, a, rem_p) {
          WirePeer wp;
          nlattr* f;
          int rem_f;
          nla_for_each_nested(f, p, rem_f) {
            switch (nla_type(f)) {
              case WGPEER_A_PUBLIC_KEY:
                REQUIRE(nla_len(f) == 32);
                std::memcpy(wp.key.mutable_bytes().data(), nla_data(f), 32);
                break;
              case WGPEER_A_FLAGS:
                wp.flags = nla_get_u32(f);
                break;
              case WGPEER_A_ENDPOINT:
                wp.has_endpoint = true;
                break;
              case WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL:
                wp.has_keepalive = true;
                break;
              case WGPEER_A_ALLOWEDIPS: {
                nlattr* ip;
                int rem_ip;
                nla_for_each_nested(ip, f, rem_ip) {
                  nlattr* tb[WGALLOWEDIP_A_MAX + 1];
                  REQUIRE(nla_parse_nested(tb, WGALLOWEDIP_A_MAX, ip, nullptr) == 0);
                  REQUIRE(tb[WGALLOWEDIP_A_FAMILY]);
                  Cidr c;
                  c.addr.family = nla_get_u16(tb[WGALLOWEDIP_A_FAMILY]) == AF_INET ? IpAddr::Family::kV4
                                                                                   : IpAddr::Family::kV6;
                  std::memcpy(c.addr.bytes.data(), nla_data(tb[WGALLOWEDIP_A_IPADDR]), c.addr.size());
                  c.prefix = nla_get_u8(tb[WGALLOWEDIP_A_CIDR_MASK]);
                  wp.ips.push_back(c);
                }
                break;
              }
              default:
                FAIL("unexpected peer attribute ", nla_type(f));
            }
          }
          w.peers.push_back(wp);
        }
        break;
      }
      default:
        FAIL("unexpected device attribute ", nla_type(a));
    }
  }
  return w;
}

PeerChange NewPeer(uint32_t i) {
  PeerChange pc;
  pc.public_key = K(i);
  Endpoint ep;
  ep.addr = *IpAddr::Parse("192.168.0.1");
  ep.addr.bytes[3] = static_cast<uint8_t>(i);
  ep.port = 51820;
  pc.endpoint = ep;
  pc.persistent_keepalive = 25;
  Cidr c = *Cidr::Parse("10.0.0.0/32");
  c.addr.bytes[1] = static_cast<uint8_t>(i >> 8);
  c.addr.bytes[2] = static_cast<uint8_t>(i);
  pc.allowed_ips.push_back(c);
  return pc;
}

TEST_CASE("5,000 peers split into 16 messages of at most 32 KiB, in order, device attributes first") {
  DeviceChange change;
  change.private_key = K(0xffff);
  change.listen_port = 51820;
  for (uint32_t i = 0; i < 5000; ++i) change.peers.push_back(NewPeer(i));
  auto msgs = genl::BuildSetDevice(kFamily, "wireguard.c2", change);
  REQUIRE(msgs);
  // Per message: nlmsghdr 16 + genlmsghdr 4 + IFNAME "wireguard.c2" 20 + PEERS nest 4 = 44 bytes; the first
  // also PRIVATE_KEY 36 + LISTEN_PORT 8. One peer: nest 4 + key 36 + endpoint 20 + keepalive 8 + allowed-IPs
  // nest 4 + one allowed IP (nest 4 + family 8 + address 8 + mask 8) = 100 bytes (no flags for a new peer).
  // (32768 - 44) / 100 = 327 peers a message, 326 in the first; 326 + 14 * 327 = 4904, the 16th has 96.
  REQUIRE(msgs->size() == 16);
  uint32_t next = 0;
  for (size_t i = 0; i < msgs->size(); ++i) {
    CAPTURE(i);
    WireMessage w = Decode((*msgs)[i].get());
    CHECK(w.size <= genl::kMaxMessageBytes);
    CHECK(w.type == kFamily);
    CHECK(w.cmd == WG_CMD_SET_DEVICE);
    CHECK((w.nl_flags & NLM_F_REQUEST));
    CHECK(w.ifname == "wireguard.c2");
    CHECK(w.private_key == (i == 0));
    CHECK(w.listen_port == (i == 0));
    CHECK(w.peers.size() == (i == 0 ? 326u : i == 15 ? 96u : 327u));
    for (const WirePeer& p : w.peers) {
      CHECK(p.key == K(next));
      CHECK(p.flags == 0);
      CHECK(p.has_endpoint);
      CHECK(p.has_keepalive);
      REQUIRE(p.ips.size() == 1);
      CHECK(p.ips[0] == change.peers[next].allowed_ips[0]);
      ++next;
    }
  }
  CHECK(next == 5000);
}

TEST_CASE("a peer's allowed IPs overflow into UPDATE_ONLY fragments, and the dump parser merges them") {
  DeviceChange change;
  PeerChange big;
  big.public_key = K(7);
  big.update_only = true;
  big.replace_allowed_ips = true;
  big.endpoint = *Endpoint::Parse("[fd00::7]:51820");
  for (uint32_t i = 0; i < 3000; ++i) {
    Cidr c = *Cidr::Parse(i % 2 ? "fd00:1::/128" : "10.0.0.0/32");
    c.addr.bytes[c.addr.is_v4() ? 2 : 14] = static_cast<uint8_t>(i >> 8);
    c.addr.bytes[c.addr.is_v4() ? 3 : 15] = static_cast<uint8_t>(i);
    big.allowed_ips.push_back(c);
  }
  change.peers.push_back(NewPeer(1));
  change.peers.push_back(big);
  change.peers.push_back(NewPeer(2));
  PeerChange gone;
  gone.public_key = K(3);
  gone.remove = true;
  change.peers.push_back(gone);

  auto msgs = genl::BuildSetDevice(kFamily, "wg0", change);
  REQUIRE(msgs);
  REQUIRE(msgs->size() == 4);  // 1500 x 28 + 1500 x 40 bytes of allowed IPs, 32 KiB at a time
  std::vector<WirePeer> wire;
  for (auto& m : *msgs) {
    WireMessage w = Decode(m.get());
    CHECK(w.size <= genl::kMaxMessageBytes);
    CHECK(w.private_key == false);
    wire.insert(wire.end(), w.peers.begin(), w.peers.end());
  }
  REQUIRE(wire.size() == 7);  // peer 1, 4 parts of the big one, peer 2, the removal
  CHECK(wire[0].key == K(1));
  CHECK(wire[1].flags == (WGPEER_F_UPDATE_ONLY | WGPEER_F_REPLACE_ALLOWEDIPS));
  CHECK(wire[1].has_endpoint);
  std::vector<Cidr> joined = wire[1].ips;
  for (size_t i = 2; i <= 4; ++i) {
    CAPTURE(i);
    CHECK(wire[i].key == K(7));
    CHECK(wire[i].flags == WGPEER_F_UPDATE_ONLY);  // never REPLACE_ALLOWEDIPS again: that would drop part 1
    CHECK_FALSE(wire[i].has_endpoint);
    joined.insert(joined.end(), wire[i].ips.begin(), wire[i].ips.end());
  }
  CHECK(joined == big.allowed_ips);
  CHECK(wire[5].key == K(2));
  CHECK(wire[6].key == K(3));
  CHECK(wire[6].flags == WGPEER_F_REMOVE_ME);
  CHECK(wire[6].ips.empty());

  // A dump has the same layout: merging the messages gives each peer once with all its allowed IPs.
  Device d;
  for (auto& m : *msgs) REQUIRE(genl::MergeDeviceMessage(nlmsg_hdr(m.get()), &d) == 0);
  CHECK(d.name == "wg0");
  REQUIRE(d.peers.size() == 4);
  CHECK(d.peers[1].public_key == K(7));
  CHECK(d.peers[1].allowed_ips == big.allowed_ips);
  CHECK(d.peers[1].endpoint->ToString() == "[fd00::7]:51820");
  CHECK(d.peers[0].endpoint->ToString() == "192.168.0.1:51820");
  CHECK(d.peers[0].persistent_keepalive == 25);
}

TEST_CASE("splitter edge cases: empty change, device attributes only, a limit too small") {
  auto none = genl::BuildSetDevice(kFamily, "wg0", DeviceChange{});
  REQUIRE(none);
  CHECK(none->empty());

  DeviceChange port_only;
  port_only.listen_port = 1;
  auto one = genl::BuildSetDevice(kFamily, "wg0", port_only);
  REQUIRE(one);
  REQUIRE(one->size() == 1);
  CHECK(Decode((*one)[0].get()).peers.empty());

  DeviceChange change;
  change.peers.push_back(NewPeer(1));
  auto tiny = genl::BuildSetDevice(kFamily, "wg0", change, 64);
  REQUIRE_FALSE(tiny);
  CHECK(tiny.error().code == EMSGSIZE);
  CHECK(tiny.error().message ==
        "netlink: peer " + K(1).ToBase64() + " does not fit in a message of 64 bytes");
  auto huge = genl::BuildSetDevice(kFamily, "wg0", change, 70000);
  REQUIRE_FALSE(huge);
  CHECK(huge.error().message == "netlink: message limit above 65535 bytes");
}

// A GET reply built by hand, as the kernel sends it (with handshake time and counters).
nl::Msg GetReply(bool truncate_key) {
  nl::Msg msg(nlmsg_alloc());
  REQUIRE(genlmsg_put(msg.get(), 0, 0, kFamily, 0, NLM_F_MULTI, WG_CMD_GET_DEVICE, 1));
  nla_put_u32(msg.get(), WGDEVICE_A_IFINDEX, 7);
  nla_put_string(msg.get(), WGDEVICE_A_IFNAME, "wg0");
  nla_put(msg.get(), WGDEVICE_A_PRIVATE_KEY, 32, K(9).bytes().data());
  nla_put(msg.get(), WGDEVICE_A_PUBLIC_KEY, 32, K(10).bytes().data());
  nla_put_u16(msg.get(), WGDEVICE_A_LISTEN_PORT, 51820);
  nlattr* peers = nla_nest_start(msg.get(), WGDEVICE_A_PEERS);
  nlattr* peer = nla_nest_start(msg.get(), 0);
  nla_put(msg.get(), WGPEER_A_PUBLIC_KEY, truncate_key ? 31 : 32, K(11).bytes().data());
  int64_t ts[2] = {1700000000, 123};
  nla_put(msg.get(), WGPEER_A_LAST_HANDSHAKE_TIME, sizeof ts, ts);
  nla_put_u64(msg.get(), WGPEER_A_RX_BYTES, 1000);
  nla_put_u64(msg.get(), WGPEER_A_TX_BYTES, 2000);
  nla_put_u32(msg.get(), WGPEER_A_PROTOCOL_VERSION, 1);
  nla_nest_end(msg.get(), peer);
  nla_nest_end(msg.get(), peers);
  return msg;
}

TEST_CASE("the dump parser reads device state and refuses malformed attributes") {
  Device d;
  auto good = GetReply(false);
  REQUIRE(genl::MergeDeviceMessage(nlmsg_hdr(good.get()), &d) == 0);
  CHECK(d.ifindex == 7);
  CHECK(d.private_key == K(9));
  CHECK(d.public_key == K(10));
  CHECK(d.listen_port == 51820);
  REQUIRE(d.peers.size() == 1);
  CHECK(d.peers[0].last_handshake_sec == 1700000000);
  CHECK(d.peers[0].last_handshake_nsec == 123);
  CHECK(d.peers[0].rx_bytes == 1000);
  CHECK(d.peers[0].tx_bytes == 2000);
  CHECK_FALSE(d.peers[0].endpoint);

  Device bad;
  auto broken = GetReply(true);
  CHECK(genl::MergeDeviceMessage(nlmsg_hdr(broken.get()), &bad) == EPROTO);
}

}  // namespace
}  // namespace swg::wg
