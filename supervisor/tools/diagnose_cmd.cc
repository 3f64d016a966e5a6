// `semaphore-wireguard diagnose [-remote NAME] [-json]`: the running agent's view of each remote (through the
// control socket) plus what this node's kernel says (link, route lookups, rp_filter, UDP sockets); the
// findings come from supervisor/diagnose.cc. Exit 1 when any finding is a problem.
#include <linux/netlink.h>
#include <net/if.h>

#include <cstdio>
#include <ctime>
#include <set>

#include "common/config.h"
#include "common/files.h"
#include "common/flags.h"
#include "common/strings.h"
#include "supervisor/commands.h"
#include "supervisor/tools/tools.h"
#include "supervisor/control.h"
#include "supervisor/tools/diagnose.h"
#include "worker/wg/link.h"
#include "worker/wg/netlink.h"
#include "worker/wg/wireguard_go.h"

namespace swg {
namespace {

int ReadSysctl(const std::string& path) {
  auto text = ReadFile(path, 64);
  if (!text.ok()) return -1;
  auto v = ParseUint(std::string(Trim(*text)), 2);
  return v ? static_cast<int>(*v) : -1;
}

supervisor::LocalFacts GatherFacts(nl_sock* sk, const WorkerStatus& s, const std::vector<Cidr>& subnets) {
  supervisor::LocalFacts f;
  const std::string dev = s.interface.empty() ? "wireguard." + s.remote : s.interface;
  if (sk) {
    auto link = wg::link::Find(sk, dev);
    f.interface_read = link.ok();
    if (!link.ok()) f.interface_error = link.error().message;
    if (link.ok() && *link) {
      f.interface_exists = true;
      f.interface_up = (*link)->up();
    }
  } else {
    f.interface_error = "cannot open a netlink socket";
  }
  std::set<std::string> seen;
  for (const Cidr& c : subnets) {
    if (!seen.insert(c.Normalized().ToString()).second) continue;
    supervisor::LocalFacts::RouteLookup r;
    r.subnet = c.Normalized().ToString();
    IpAddr probe = supervisor::ProbeAddress(c);
    r.address = probe.ToString();
    auto oif = sk ? wg::link::RouteGet(sk, probe) : Result<int>(Error{"cannot open a netlink socket"});
    if (oif.ok()) {
      char name[IF_NAMESIZE] = {};
      r.device = if_indextoname(static_cast<unsigned>(*oif), name) ? name : "ifindex " + std::to_string(*oif);
    } else {
      r.error = oif.error().message;
    }
    f.routes.push_back(std::move(r));
  }
  f.rp_filter_all = ReadSysctl("/proc/sys/net/ipv4/conf/all/rp_filter");
  f.rp_filter_interface = ReadSysctl("/proc/sys/net/ipv4/conf/" + dev + "/rp_filter");
  // Any socket on the port: wireguard-go may run in another PID namespace (the keeper container).
  auto bound = wg::UdpPortBound(s.listen_port, 0);
  if (bound.ok()) f.udp_bound = *bound;
  return f;
}

}  // namespace

int RunDiagnose(const std::vector<std::string>& args, const GetEnv& getenv) {
  FlagSet fs("semaphore-wireguard diagnose");
  fs.String(
      "clusters-config", "SWG_CLUSTERS_CONFIG", "",
      "The agent's config file: its remote pod subnets are checked too (else only the peers' allowed IPs)");
  fs.String("remote", "", "", "Only this remote cluster");
  fs.Bool("json", "Print the findings as JSON");
  if (auto exit = ParseClientFlags(fs, args, getenv, "semaphore-wireguard diagnose",
                                   "semaphore-wireguard diagnose [-remote NAME] [-json] [-control-socket PATH]")) {
    return *exit;
  }
  auto reply = supervisor::ControlRequest(fs.Get("control-socket"),
                                          "{\"command\":\"status\",\"verbose\":true}", 10000);
  if (!reply.ok()) {
    std::fprintf(stderr, "semaphore-wireguard diagnose: %s\n", reply.error().message.c_str());
    return kExitFailure;
  }
  NodeView view;
  std::string error;
  if (!NodeViewFromJson(*reply, &view, &error)) {
    std::fprintf(stderr, "semaphore-wireguard diagnose: unexpected answer: %s\n", error.c_str());
    return kExitFailure;
  }
  Config config;
  if (!fs.Get("clusters-config").empty()) {
    ConfigParse parsed = LoadConfigFile(fs.Get("clusters-config"));
    if (!parsed.errors.empty()) {
      std::fprintf(stderr, "semaphore-wireguard diagnose: %s\n", parsed.errors[0].c_str());
      return kExitFailure;
    }
    config = std::move(parsed.config);
  }
  const std::string& only = fs.Get("remote");
  std::string known;
  bool found = false;
  for (const auto& r : view.remotes) {
    known += (known.empty() ? "" : ", ") + r.status.remote;
    found = found || r.status.remote == only;
  }
  if (!only.empty() && !found) {
    std::fprintf(stderr, "semaphore-wireguard diagnose: unknown remote \"%s\": this node's remotes are %s\n",
                 only.c_str(), known.c_str());
    return kExitFailure;
  }
  auto sock = wg::nl::Connect(NETLINK_ROUTE);
  nl_sock* sk = sock.ok() ? sock->get() : nullptr;
  int64_t now = static_cast<int64_t>(time(nullptr));
  std::vector<supervisor::Finding> findings;
  for (const auto& r : view.remotes) {
    if (!only.empty() && r.status.remote != only) continue;
    std::vector<Cidr> subnets;
    for (const auto& rc : config.remotes) {
      if (rc.name == r.status.remote) subnets = rc.pod_subnets;
    }
    for (const auto& p : r.status.peer_list) {
      for (const auto& a : p.allowed_ips) {
        if (auto c = Cidr::Parse(a)) subnets.push_back(*c);
      }
    }
    auto more = supervisor::Diagnose(r, GatherFacts(sk, r.status, subnets), now);
    findings.insert(findings.end(), more.begin(), more.end());
  }
  if (fs.GetBool("json")) {
    std::printf("%s\n", supervisor::FindingsToJson(findings).c_str());
  } else {
    std::fputs(supervisor::FormatFindings(findings).c_str(), stdout);
  }
  return supervisor::AnyProblem(findings) ? kExitFailure : kExitOk;
}

}  // namespace swg
