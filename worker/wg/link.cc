#include "worker/wg/link.h"

#include <linux/rtnetlink.h>
#include <net/if.h>
#include <netlink/addr.h>
#include <netlink/cache.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/inet6.h>
#include <netlink/route/nexthop.h>
#include <netlink/route/route.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <vector>

#include "worker/wg/netlink.h"

namespace swg::wg::link {
namespace {

struct Put {
  void operator()(rtnl_link* l) const noexcept { rtnl_link_put(l); }
  void operator()(rtnl_route* r) const noexcept { rtnl_route_put(r); }
  void operator()(rtnl_addr* a) const noexcept { rtnl_addr_put(a); }
  void operator()(nl_addr* a) const noexcept { nl_addr_put(a); }
  void operator()(nl_cache* c) const noexcept { nl_cache_free(c); }
};
template <typename T>
using Ptr = std::unique_ptr<T, Put>;

Error NoMemory(const std::string& what) { return Error{what + ": out of memory", ENOMEM}; }

Status Send(const std::string& what, nl_sock* sk, int build_result, nl_msg* raw) {
  nl::Msg msg(raw);
  if (build_result < 0 || !msg) return Error{what + ": cannot build the request", EINVAL};
  nl::Outcome outcome = nl::Transact(sk, msg.get());
  if (outcome.err) return nl::MakeError(what, outcome);
  return Ok();
}

Ptr<rtnl_link> LinkByIndex(int ifindex) {
  Ptr<rtnl_link> l(rtnl_link_alloc());
  if (l) rtnl_link_set_ifindex(l.get(), ifindex);
  return l;
}

Ptr<nl_addr> Prefix(const Cidr& dst) {
  Cidr n = dst.Normalized();
  Ptr<nl_addr> a(nl_addr_build(n.addr.is_v4() ? AF_INET : AF_INET6, n.addr.bytes.data(), n.addr.size()));
  if (a) nl_addr_set_prefixlen(a.get(), n.prefix);
  return a;
}

bool IsOurRoute(rtnl_route* r, int ifindex, const Cidr& dst) {
  Cidr n = dst.Normalized();
  nl_addr* d = rtnl_route_get_dst(r);
  if (!d || rtnl_route_get_table(r) != RT_TABLE_MAIN || rtnl_route_get_protocol(r) != kRouteProtocol ||
      rtnl_route_get_type(r) != RTN_UNICAST ||
      nl_addr_get_family(d) != (n.addr.is_v4() ? AF_INET : AF_INET6) ||
      nl_addr_get_prefixlen(d) != n.prefix ||
      std::memcmp(nl_addr_get_binary_addr(d), n.addr.bytes.data(), n.addr.size()) != 0) {
    return false;
  }
  // IPv6 has no route scopes: the kernel reports every IPv6 route as universe.
  if (n.addr.is_v4() && rtnl_route_get_scope(r) != RT_SCOPE_LINK) return false;
  if (rtnl_route_get_nnexthops(r) != 1) return false;
  rtnl_nexthop* nh = rtnl_route_nexthop_n(r, 0);
  return nh && rtnl_route_nh_get_ifindex(nh) == ifindex;
}

}  // namespace

bool LinkInfo::up() const { return (flags & IFF_UP) != 0; }

Result<std::optional<LinkInfo>> Find(nl_sock* sk, const std::string& name) {
  const std::string what = name + ": get link";
  nl_msg* raw = nullptr;
  int r = rtnl_link_build_get_request(0, name.c_str(), &raw);
  nl::Msg msg(raw);
  if (r < 0 || !msg) return Error{what + ": cannot build the request", EINVAL};
  std::optional<LinkInfo> found;
  nl::Outcome outcome = nl::Transact(sk, msg.get(), [&found](nl_msg* reply) {
    nl_msg_parse(
        reply,
        [](nl_object* obj, void* arg) noexcept {
          auto* l = reinterpret_cast<rtnl_link*>(obj);
          const char* kind = rtnl_link_get_type(l);
          *static_cast<std::optional<LinkInfo>*>(arg) = LinkInfo{
              rtnl_link_get_ifindex(l), kind ? kind : "", rtnl_link_get_flags(l), rtnl_link_get_mtu(l)};
        },
        &found);
    return 0;
  });
  if (outcome.err == ENODEV) return std::optional<LinkInfo>();
  if (outcome.err) return nl::MakeError(what, outcome);
  if (!found) return Error{what + ": no link in the kernel's answer", EPROTO};
  return found;
}

Status Create(nl_sock* sk, const std::string& name, const std::string& kind, uint32_t mtu) {
  const std::string what = name + ": create " + kind + " link";
  Ptr<rtnl_link> l(rtnl_link_alloc());
  if (!l) return NoMemory(what);
  rtnl_link_set_name(l.get(), name.c_str());
  if (rtnl_link_set_type(l.get(), kind.c_str()) < 0) return NoMemory(what);
  if (mtu) rtnl_link_set_mtu(l.get(), mtu);
  nl_msg* msg = nullptr;
  int r = rtnl_link_build_add_request(l.get(), NLM_F_CREATE | NLM_F_EXCL, &msg);
  return Send(what, sk, r, msg);
}

Status Delete(nl_sock* sk, const std::string& name, int ifindex) {
  const std::string what = name + ": delete link";
  auto l = LinkByIndex(ifindex);
  if (!l) return NoMemory(what);
  nl_msg* msg = nullptr;
  int r = rtnl_link_build_delete_request(l.get(), &msg);
  return Send(what, sk, r, msg);
}

Status SetMtuUp(nl_sock* sk, const std::string& name, int ifindex, uint32_t mtu) {
  const std::string what = name + ": set MTU " + std::to_string(mtu) + " and up";
  auto orig = LinkByIndex(ifindex);
  Ptr<rtnl_link> change(rtnl_link_alloc());
  if (!orig || !change) return NoMemory(what);
  rtnl_link_set_mtu(change.get(), mtu);
  rtnl_link_set_flags(change.get(), IFF_UP);
  nl_msg* msg = nullptr;
  int r = rtnl_link_build_change_request(orig.get(), change.get(), 0, &msg);
  return Send(what, sk, r, msg);
}

Status DisableAddressGeneration(nl_sock* sk, const std::string& name, int ifindex) {
  const std::string what = name + ": set addrgenmode none";
  auto orig = LinkByIndex(ifindex);
  Ptr<rtnl_link> change(rtnl_link_alloc());
  if (!orig || !change) return NoMemory(what);
  if (rtnl_link_inet6_set_addr_gen_mode(change.get(), IN6_ADDR_GEN_MODE_NONE) < 0) return NoMemory(what);
  nl_msg* msg = nullptr;
  int r = rtnl_link_build_change_request(orig.get(), change.get(), 0, &msg);
  return Send(what, sk, r, msg);
}

Status FlushAddresses(nl_sock* sk, const std::string& name, int ifindex) {
  const std::string what = name + ": flush addresses";
  nl_cache* raw = nullptr;
  int r = rtnl_addr_alloc_cache(sk, &raw);
  Ptr<nl_cache> cache(raw);
  if (r < 0 || !cache) return Error{what + ": cannot list addresses: " + nl_geterror(r), EIO};
  std::vector<rtnl_addr*> ours;  // borrowed from the cache
  for (nl_object* o = nl_cache_get_first(cache.get()); o; o = nl_cache_get_next(o)) {
    auto* a = reinterpret_cast<rtnl_addr*>(o);
    if (rtnl_addr_get_ifindex(a) == ifindex) ours.push_back(a);
  }
  for (rtnl_addr* a : ours) {
    nl_msg* msg = nullptr;
    r = rtnl_addr_build_delete_request(a, 0, &msg);
    Status s = Send(what, sk, r, msg);
    if (!s && s.error().code != EADDRNOTAVAIL) return s;  // gone already is fine
  }
  return Ok();
}

Status ReplaceRoute(nl_sock* sk, const std::string& name, int ifindex, const Cidr& dst) {
  const std::string what = name + ": replace route " + dst.Normalized().ToString();
  Ptr<rtnl_route> route(rtnl_route_alloc());
  auto prefix = Prefix(dst);
  rtnl_nexthop* nh = rtnl_route_nh_alloc();
  if (!route || !prefix || !nh) {
    if (nh) rtnl_route_nh_free(nh);
    return NoMemory(what);
  }
  rtnl_route_nh_set_ifindex(nh, ifindex);
  rtnl_route_add_nexthop(route.get(), nh);  // the route owns it now
  rtnl_route_set_family(route.get(), static_cast<uint8_t>(nl_addr_get_family(prefix.get())));
  rtnl_route_set_dst(route.get(), prefix.get());
  rtnl_route_set_table(route.get(), RT_TABLE_MAIN);
  rtnl_route_set_scope(route.get(), RT_SCOPE_LINK);
  rtnl_route_set_protocol(route.get(), kRouteProtocol);
  rtnl_route_set_type(route.get(), RTN_UNICAST);
  nl_msg* msg = nullptr;
  int r = rtnl_route_build_add_request(route.get(), NLM_F_REPLACE, &msg);
  return Send(what, sk, r, msg);
}

namespace {

// Dumps the main table's routes of `family` with protocol kRouteProtocol via `ifindex` and calls `fn` with each
// (parsed, owned). With strict checking the kernel filters the dump by table, protocol and device; without it
// (older kernels) every route comes back, and `fn` sees only those that match. A dump interrupted by a change may
// miss a route: `reset` is called and the dump is read again.
template <typename Fn, typename Reset>
Status DumpOurRoutes(nl_sock* sk, const std::string& what, int family, int ifindex, Reset reset, Fn fn) {
  int one = 1;
  (void)setsockopt(nl_socket_get_fd(sk), SOL_NETLINK, NETLINK_GET_STRICT_CHK, &one, sizeof one);
  nl::Msg msg(nlmsg_alloc_simple(RTM_GETROUTE, NLM_F_DUMP));
  if (!msg) return NoMemory(what);
  rtmsg rtm{};
  rtm.rtm_family = static_cast<unsigned char>(family);
  rtm.rtm_table = RT_TABLE_MAIN;
  rtm.rtm_protocol = kRouteProtocol;
  if (nlmsg_append(msg.get(), &rtm, sizeof rtm, NLMSG_ALIGNTO) < 0 ||
      nla_put_u32(msg.get(), RTA_OIF, static_cast<uint32_t>(ifindex)) < 0) {
    return NoMemory(what);
  }
  bool interrupted = true;
  for (int attempt = 0; attempt < 3 && interrupted; ++attempt) {
    interrupted = false;
    reset();
    nl::Outcome outcome = nl::Dump(
        sk, msg.get(),
        [&](nl_msg* reply) {
          rtnl_route* raw = nullptr;
          if (rtnl_route_parse(nlmsg_hdr(reply), &raw) < 0) return 0;  // not a route we can read: not ours
          Ptr<rtnl_route> route(raw);
          if (rtnl_route_get_table(route.get()) != RT_TABLE_MAIN ||
              rtnl_route_get_protocol(route.get()) != kRouteProtocol || rtnl_route_get_nnexthops(route.get()) < 1) {
            return 0;
          }
          rtnl_nexthop* nh = rtnl_route_nexthop_n(route.get(), 0);
          if (!nh || rtnl_route_nh_get_ifindex(nh) != ifindex) return 0;
          fn(std::move(route));
          return 0;
        },
        &interrupted);
    if (outcome.err) return nl::MakeError(what, outcome);
  }
  return Ok();
}

std::optional<Cidr> DstOf(rtnl_route* r) {
  nl_addr* d = rtnl_route_get_dst(r);
  if (!d) return std::nullopt;
  Cidr c;
  int family = nl_addr_get_family(d);
  if (family != AF_INET && family != AF_INET6) return std::nullopt;
  c.addr.family = family == AF_INET ? IpAddr::Family::kV4 : IpAddr::Family::kV6;
  if (nl_addr_get_len(d) != c.addr.size()) return std::nullopt;
  std::memcpy(c.addr.bytes.data(), nl_addr_get_binary_addr(d), c.addr.size());
  c.prefix = static_cast<uint8_t>(nl_addr_get_prefixlen(d));
  return c.Normalized();
}

}  // namespace

Result<bool> HasRoute(nl_sock* sk, const std::string& name, int ifindex, const Cidr& dst) {
  bool found = false;
  Status s = DumpOurRoutes(
      sk, name + ": list routes", dst.addr.is_v4() ? AF_INET : AF_INET6, ifindex, [&] { found = false; },
      [&](Ptr<rtnl_route> route) {
        if (IsOurRoute(route.get(), ifindex, dst)) found = true;
      });
  if (!s) return std::move(s).error();
  return found;
}

Result<int> RouteGet(nl_sock* sk, const IpAddr& addr) {
  const std::string what = "route lookup of " + addr.ToString();
  nl::Msg msg(nlmsg_alloc_simple(RTM_GETROUTE, 0));
  if (!msg) return NoMemory(what);
  rtmsg rtm{};
  rtm.rtm_family = static_cast<unsigned char>(addr.is_v4() ? AF_INET : AF_INET6);
  rtm.rtm_dst_len = static_cast<unsigned char>(addr.bits());
  if (nlmsg_append(msg.get(), &rtm, sizeof rtm, NLMSG_ALIGNTO) < 0 ||
      nla_put(msg.get(), RTA_DST, static_cast<int>(addr.size()), addr.bytes.data()) < 0) {
    return NoMemory(what);
  }
  int oif = 0;
  nl::Outcome outcome = nl::Transact(sk, msg.get(), [&oif](nl_msg* reply) {
    nlmsghdr* h = nlmsg_hdr(reply);
    if (h->nlmsg_type != RTM_NEWROUTE) return 0;
    nlattr* a = nlmsg_find_attr(h, sizeof(rtmsg), RTA_OIF);
    if (a) oif = static_cast<int>(nla_get_u32(a));
    return 0;
  });
  if (outcome.err) return nl::MakeError(what, outcome);
  if (oif == 0) return Error{what + ": the kernel's answer names no interface", EPROTO};
  return oif;
}

Result<std::vector<Cidr>> DeleteOtherRoutes(nl_sock* sk, const std::string& name, int ifindex,
                                            const std::vector<Cidr>& keep) {
  std::vector<Ptr<rtnl_route>> others;
  for (int family : {AF_INET, AF_INET6}) {
    std::vector<Ptr<rtnl_route>> found;
    Status s = DumpOurRoutes(
        sk, name + ": list routes", family, ifindex, [&] { found.clear(); },
        [&](Ptr<rtnl_route> route) {
          auto dst = DstOf(route.get());
          bool kept = dst && std::any_of(keep.begin(), keep.end(), [&](const Cidr& k) { return k.Normalized() == *dst; });
          if (!kept) found.push_back(std::move(route));
        });
    if (!s) return std::move(s).error();
    for (auto& r : found) others.push_back(std::move(r));
  }
  std::vector<Cidr> deleted;
  for (auto& route : others) {
    auto dst = DstOf(route.get());
    std::string shown = dst ? dst->ToString() : "default";
    nl_msg* msg = nullptr;
    int r = rtnl_route_build_del_request(route.get(), 0, &msg);
    Status s = Send(name + ": delete route " + shown, sk, r, msg);
    if (!s && s.error().code != ESRCH) return std::move(s).error();  // gone already is fine
    if (s && dst) deleted.push_back(*dst);
  }
  return deleted;
}

}  // namespace swg::wg::link
