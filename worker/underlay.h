#pragma once
// The underlay under a WireGuard interface: the network interface that holds the address this node advertises
// as its endpoint, and its MTU. With wgDeviceMTU "auto" the tunnel's MTU is that MTU minus WireGuard's overhead.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/config.h"
#include "common/ip.h"
#include "common/result.h"

namespace swg::worker {

// WireGuard's overhead per packet: outer IP header (20 or 40) + UDP (8) + WireGuard header and tag (32).
inline constexpr uint32_t kWireGuardOverheadV4 = 60;
inline constexpr uint32_t kWireGuardOverheadV6 = 80;

struct UnderlayLink {
  std::string name;
  uint32_t mtu = 0;
};

// The interface (in this network namespace) that holds `addr`, skipping loopback interfaces; nullopt when none.
Result<std::optional<UnderlayLink>> FindUnderlay(const IpAddr& addr);

// The MTU a remote's interface should have, and where it comes from (for status, logs and the metric).
struct MtuChoice {
  uint32_t mtu = kDefaultMtu;
  std::string source;  // "config", "auto", "default"
  std::string detail;  // "auto: eth1 (MTU 1400) holds 192.168.115.10, minus 60 for IPv4"
};

// With wgDeviceMTU "auto": the first of `candidates` (the advertised address, then the InternalIPs) that an
// interface here holds decides; none -> the default 1420, saying why. A configured number is used as it is.
MtuChoice ChooseMtu(const RemoteConfig& remote, const std::vector<IpAddr>& candidates);

}  // namespace swg::worker
