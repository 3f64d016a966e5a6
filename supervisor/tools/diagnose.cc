#include "supervisor/tools/diagnose.h"

#include <algorithm>
#include <cstdio>

#include "common/json.h"
#include "common/strings.h"
#include "supervisor/status_format.h"
#include "worker/wg/device.h"

namespace swg::supervisor {
namespace {

std::string NoHandshakeHint(const PeerStatus& p, uint16_t listen_port) {
  std::string to = p.endpoint.empty() ? "to the peer" : "to " + p.endpoint;
  return "usually: the remote node does not have this node as a peer (run `semaphore-wireguard mesh`, or "
         "`semaphore-wireguard status -v` on that node for a rejection), UDP is blocked on the way (" +
         to + ", or back to this node's port " + std::to_string(listen_port) +
         ": firewall, security group), or NAT between the nodes (see the endpoint options: "
         "advertiseAddressType, "
         "the advertise-endpoint annotation, persistentKeepalive)";
}

std::string StaleText() { return std::to_string(wg::kRejectAfterTimeSec / 60) + " minutes"; }

std::string PeerName(const PeerStatus& p) {
  std::string name = p.node.empty() || p.node == "(unknown)" ? p.public_key : p.node;
  return "peer " + name + (p.endpoint.empty() ? " (no endpoint)" : " (" + p.endpoint + ")");
}

}  // namespace

std::string_view SeverityName(Severity s) {
  switch (s) {
    case Severity::kOk:
      return "ok";
    case Severity::kWarn:
      return "warn";
    case Severity::kProblem:
      return "problem";
  }
  return "?";
}

std::vector<Finding> Diagnose(const RemoteView& remote, const LocalFacts& facts, int64_t now) {
  const WorkerStatus& s = remote.status;
  const std::string& dev = s.interface.empty() ? "wireguard." + s.remote : s.interface;
  std::vector<Finding> out;
  auto add = [&](const char* check, Severity sev, std::string message, std::string hint = "") {
    out.push_back(Finding{s.remote, check, sev, std::move(message), std::move(hint)});
  };

  if (remote.failed) {
    add("worker", Severity::kProblem, "the worker stopped with a configuration error: " + s.last_error,
        "fix the configuration or the key file; `semaphore-wireguard status` and the log say more");
  } else if (!remote.worker_up) {
    add("worker", Severity::kProblem,
        "the worker is not running" + (remote.worker_note.empty() ? "" : ": " + remote.worker_note),
        "see the agent's log for its exits (remote=" + s.remote + ")");
  } else if (s.state != "ready") {
    add("worker", Severity::kWarn,
        "the pairing is " + s.state + (s.last_error.empty() ? "" : ": " + s.last_error),
        "`semaphore-wireguard status -v` shows the step it is at");
  } else {
    add("worker", Severity::kOk, "the worker is running and in sync with the remote cluster");
  }

  if (!facts.interface_read) {
    add("interface", Severity::kProblem, "cannot read " + dev + ": " + facts.interface_error);
  } else if (!facts.interface_exists) {
    add("interface", Severity::kProblem, dev + " does not exist",
        "the worker creates it when it starts; its last error says why it could not");
  } else if (!facts.interface_up) {
    add("interface", Severity::kProblem, dev + " is down",
        "the worker brings it up again at its next check (every 10 s); something else sets it down");
  } else {
    add("interface", Severity::kOk, dev + " is up");
  }

  for (const auto& r : facts.routes) {
    std::string what = "route to " + r.subnet + " (lookup of " + r.address + ")";
    if (r.device == dev) {
      add("route", Severity::kOk, what + " goes through " + dev);
    } else if (r.device.empty()) {
      add("route", Severity::kProblem, what + ": " + (r.error.empty() ? "no route" : r.error),
          "the worker installs the route at its next check; without it pods cannot reach the remote pods");
    } else {
      add("route", Severity::kProblem, what + " goes through " + r.device + ", not " + dev,
          "a more specific route or a routing rule sends the remote pod subnet elsewhere (another CNI's "
          "route?): compare `ip route get " +
              r.address + "` with `ip route show dev " + dev + "`");
    }
  }

  if (facts.rp_filter_all >= 0 || facts.rp_filter_interface >= 0) {
    // The kernel applies the larger of the two values.
    int effective = std::max(facts.rp_filter_all, facts.rp_filter_interface);
    std::string values = "rp_filter " + std::to_string(effective) + " on " + dev +
                         " (all=" + std::to_string(facts.rp_filter_all) + ", " + dev + "=" +
                         std::to_string(facts.rp_filter_interface) + ")";
    if (effective == 1) {
      add("rp_filter", Severity::kWarn, values + ": strict reverse-path filtering",
          "strict mode drops tunnel packets whose source is not routed back through " + dev +
              " (a remote pod address outside the routed subnets); if replies are lost, set "
              "net.ipv4.conf.all.rp_filter and net.ipv4.conf." +
              dev + ".rp_filter to 2 (loose)");
    } else {
      add("rp_filter", Severity::kOk, values);
    }
  }

  if (!facts.udp_bound) {
    add("udp", Severity::kWarn,
        "cannot read /proc/net/udp to check UDP port " + std::to_string(s.listen_port));
  } else if (!*facts.udp_bound) {
    add("udp", Severity::kProblem, "nothing is bound to UDP port " + std::to_string(s.listen_port),
        "the WireGuard device has no socket: wireguard-go exited, or the port was taken by another program "
        "before the device could bind it (`ss -ulpn`)");
  } else {
    add("udp", Severity::kOk, "UDP port " + std::to_string(s.listen_port) + " is bound");
  }

  if (remote.worker_up && s.peer_list.empty()) {
    add("peers", Severity::kWarn, "no peers",
        "no node of the remote cluster advertises itself to this cluster yet (are the agents running "
        "there?), "
        "or all are rejected (see below)");
  }
  size_t fresh = 0, idle = 0;
  for (const auto& p : s.peer_list) {
    if (wg::HandshakeLive(p.last_handshake, now)) {
      fresh++;
    } else if (p.last_handshake > 0) {
      add("handshake", Severity::kProblem,
          PeerName(p) + ": no handshake for " + FormatAge(now - p.last_handshake) + " (more than " +
              StaleText() + ")",
          NoHandshakeHint(p, s.listen_port) +
              "; or the peer was idle since (WireGuard only shakes hands for traffic)");
    } else if (p.tx_bytes > 0 && p.rx_bytes > 0) {
      // Its handshake initiations reach us (received bytes) but none completes: it has us as a peer, and our
      // answers do not get back to it.
      add("handshake", Severity::kProblem,
          PeerName(p) + ": never had a handshake, although " + std::to_string(p.tx_bytes) +
              " bytes were sent to it and " + std::to_string(p.rx_bytes) + " received from it",
          "its handshakes reach this node, so it has this node as a peer, but the answers do not get back to "
          "it: "
          "UDP is blocked on the way " +
              (p.endpoint.empty() ? std::string("to it") : "to " + p.endpoint) +
              " (firewall, security group), or NAT changes the port (see the endpoint options: "
              "advertiseAddressType, the advertise-endpoint annotation, persistentKeepalive)");
    } else if (p.tx_bytes > 0) {
      add("handshake", Severity::kProblem,
          PeerName(p) + ": never had a handshake, although " + std::to_string(p.tx_bytes) +
              " bytes were sent to it (nothing received)",
          NoHandshakeHint(p, s.listen_port));
    } else {
      idle++;
    }
  }
  if (fresh > 0) {
    add("handshake", Severity::kOk,
        std::to_string(fresh) + " peer(s) with a handshake in the last " + StaleText());
  }
  if (idle > 0) {
    add("handshake", Severity::kOk,
        std::to_string(idle) +
            " peer(s) without a handshake yet and nothing sent to them (WireGuard shakes "
            "hands with the first packet)");
  }
  if (s.rejected > 0) {
    add("rejected", Severity::kWarn, std::to_string(s.rejected) + " node(s) of the remote cluster rejected",
        "`semaphore-wireguard status -v` lists each with its reason");
  }
  return out;
}

bool AnyProblem(const std::vector<Finding>& findings) {
  return std::any_of(findings.begin(), findings.end(),
                     [](const Finding& f) { return f.severity == Severity::kProblem; });
}

std::string FormatFindings(const std::vector<Finding>& findings) {
  std::string out;
  for (const auto& f : findings) {
    char head[64];
    std::snprintf(head, sizeof head, "%-8s %-10s %-10s ", std::string(SeverityName(f.severity)).c_str(),
                  f.remote.c_str(), f.check.c_str());
    out += head + f.message + (f.hint.empty() ? "" : " -- hint: " + f.hint) + "\n";
  }
  return out;
}

std::string FindingsToJson(const std::vector<Finding>& findings) {
  JsonPtr arr(json_array());
  for (const auto& f : findings) {
    json_t* o = json_object();
    json_object_set_new(o, "remote", json_string(f.remote.c_str()));
    json_object_set_new(o, "check", json_string(f.check.c_str()));
    json_object_set_new(o, "severity", json_string(std::string(SeverityName(f.severity)).c_str()));
    json_object_set_new(o, "message", json_string(f.message.c_str()));
    if (!f.hint.empty()) json_object_set_new(o, "hint", json_string(f.hint.c_str()));
    json_array_append_new(arr.get(), o);
  }
  JsonPtr top(json_object());
  json_object_set_new(top.get(), "problems", json_boolean(AnyProblem(findings)));
  json_object_set(top.get(), "findings", arr.get());
  return JsonDump(top.get(), true);
}

IpAddr ProbeAddress(const Cidr& subnet) {
  Cidr n = subnet.Normalized();
  IpAddr a = n.addr;
  if (n.prefix >= a.bits()) return a;
  // The first host: the last byte of the network address plus one (its host bits are zero, so no carry).
  a.bytes[a.size() - 1] = static_cast<uint8_t>(a.bytes[a.size() - 1] + 1);
  return a;
}

}  // namespace swg::supervisor
