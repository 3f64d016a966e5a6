#include "worker/wg/interface.h"

#include <linux/netlink.h>
#include <signal.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <chrono>
#include <thread>

#include "common/log.h"
#include "common/proc.h"
#include "common/strings.h"
#include "worker/wg/backends.h"
#include "worker/wg/link.h"
#include "worker/wg/netlink.h"
#include "worker/wg/wireguard_go.h"

namespace swg::wg {
namespace {

// The worker's loop waits for these, so each stays well below the supervisor's heartbeat timeout of 10 s
// (supervisor/workers.h). wireguard-go creates its device within about 0.1 s.
constexpr auto kStartTimeout = std::chrono::seconds(5);
constexpr auto kStartPoll = std::chrono::milliseconds(20);
// Short: the set-up retries with backoff anyway.
constexpr auto kKeeperWait = std::chrono::seconds(3);
// A killed process is gone (or a zombie, its descriptors closed) within milliseconds.
constexpr auto kKillWait = std::chrono::seconds(2);

// Gone, or a zombie nobody has reaped yet (kill(pid, 0) succeeds on a zombie).
bool Exited(pid_t pid) {
  if (pid <= 0) return false;
  if (kill(pid, 0) < 0 && errno == ESRCH) return true;
  auto state = ProcessState(pid);
  if (!state) return kill(pid, 0) < 0 && errno == ESRCH;  // gone since the first look
  return *state == 'Z';
}

Error Prefixed(const std::string& name, const Error& e) { return Error{name + ": " + e.message, e.code}; }

}  // namespace

struct Interface::Netlink {
  nl::Sock sock;
  nl_sock* get() { return sock.get(); }
};

std::optional<BackendChoice> ParseBackendChoice(std::string_view text) {
  if (text == "auto") return BackendChoice::kAuto;
  if (text == "kernel") return BackendChoice::kKernel;
  if (text == "userspace") return BackendChoice::kUserspace;
  return std::nullopt;
}

std::string_view BackendChoiceName(BackendChoice choice) {
  switch (choice) {
    case BackendChoice::kKernel:
      return "kernel";
    case BackendChoice::kUserspace:
      return "userspace";
    case BackendChoice::kAuto:
      break;
  }
  return "auto";
}

std::string InterfaceNameProblem(std::string_view name) {
  if (name.empty()) return "is empty";
  if (name.size() > 15) return "is " + std::to_string(name.size()) + " bytes long; Linux allows at most 15";
  if (name == "." || name == "..") return "is reserved";
  for (char c : name) {
    auto u = static_cast<unsigned char>(c);
    if (c == '/' || c == ':' || c == '%') return std::string("contains '") + c + "'";
    if (std::isspace(u) || std::iscntrl(u) || u >= 0x80)
      return "contains a space, control or non-ASCII character";
  }
  return "";
}

std::string RepairReport::Describe() const {
  std::string out;
  auto add = [&out](const std::string& part) { out += (out.empty() ? "" : ", ") + part; };
  if (recreated) add("link recreated (" + recreated_because + ")");
  if (set_up) add("link set up");
  if (mtu_restored) add("MTU restored");
  if (route_restored) add("route restored");
  return out;
}

Interface::Interface(InterfaceOptions options) : options_(std::move(options)) {}
Interface::~Interface() = default;

Result<std::unique_ptr<Interface>> Interface::Ensure(const InterfaceOptions& options) {
  if (std::string problem = InterfaceNameProblem(options.name); !problem.empty()) {
    return Error{"interface name " + Quote(options.name) + " " + problem, EINVAL};
  }
  if (options.mtu < 68 || options.mtu > 65535) {
    return Error{options.name + ": MTU " + std::to_string(options.mtu) + " is outside 68-65535", EINVAL};
  }
  auto sock = nl::Connect(NETLINK_ROUTE);
  if (!sock) return Prefixed(options.name, sock.error());
  Netlink nl{std::move(*sock)};
  std::unique_ptr<Interface> iface(new Interface(options));
  if (Status s = iface->Establish(nl); !s) return std::move(s).error();
  if (Status s = iface->Configure(nl); !s) return std::move(s).error();
  return iface;
}

std::string Interface::AdoptProblem(const std::string& kind, UapiProbe* probe) const {
  if (kind == "tun" && options_.choice == BackendChoice::kKernel) {
    return "it is a wireguard-go (tun) device and the backend is kernel";
  }
  if (kind == "wireguard" && options_.choice == BackendChoice::kUserspace) {
    return "it is a kernel WireGuard device and the backend is userspace";
  }
  if (kind == "tun") {
    *probe = ProbeUapi(kUapiSocketDir, options_.name);
    if (!probe->answers) return probe->problem;
  }
  return "";
}

void Interface::EndUnresponsive(const UapiProbe& probe) {
  if (options_.external_wireguard_go || probe.answers) return;
  const std::string path = std::string(kUapiSocketDir) + "/" + options_.name + ".sock";
  // The pid from the probe holds the listening socket; the one this object started, only if it still does.
  pid_t pid = probe.pid > 0 ? probe.pid : (HoldsUnixListener(pid_, path) ? pid_ : 0);
  if (pid > 1 && pid != getpid()) {
    log::Warn("killing the wireguard-go that does not answer",
              {{"device", options_.name}, {"pid", std::to_string(pid)}});
    kill(pid, SIGKILL);  // a stopped process dies of SIGKILL too
    const auto deadline = std::chrono::steady_clock::now() + kKillWait;
    while (!Exited(pid) && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(kStartPoll);
  }
  // Gone with its process, or left by one that could not be killed: a new wireguard-go would refuse a socket
  // that still accepts connections ("unix socket in use"). One that ever resumes exits when its file goes.
  unlink(path.c_str());
}

Status Interface::Establish(Netlink& nl) {
  const std::string& name = options_.name;
  auto found = link::Find(nl.get(), name);
  if (!found) return std::move(found).error();
  if (*found) {
    const link::LinkInfo& l = **found;
    if (l.kind != "wireguard" && l.kind != "tun") {
      return Error{name + ": exists as a link of kind " + Quote(l.kind) + ", not wireguard or tun", EEXIST};
    }
    // The keeper's wireguard-go may still be starting: its link is there before its socket.
    if (l.kind == "tun" && options_.external_wireguard_go && options_.choice != BackendChoice::kKernel) {
      return WaitForKeeper(nl);
    }
    UapiProbe probe;
    if (std::string problem = AdoptProblem(l.kind, &probe); !problem.empty()) {
      log::Warn("replacing the existing interface", {{"device", name}, {"reason", problem}});
      if (l.kind == "tun") EndUnresponsive(probe);
      if (Status s = link::Delete(nl.get(), name, l.ifindex); !s && s.error().code != ENODEV) return s;
    } else {
      ifindex_ = l.ifindex;
      UseKind(l.kind);
      return Ok();
    }
  }
  created_ = true;
  return Create(nl, options_.choice == BackendChoice::kUserspace);
}

Status Interface::Create(Netlink& nl, bool prefer_userspace) {
  const std::string& name = options_.name;
  if (!prefer_userspace) {
    Status s = link::Create(nl.get(), name, "wireguard", options_.mtu);
    if (s) {
      auto found = link::Find(nl.get(), name);
      if (!found) return std::move(found).error();
      if (!*found) return Error{name + ": created, then gone", ENODEV};
      ifindex_ = (*found)->ifindex;
      UseKind("wireguard");
      return Ok();
    }
    if (s.error().code != EOPNOTSUPP || options_.choice != BackendChoice::kAuto) return s;
    return StartWireguardGo(nl, /*fell_back=*/true);
  }
  return StartWireguardGo(nl, /*fell_back=*/false);
}

Status Interface::WaitForKeeper(Netlink& nl) {
  const std::string& name = options_.name;
  const auto deadline = std::chrono::steady_clock::now() + kKeeperWait;
  for (;;) {
    auto found = link::Find(nl.get(), name);
    if (!found) return std::move(found).error();
    if (*found && (*found)->kind == "tun" && UapiSocketAlive(kUapiSocketDir, name)) {
      ifindex_ = (*found)->ifindex;
      UseKind("tun");
      log::Info("using the wireguard-go that the keeper runs", {{"device", name}});
      return Ok();
    }
    if (*found && (*found)->kind != "tun") {
      return Error{name + ": exists as a link of kind " + Quote((*found)->kind) + ", not the keeper's tun", EEXIST};
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      return Error{name + ": waiting for the wireguard-go keeper: " +
                       (*found ? std::string("no wireguard-go answers on ") + kUapiSocketDir + "/" + name + ".sock"
                               : std::string("no such interface")) +
                       " (is the wireguard-go-keeper container running?)",
                   EAGAIN};
    }
    std::this_thread::sleep_for(kStartPoll * 5);
  }
}

Status Interface::StartWireguardGo(Netlink& nl, bool fell_back) {
  const std::string& name = options_.name;
  if (options_.external_wireguard_go) return WaitForKeeper(nl);
  auto pid = SpawnWireguardGo(options_.wireguard_go, name);
  if (!pid) return Prefixed(name, pid.error());
  const auto deadline = std::chrono::steady_clock::now() + kStartTimeout;
  for (;;) {
    auto found = link::Find(nl.get(), name);
    if (!found) return std::move(found).error();
    if (*found && (*found)->kind == "tun" && UapiSocketAlive(kUapiSocketDir, name)) {
      ifindex_ = (*found)->ifindex;
      break;
    }
    if (Exited(*pid)) {
      return Error{
          name + ": wireguard-go (pid " + std::to_string(*pid) + ") exited before the interface was up",
          ECHILD};
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      kill(*pid, SIGTERM);
      return Error{name + ": wireguard-go (pid " + std::to_string(*pid) +
                       ") did not create the interface in " + std::to_string(kStartTimeout.count()) + " s",
                   ETIMEDOUT};
    }
    std::this_thread::sleep_for(kStartPoll);
  }
  pid_ = *pid;
  UseKind("tun");
  log::Fields fields = {
      {"device", name}, {"pid", std::to_string(*pid)}, {"wireguard_go", options_.wireguard_go}};
  if (fell_back) {
    log::Warn("the kernel has no WireGuard (link type \"wireguard\" unknown): using wireguard-go instead",
              fields);
  } else {
    log::Info("started wireguard-go", fields);
  }
  return Ok();
}

// The link carries no addresses of its own: traffic is routed onto it. Address generation goes off before the
// link comes up (a tun would get an IPv6 link-local address); the flush after catches whatever was there.
Status Interface::Configure(Netlink& nl) {
  Status s = link::DisableAddressGeneration(nl.get(), options_.name, ifindex_);
  if (!s && s.error().code != EAFNOSUPPORT) return s;
  if (s = link::SetMtuUp(nl.get(), options_.name, ifindex_, options_.mtu); !s) return s;
  return link::FlushAddresses(nl.get(), options_.name, ifindex_);
}

void Interface::UseKind(const std::string& kind) {
  if (kind_ == kind && backend_) return;
  kind_ = kind;
  backend_ = kind == "wireguard" ? MakeKernelBackend() : MakeUserspaceBackend(kUapiSocketDir);
}

Result<bool> Interface::ListenPortBound(uint16_t port) {
  if (kind_ != "tun") return true;
  return UdpPortBound(port, UapiServerPid(kUapiSocketDir, options_.name));
}

Status Interface::EnsureRoute(const Cidr& subnet) {
  auto sock = nl::Connect(NETLINK_ROUTE);
  if (!sock) return Prefixed(options_.name, sock.error());
  return link::ReplaceRoute(sock->get(), options_.name, ifindex_, subnet);
}

Status Interface::EnsureRoutes(const std::vector<Cidr>& subnets) {
  auto sock = nl::Connect(NETLINK_ROUTE);
  if (!sock) return Prefixed(options_.name, sock.error());
  for (const Cidr& subnet : subnets) {
    if (Status s = link::ReplaceRoute(sock->get(), options_.name, ifindex_, subnet); !s) return s;
  }
  auto deleted = link::DeleteOtherRoutes(sock->get(), options_.name, ifindex_, subnets);
  if (!deleted) return std::move(deleted).error();
  for (const Cidr& gone : *deleted) {
    log::Info("deleted a route to a subnet no longer configured", {{"device", options_.name}, {"route", gone.ToString()}});
  }
  return Ok();
}

Result<RepairReport> Interface::Check(const std::vector<Cidr>& subnets) {
  const std::string& name = options_.name;
  auto sock = nl::Connect(NETLINK_ROUTE);
  if (!sock) return Prefixed(name, sock.error());
  Netlink nl{std::move(*sock)};
  RepairReport report;
  auto found = link::Find(nl.get(), name);
  if (!found) return std::move(found).error();

  std::string why;
  bool adopt = false;
  if (!*found) {
    why = Exited(pid_) ? "wireguard-go exited" : "link missing";
  } else if ((*found)->ifindex != ifindex_) {
    why = "link replaced by another";
    const std::string& kind = (*found)->kind;
    UapiProbe probe;
    adopt = (kind == "wireguard" || kind == "tun") && AdoptProblem(kind, &probe).empty();
    if (!adopt) {
      if (kind != "wireguard" && kind != "tun") {
        return Error{name + ": exists as a link of kind " + Quote(kind) + ", not wireguard or tun", EEXIST};
      }
      if (kind == "tun") EndUnresponsive(probe);
      if (Status s = link::Delete(nl.get(), name, (*found)->ifindex); !s && s.error().code != ENODEV) {
        return std::move(s).error();
      }
    }
  } else if (kind_ == "tun") {
    // Connecting is not enough: a stopped wireguard-go still accepts connections (in its kernel backlog).
    if (UapiProbe probe = ProbeUapi(kUapiSocketDir, name); !probe.answers) {
      why = "wireguard-go does not answer";
      log::Warn("wireguard-go does not answer; replacing it", {{"device", name}, {"error", probe.problem}});
      // The keeper's link is the keeper's to replace: wait for it below instead.
      EndUnresponsive(probe);
      if (Status s = options_.external_wireguard_go ? Ok() : link::Delete(nl.get(), name, ifindex_);
          !s && s.error().code != ENODEV) {
        return std::move(s).error();
      }
    }
  }

  if (!why.empty()) {
    if (adopt) {
      ifindex_ = (*found)->ifindex;
      UseKind((*found)->kind);
    } else {
      pid_ = 0;
      bool userspace = options_.choice == BackendChoice::kUserspace ||
                       (options_.choice == BackendChoice::kAuto && kind_ == "tun");
      if (Status s = Create(nl, userspace); !s) return std::move(s).error();
    }
    if (Status s = Configure(nl); !s) return std::move(s).error();
    report.recreated = true;
    report.recreated_because = why;
  } else if (!(*found)->up() || (*found)->mtu != options_.mtu) {
    report.set_up = !(*found)->up();
    report.mtu_restored = (*found)->mtu != options_.mtu;
    if (Status s = link::SetMtuUp(nl.get(), name, ifindex_, options_.mtu); !s) return std::move(s).error();
  }

  for (const Cidr& subnet : subnets) {
    auto has = link::HasRoute(nl.get(), name, ifindex_, subnet);
    if (!has) return std::move(has).error();
    if (!*has) {
      if (Status s = link::ReplaceRoute(nl.get(), name, ifindex_, subnet); !s) return std::move(s).error();
      report.route_restored = true;
    }
  }
  return report;
}

}  // namespace swg::wg
