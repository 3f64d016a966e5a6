#pragma once
// `semaphore-wireguard diagnose`: why a pairing does not work, from what a node can see. The command gathers
// the running agent's status (every peer, through the control socket) and local facts (the interface, routes,
// rp_filter, the UDP port); Diagnose() turns them into findings, one line each with a hint.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/health.h"
#include "common/ip.h"

namespace swg::supervisor {

enum class Severity { kOk, kWarn, kProblem };
std::string_view SeverityName(Severity s);  // ok, warn, problem

struct Finding {
  std::string remote;
  std::string check;  // worker, interface, route, rp_filter, udp, peers, handshake, rejected
  Severity severity = Severity::kOk;
  std::string message;
  std::string hint;  // what it usually means and what to do; "" for ok
};

// What the command read on the node for one remote.
struct LocalFacts {
  bool interface_read = false;  // false: reading the link failed (interface_error says why)
  std::string interface_error;
  bool interface_exists = false;
  bool interface_up = false;
  struct RouteLookup {
    std::string subnet;   // a remote pod subnet, or a peer's allowed IPs
    std::string address;  // the address looked up (the subnet's first host)
    std::string device;   // the interface the kernel's route lookup chose; "" when there is no route
    std::string error;    // the lookup failed (ENETUNREACH: no route at all)
  };
  std::vector<RouteLookup> routes;
  int rp_filter_all = -1;         // net.ipv4.conf.all.rp_filter; -1 when unreadable
  int rp_filter_interface = -1;   // net.ipv4.conf.<dev>.rp_filter
  std::optional<bool> udp_bound;  // the listen port in /proc/net/udp or udp6; nullopt when unreadable
};

// The findings for one remote: its worker's view (with peer_list: a `status -v` answer) and the local facts.
std::vector<Finding> Diagnose(const RemoteView& remote, const LocalFacts& facts, int64_t now);

bool AnyProblem(const std::vector<Finding>& findings);
std::string FormatFindings(const std::vector<Finding>& findings);  // one line per finding
std::string FindingsToJson(const std::vector<Finding>& findings);

// The address probed for a subnet (its first host, or the address itself for a /32 or /128).
IpAddr ProbeAddress(const Cidr& subnet);

}  // namespace swg::supervisor
