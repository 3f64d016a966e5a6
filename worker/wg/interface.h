#pragma once
// One WireGuard interface (`wireguard.<remote>`): its link, MTU, addresses, up state and route, and the
// backend that configures it. Kernel module when there is one, wireguard-go otherwise.
//
// The interface is never torn down by this class: on destruction the link, its route and a wireguard-go it
// started keep running, so a worker restart goes unnoticed by the traffic. Every call works in the network
// namespace of the calling thread (each opens its own rtnetlink socket).

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/ip.h"
#include "common/result.h"
#include "worker/wg/backend.h"

namespace swg::wg {

struct UapiProbe;  // wireguard_go.h

// The -wg-backend flag (env SWG_WG_BACKEND).
enum class BackendChoice { kAuto, kKernel, kUserspace };
std::optional<BackendChoice> ParseBackendChoice(std::string_view text);  // "auto", "kernel", "userspace"
std::string_view BackendChoiceName(BackendChoice choice);

// Why `name` cannot be a Linux interface name ("" when it can): 1-15 bytes, not "." or "..", no '/', ':',
// '%', whitespace or control characters. The kernel would truncate or refuse what this refuses.
std::string InterfaceNameProblem(std::string_view name);

struct InterfaceOptions {
  std::string name;
  uint32_t mtu = 1420;
  BackendChoice choice = BackendChoice::kAuto;
  std::string wireguard_go = "wireguard-go";
  // Another process (the wireguard-go keeper container of the pod) runs wireguard-go: never start it, never
  // delete its link; wait for its device instead, so that a restart of this container leaves the tunnel up.
  bool external_wireguard_go = false;
};

// What the periodic check repaired. `recreated`: the interface is new (its keys, port and peers are gone), so
// the caller applies them again.
struct RepairReport {
  bool recreated = false;
  std::string recreated_because;  // "link missing", "wireguard-go exited", ...
  bool set_up = false;
  bool mtu_restored = false;
  bool route_restored = false;
  bool any() const { return recreated || set_up || mtu_restored || route_restored; }
  std::string Describe() const;  // "link recreated (link missing), route restored"; "" when nothing
};

class Interface {
 public:
  // Creates the link, or adopts an existing one (kind "wireguard" -> kernel backend, "tun" -> wireguard-go),
  // sets the MTU, flushes IPv4 and IPv6 addresses and brings it up. kAuto creates a kernel link and, when the
  // kernel does not know the link type, starts wireguard-go (one log line says so). An existing link of the
  // other kind than an explicit choice is replaced; a "tun" whose wireguard-go no longer answers is replaced.
  // An invalid name is refused before any netlink request.
  static Result<std::unique_ptr<Interface>> Ensure(const InterfaceOptions& options);

  ~Interface();
  Interface(const Interface&) = delete;
  Interface& operator=(const Interface&) = delete;

  WgBackend& backend() { return *backend_; }
  const std::string& name() const { return options_.name; }
  std::string_view kind() const { return kind_; }  // "wireguard" or "tun"
  int ifindex() const { return ifindex_; }
  bool created() const { return created_; }        // Ensure created the link (false: adopted an existing one)
  pid_t wireguard_go_pid() const { return pid_; }  // the wireguard-go this object started, else 0
  // The MTU that Check() keeps from now on (wgDeviceMTU "auto" follows the underlay).
  void set_mtu(uint32_t mtu) { options_.mtu = mtu; }

  // Replaces the route to `subnet` via this link: table main, scope link, protocol link::kRouteProtocol.
  Status EnsureRoute(const Cidr& subnet);

  // One route per subnet (EnsureRoute), and no other route of ours via this link: a route to a subnet that is
  // no longer configured is deleted (and logged).
  Status EnsureRoutes(const std::vector<Cidr>& subnets);

  // The periodic repair: recreates a missing link (including when wireguard-go exited), replaces a
  // wireguard-go that does not answer a get within kUapiProbeTimeout (killing it first, unless the keeper runs
  // it), brings a down link up, restores the MTU and every missing route, one per subnet. Errors leave the rest
  // for the next check.
  Result<RepairReport> Check(const std::vector<Cidr>& subnets);

  // Whether the device's UDP port `port` is really bound. A kernel device reports only a port it bound while
  // up (true). What wireguard-go reports is the port it was configured with, not proof of a socket (it binds
  // only while its TUN is up), so for a tun this looks in /proc for a UDP socket of its process on that port.
  Result<bool> ListenPortBound(uint16_t port);

 private:
  struct Netlink;  // the rtnetlink socket of one Ensure or Check
  explicit Interface(InterfaceOptions options);
  Status Establish(Netlink& nl);
  Status Create(Netlink& nl, bool prefer_userspace);
  Status StartWireguardGo(Netlink& nl, bool fell_back);
  Status WaitForKeeper(Netlink& nl);
  Status Configure(Netlink& nl);
  // Why an existing link of `kind` cannot be adopted ("" when it can); for a tun, `probe` says whether its
  // wireguard-go answers.
  std::string AdoptProblem(const std::string& kind, UapiProbe* probe) const;
  // Kills a wireguard-go of this interface that holds its socket without answering, and removes the socket.
  void EndUnresponsive(const UapiProbe& probe);
  void UseKind(const std::string& kind);

  InterfaceOptions options_;
  std::string kind_;
  int ifindex_ = 0;
  bool created_ = false;
  pid_t pid_ = 0;
  std::unique_ptr<WgBackend> backend_;
};

}  // namespace swg::wg
