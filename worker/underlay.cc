#include "worker/underlay.h"

#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>

namespace swg::worker {
namespace {

bool SameAddress(const sockaddr* sa, const IpAddr& addr) {
  if (sa == nullptr) return false;
  if (sa->sa_family == AF_INET && addr.is_v4()) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(sa);
    return std::memcmp(&in->sin_addr, addr.bytes.data(), 4) == 0;
  }
  if (sa->sa_family == AF_INET6 && !addr.is_v4()) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(sa);
    return std::memcmp(&in6->sin6_addr, addr.bytes.data(), 16) == 0;
  }
  return false;
}

}  // namespace

Result<std::optional<UnderlayLink>> FindUnderlay(const IpAddr& addr) {
  // getifaddrs and SIOCGIFMTU ask the kernel of this network namespace (sysfs may be another namespace's).
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) return Error{std::string("getifaddrs: ") + std::strerror(errno), errno};
  std::unique_ptr<ifaddrs, void (*)(ifaddrs*)> owner(list, freeifaddrs);
  std::string name;
  for (ifaddrs* a = list; a != nullptr; a = a->ifa_next) {
    if ((a->ifa_flags & IFF_LOOPBACK) != 0 || !SameAddress(a->ifa_addr, addr)) continue;
    name = a->ifa_name;
    break;
  }
  if (name.empty()) return std::optional<UnderlayLink>();
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Error{std::string("socket: ") + std::strerror(errno), errno};
  ifreq req{};
  std::strncpy(req.ifr_name, name.c_str(), IFNAMSIZ - 1);
  int rc = ioctl(fd, SIOCGIFMTU, &req);
  int err = errno;
  close(fd);
  if (rc != 0) return Error{name + ": cannot read the MTU: " + std::strerror(err), err};
  return std::optional<UnderlayLink>(UnderlayLink{name, static_cast<uint32_t>(req.ifr_mtu)});
}

MtuChoice ChooseMtu(const RemoteConfig& remote, const std::vector<IpAddr>& candidates) {
  MtuChoice c;
  if (!remote.wg_device_mtu_auto) {
    c.mtu = remote.wg_device_mtu;
    c.source = "config";
    c.detail = "wgDeviceMTU " + std::to_string(c.mtu);
    return c;
  }
  c.source = "default";
  std::string tried;
  for (const auto& ip : candidates) {
    auto link = FindUnderlay(ip);
    if (!link.ok()) {
      c.detail = "auto, but " + link.error().message + "; using the default " + std::to_string(kDefaultMtu);
      return c;
    }
    if (!*link) {
      tried += (tried.empty() ? "" : ", ") + ip.ToString();
      continue;
    }
    uint32_t overhead = ip.is_v4() ? kWireGuardOverheadV4 : kWireGuardOverheadV6;
    if ((*link)->mtu < 576 + overhead) {
      c.detail = "auto, but " + (*link)->name + " has MTU " + std::to_string((*link)->mtu) +
                 ", too small for a tunnel; using the default " + std::to_string(kDefaultMtu);
      return c;
    }
    c.mtu = (*link)->mtu - overhead;
    c.source = "auto";
    c.detail = "auto: " + (*link)->name + " (MTU " + std::to_string((*link)->mtu) + ") holds " + ip.ToString() +
               ", minus " + std::to_string(overhead) + " for IPv" + (ip.is_v4() ? "4" : "6");
    return c;
  }
  c.detail = tried.empty() ? "auto, but the advertised address is not known yet; using the default " +
                                 std::to_string(kDefaultMtu)
                           : "auto, but no interface here holds " + tried + "; using the default " +
                                 std::to_string(kDefaultMtu);
  return c;
}

}  // namespace swg::worker
