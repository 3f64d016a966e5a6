#include "worker/wg/genl_codec.h"

#include <arpa/inet.h>
#include <linux/genetlink.h>
#include <linux/wireguard.h>
#include <netinet/in.h>
#include <netlink/attr.h>
#include <netlink/genl/genl.h>
#include <netlink/msg.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>

namespace swg::wg::genl {
namespace {

Result<nl::Msg> NewMessage(int family, const std::string& ifname, size_t max_bytes, uint8_t cmd, int flags) {
  nl::Msg msg(nlmsg_alloc_size(max_bytes));
  if (!msg) return Error{"netlink: out of memory", ENOMEM};
  if (!genlmsg_put(msg.get(), NL_AUTO_PORT, NL_AUTO_SEQ, family, 0, flags, cmd, WG_GENL_VERSION) ||
      nla_put_string(msg.get(), WGDEVICE_A_IFNAME, ifname.c_str()) < 0) {
    return Error{"netlink: message of " + std::to_string(max_bytes) + " bytes too small for a header",
                 EMSGSIZE};
  }
  return msg;
}

int PutEndpoint(nl_msg* msg, const Endpoint& ep) {
  if (ep.addr.is_v4()) {
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_port = htons(ep.port);
    std::memcpy(&sin.sin_addr, ep.addr.bytes.data(), 4);
    return nla_put(msg, WGPEER_A_ENDPOINT, sizeof sin, &sin);
  }
  sockaddr_in6 sin6{};
  sin6.sin6_family = AF_INET6;
  sin6.sin6_port = htons(ep.port);
  std::memcpy(&sin6.sin6_addr, ep.addr.bytes.data(), 16);
  return nla_put(msg, WGPEER_A_ENDPOINT, sizeof sin6, &sin6);
}

bool PutAllowedIp(nl_msg* msg, const Cidr& cidr) {
  nlattr* ip = nla_nest_start(msg, 0);
  if (!ip) return false;
  if (nla_put_u16(msg, WGALLOWEDIP_A_FAMILY, cidr.addr.is_v4() ? AF_INET : AF_INET6) < 0 ||
      nla_put(msg, WGALLOWEDIP_A_IPADDR, static_cast<int>(cidr.addr.size()), cidr.addr.bytes.data()) < 0 ||
      nla_put_u8(msg, WGALLOWEDIP_A_CIDR_MASK, cidr.prefix) < 0) {
    nla_nest_cancel(msg, ip);
    return false;
  }
  nla_nest_end(msg, ip);
  return true;
}

enum class Put { kDone, kPartial, kNothing };

// Writes as much of `pc` as fits, from allowed IP *next_ip on. `fragment`: the peer's first part went out in
// an earlier message. On kNothing the message is as it was.
Put PutPeer(nl_msg* msg, const PeerChange& pc, bool fragment, size_t* next_ip) {
  nlattr* peer = nla_nest_start(msg, 0);
  if (!peer) return Put::kNothing;
  uint32_t flags = WGPEER_F_UPDATE_ONLY;
  if (!fragment) {
    flags = 0;
    if (pc.remove) flags |= WGPEER_F_REMOVE_ME;
    if (pc.update_only) flags |= WGPEER_F_UPDATE_ONLY;
    if (pc.replace_allowed_ips) flags |= WGPEER_F_REPLACE_ALLOWEDIPS;
  }
  bool ok = nla_put(msg, WGPEER_A_PUBLIC_KEY, Key::kSize, pc.public_key.bytes().data()) >= 0 &&
            (flags == 0 || nla_put_u32(msg, WGPEER_A_FLAGS, flags) >= 0);
  if (ok && !fragment && !pc.remove) {
    ok = (!pc.endpoint || PutEndpoint(msg, *pc.endpoint) >= 0) &&
         (!pc.persistent_keepalive ||
          nla_put_u16(msg, WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL, *pc.persistent_keepalive) >= 0);
  }
  if (!ok) {
    nla_nest_cancel(msg, peer);
    return Put::kNothing;
  }
  if (pc.remove || *next_ip >= pc.allowed_ips.size()) {
    nla_nest_end(msg, peer);
    return Put::kDone;
  }
  nlattr* ips = nla_nest_start(msg, WGPEER_A_ALLOWEDIPS);
  size_t written = 0;
  while (ips && *next_ip + written < pc.allowed_ips.size() &&
         PutAllowedIp(msg, pc.allowed_ips[*next_ip + written])) {
    ++written;
  }
  if (written == 0) {  // a header without allowed IPs would only cost a round trip
    nla_nest_cancel(msg, peer);
    return Put::kNothing;
  }
  nla_nest_end(msg, ips);
  nla_nest_end(msg, peer);
  *next_ip += written;
  return *next_ip == pc.allowed_ips.size() ? Put::kDone : Put::kPartial;
}

// Attribute payloads are read only after their length is checked: the message comes from the kernel, but a
// malformed one must fail cleanly rather than read past its end.
template <typename T>
bool Read(const nlattr* a, T* out) {
  if (nla_len(a) < static_cast<int>(sizeof(T))) return false;
  std::memcpy(out, nla_data(a), sizeof(T));
  return true;
}

bool ReadKey(const nlattr* a, Key* key) {
  if (nla_len(a) != static_cast<int>(Key::kSize)) return false;
  std::memcpy(key->mutable_bytes().data(), nla_data(a), Key::kSize);
  return true;
}

bool ReadEndpoint(const nlattr* a, std::optional<Endpoint>* out) {
  sockaddr_storage ss{};
  size_t len = static_cast<size_t>(nla_len(a));
  if (len < sizeof(sa_family_t)) return false;
  std::memcpy(&ss, nla_data(a), std::min(len, sizeof ss));
  Endpoint ep;
  if (ss.ss_family == AF_INET && len >= sizeof(sockaddr_in)) {
    const auto* sin = reinterpret_cast<const sockaddr_in*>(&ss);
    ep.addr.family = IpAddr::Family::kV4;
    std::memcpy(ep.addr.bytes.data(), &sin->sin_addr, 4);
    ep.port = ntohs(sin->sin_port);
  } else if (ss.ss_family == AF_INET6 && len >= sizeof(sockaddr_in6)) {
    const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(&ss);
    ep.addr.family = IpAddr::Family::kV6;
    std::memcpy(ep.addr.bytes.data(), &sin6->sin6_addr, 16);
    ep.port = ntohs(sin6->sin6_port);
  } else {
    return false;
  }
  *out = ep;
  return true;
}

bool ReadAllowedIp(const nlattr* nest, Cidr* out) {
  uint16_t family = 0;
  uint8_t mask = 0;
  const nlattr* addr = nullptr;
  bool have_family = false, have_mask = false;
  const nlattr* a;
  int rem;
  nla_for_each_nested(a, nest, rem) {
    switch (nla_type(a)) {
      case WGALLOWEDIP_A_FAMILY:
        if (!Read(a, &family)) return false;
        have_family = true;
        break;
      case WGALLOWEDIP_A_IPADDR:
        addr = a;
        break;
      case WGALLOWEDIP_A_CIDR_MASK:
        if (!Read(a, &mask)) return false;
        have_mask = true;
        break;
      default:
        break;
    }
  }
  if (!have_family || !have_mask || !addr) return false;
  Cidr c;
  c.addr.family = family == AF_INET ? IpAddr::Family::kV4 : IpAddr::Family::kV6;
  if ((family != AF_INET && family != AF_INET6) || nla_len(addr) < static_cast<int>(c.addr.size()) ||
      mask > c.addr.bits()) {
    return false;
  }
  std::memcpy(c.addr.bytes.data(), nla_data(addr), c.addr.size());
  c.prefix = mask;
  *out = c;
  return true;
}

bool ReadPeer(const nlattr* nest, Peer* p) {
  bool have_key = false;
  const nlattr* a;
  int rem;
  nla_for_each_nested(a, nest, rem) {
    bool ok = true;
    switch (nla_type(a)) {
      case WGPEER_A_PUBLIC_KEY:
        ok = have_key = ReadKey(a, &p->public_key);
        break;
      case WGPEER_A_ENDPOINT:
        ok = ReadEndpoint(a, &p->endpoint);
        break;
      case WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL:
        ok = Read(a, &p->persistent_keepalive);
        break;
      case WGPEER_A_LAST_HANDSHAKE_TIME: {
        int64_t ts[2] = {0, 0};
        ok = Read(a, &ts);
        p->last_handshake_sec = ts[0];
        p->last_handshake_nsec = ts[1];
        break;
      }
      case WGPEER_A_RX_BYTES:
        ok = Read(a, &p->rx_bytes);
        break;
      case WGPEER_A_TX_BYTES:
        ok = Read(a, &p->tx_bytes);
        break;
      case WGPEER_A_ALLOWEDIPS: {
        const nlattr* ip;
        int rem_ips;
        nla_for_each_nested(ip, a, rem_ips) {
          Cidr c;
          if (!ReadAllowedIp(ip, &c)) return false;
          p->allowed_ips.push_back(c);
        }
        break;
      }
      default:  // type 0 is padding; newer attributes are not ours to interpret
        break;
    }
    if (!ok) return false;
  }
  return have_key;
}

}  // namespace

int MergeDeviceMessage(const nlmsghdr* hdr, Device* device) {
  if (nlmsg_datalen(hdr) < static_cast<int>(GENL_HDRLEN)) return EPROTO;
  const auto* g = static_cast<const genlmsghdr*>(nlmsg_data(hdr));
  const nlattr* a;
  int rem;
  nla_for_each_attr(a, genlmsg_attrdata(g, 0), genlmsg_attrlen(g, 0), rem) {
    bool ok = true;
    switch (nla_type(a)) {
      case WGDEVICE_A_IFINDEX: {
        uint32_t index = 0;
        ok = Read(a, &index);
        device->ifindex = static_cast<int>(index);
        break;
      }
      case WGDEVICE_A_IFNAME:
        device->name.assign(static_cast<const char*>(nla_data(a)),
                            strnlen(static_cast<const char*>(nla_data(a)), static_cast<size_t>(nla_len(a))));
        break;
      case WGDEVICE_A_PRIVATE_KEY:
        device->private_key.emplace();
        ok = ReadKey(a, &*device->private_key);
        if (device->private_key->IsZero()) device->private_key.reset();
        break;
      case WGDEVICE_A_PUBLIC_KEY:
        device->public_key.emplace();
        ok = ReadKey(a, &*device->public_key);
        if (device->public_key->IsZero()) device->public_key.reset();
        break;
      case WGDEVICE_A_LISTEN_PORT:
        ok = Read(a, &device->listen_port);
        break;
      case WGDEVICE_A_FWMARK:
        ok = Read(a, &device->fwmark);
        break;
      case WGDEVICE_A_PEERS: {
        const nlattr* p;
        int rem_peers;
        nla_for_each_nested(p, a, rem_peers) {
          Peer peer;
          if (!ReadPeer(p, &peer)) return EPROTO;
          if (!device->peers.empty() && device->peers.back().public_key == peer.public_key) {
            auto& ips = device->peers.back().allowed_ips;
            ips.insert(ips.end(), peer.allowed_ips.begin(), peer.allowed_ips.end());
          } else {
            device->peers.push_back(std::move(peer));
          }
        }
        break;
      }
      default:
        break;
    }
    if (!ok) return EPROTO;
  }
  return 0;
}

Result<std::vector<nl::Msg>> BuildSetDevice(int family, const std::string& ifname, const DeviceChange& change,
                                            size_t max_bytes) {
  std::vector<nl::Msg> out;
  if (change.empty()) return out;
  if (max_bytes > 0xffff) return Error{"netlink: message limit above 65535 bytes", EINVAL};
  size_t peer = 0, next_ip = 0;
  bool fragment = false;
  const auto& peers = change.peers;
  do {
    auto msg = NewMessage(family, ifname, max_bytes, WG_CMD_SET_DEVICE, NLM_F_REQUEST | NLM_F_ACK);
    if (!msg) return std::move(msg).error();
    nl_msg* m = msg->get();
    if (out.empty()) {
      bool ok = (!change.private_key ||
                 nla_put(m, WGDEVICE_A_PRIVATE_KEY, Key::kSize, change.private_key->bytes().data()) >= 0) &&
                (!change.listen_port || nla_put_u16(m, WGDEVICE_A_LISTEN_PORT, *change.listen_port) >= 0);
      if (!ok) return Error{"netlink: message limit too small for the device attributes", EMSGSIZE};
    }
    if (peer < peers.size()) {
      nlattr* nest = nla_nest_start(m, WGDEVICE_A_PEERS);
      size_t in_message = 0;
      while (nest && peer < peers.size()) {
        Put put = PutPeer(m, peers[peer], fragment, &next_ip);
        if (put == Put::kNothing) break;
        ++in_message;
        if (put == Put::kPartial) {
          fragment = true;
          break;
        }
        ++peer;
        next_ip = 0;
        fragment = false;
      }
      if (in_message == 0) {
        return Error{"netlink: peer " + peers[peer].public_key.ToBase64() + " does not fit in a message of " +
                         std::to_string(max_bytes) + " bytes",
                     EMSGSIZE};
      }
      nla_nest_end(m, nest);
    }
    out.push_back(std::move(*msg));
  } while (peer < peers.size());
  return out;
}

Result<nl::Msg> BuildGetDevice(int family, const std::string& ifname) {
  return NewMessage(family, ifname, 256, WG_CMD_GET_DEVICE, NLM_F_REQUEST | NLM_F_DUMP);
}

}  // namespace swg::wg::genl
