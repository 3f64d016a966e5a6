#pragma once
// Internal to swg_wg (and its tests; `diagnose` uses Find and RouteGet): the rtnetlink operations the interface
// manager needs, one function per kernel request, through libnl-route. Errors name the interface and carry the
// kernel's errno.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/ip.h"
#include "common/result.h"

struct nl_sock;

namespace swg::wg::link {

// The rtm_protocol of every route this project installs, so its routes can be told apart
// (`ip route show proto 87`). Not taken in /etc/iproute2/rt_protos.
inline constexpr uint8_t kRouteProtocol = 87;

struct LinkInfo {
  int ifindex = 0;
  std::string kind;  // IFLA_INFO_KIND: "wireguard", "tun", ...; "" when the kernel sent none
  unsigned flags = 0;
  uint32_t mtu = 0;
  bool up() const;
};

// The link called `name`, or nullopt when there is none.
Result<std::optional<LinkInfo>> Find(nl_sock* sk, const std::string& name);

// Creates a link of `kind` with NLM_F_CREATE|NLM_F_EXCL. A kernel without the kind answers EOPNOTSUPP.
Status Create(nl_sock* sk, const std::string& name, const std::string& kind, uint32_t mtu);

Status Delete(nl_sock* sk, const std::string& name, int ifindex);

// Sets the MTU and IFF_UP in one request.
Status SetMtuUp(nl_sock* sk, const std::string& name, int ifindex, uint32_t mtu);

// Stops the kernel from giving the link an IPv6 link-local address when it comes up (addrgenmode none; a
// tun device would otherwise get one). EAFNOSUPPORT when IPv6 is off for the link.
Status DisableAddressGeneration(nl_sock* sk, const std::string& name, int ifindex);

// Removes every IPv4 and IPv6 address of the link.
Status FlushAddresses(nl_sock* sk, const std::string& name, int ifindex);

// Replaces the route to `dst` (host bits cleared): table main, scope link, protocol kRouteProtocol, via the
// link. An IPv4 route needs the link up (else ENETDOWN).
Status ReplaceRoute(nl_sock* sk, const std::string& name, int ifindex, const Cidr& dst);

// True when the route ReplaceRoute installs is there.
Result<bool> HasRoute(nl_sock* sk, const std::string& name, int ifindex, const Cidr& dst);

// `ip route get ADDR`: the interface index the kernel's route lookup picks for `addr` (RTM_GETROUTE, main
// routing rules included). No route at all is an error with ENETUNREACH (or EHOSTUNREACH).
Result<int> RouteGet(nl_sock* sk, const IpAddr& addr);

// Deletes every route of ours (table main, protocol kRouteProtocol) via the link whose destination is not in
// `keep`: a subnet no longer configured. Returns the destinations deleted.
Result<std::vector<Cidr>> DeleteOtherRoutes(nl_sock* sk, const std::string& name, int ifindex,
                                            const std::vector<Cidr>& keep);

}  // namespace swg::wg::link
