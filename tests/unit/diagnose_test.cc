#include "supervisor/tools/diagnose.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <set>
#include <string>

#include "worker/wg/device.h"
#include "worker/wg/wireguard_go.h"

namespace {

using swg::supervisor::Finding;
using swg::supervisor::LocalFacts;
using swg::supervisor::Severity;

constexpr int64_t kNow = 1'800'000'000;

swg::RemoteView Healthy() {
  swg::RemoteView v;
  v.worker_up = true;
  v.status.remote = "c2";
  v.status.interface = "wireguard.c2";
  v.status.state = "ready";
  v.status.listen_port = 51821;
  swg::PeerStatus p;
  p.node = "r1";
  p.public_key = "k1";
  p.endpoint = "192.168.1.2:51821";
  p.allowed_ips = {"10.4.1.0/24"};
  p.last_handshake = kNow - 30;
  p.tx_bytes = 1000;
  p.rx_bytes = 900;
  v.status.peer_list = {p};
  return v;
}

LocalFacts Good() {
  LocalFacts f;
  f.interface_read = f.interface_exists = f.interface_up = true;
  f.routes = {{"10.4.0.0/16", "10.4.0.1", "wireguard.c2", ""}};
  f.rp_filter_all = 0;
  f.rp_filter_interface = 2;
  f.udp_bound = true;
  return f;
}

const Finding* Find(const std::vector<Finding>& all, const std::string& check, Severity sev) {
  auto it = std::find_if(all.begin(), all.end(),
                         [&](const Finding& f) { return f.check == check && f.severity == sev; });
  return it == all.end() ? nullptr : &*it;
}

}  // namespace

TEST_CASE("diagnose: a healthy pairing has no problem") {
  auto f = swg::supervisor::Diagnose(Healthy(), Good(), kNow);
  CHECK_FALSE(swg::supervisor::AnyProblem(f));
  for (const auto& x : f) CHECK_MESSAGE(x.severity == Severity::kOk, std::string(x.check + ": " + x.message));
  REQUIRE(Find(f, "route", Severity::kOk));
  CHECK(Find(f, "route", Severity::kOk)->message ==
        "route to 10.4.0.0/16 (lookup of 10.4.0.1) goes through wireguard.c2");
  REQUIRE(Find(f, "handshake", Severity::kOk));
  CHECK(Find(f, "handshake", Severity::kOk)->message.find("1 peer(s) with a handshake") == 0);
  std::string text = swg::supervisor::FormatFindings(f);
  CHECK(std::count(text.begin(), text.end(), '\n') == static_cast<long>(f.size()));  // one line each
}

TEST_CASE("diagnose: stale and missing handshakes name the peer with the usual causes") {
  auto v = Healthy();
  v.status.peer_list[0].last_handshake = kNow - 200;  // over 3 minutes
  swg::PeerStatus never = v.status.peer_list[0];
  never.node = "r2";
  never.last_handshake = 0;
  never.tx_bytes = 444;
  never.rx_bytes = 0;
  swg::PeerStatus unused = never;
  unused.node = "r3";
  unused.tx_bytes = 0;
  v.status.peer_list.push_back(never);
  v.status.peer_list.push_back(unused);
  auto f = swg::supervisor::Diagnose(v, Good(), kNow);
  CHECK(swg::supervisor::AnyProblem(f));
  std::vector<Finding> problems;
  for (const auto& x : f) {
    if (x.severity == Severity::kProblem) problems.push_back(x);
  }
  REQUIRE(problems.size() == 2);
  CHECK(problems[0].message == "peer r1 (192.168.1.2:51821): no handshake for 3m20s (more than 3 minutes)");
  CHECK(problems[1].message ==
        "peer r2 (192.168.1.2:51821): never had a handshake, although 444 bytes were sent to it (nothing "
        "received)");
  for (const auto& p : problems) {
    CHECK(p.hint.find("does not have this node as a peer") != std::string::npos);
    CHECK(p.hint.find("semaphore-wireguard mesh") != std::string::npos);
    CHECK(p.hint.find("UDP is blocked on the way (to 192.168.1.2:51821, or back to this node's port 51821") !=
          std::string::npos);
    CHECK(p.hint.find("NAT") != std::string::npos);
  }
  // Handshakes arrive from it but none completes: it has us; our answers are lost on the way back.
  auto answered = Healthy();
  answered.status.peer_list[0].last_handshake = 0;
  answered.status.peer_list[0].tx_bytes = 240;
  answered.status.peer_list[0].rx_bytes = 148;
  auto g = swg::supervisor::Diagnose(answered, Good(), kNow);
  REQUIRE(Find(g, "handshake", Severity::kProblem));
  CHECK(Find(g, "handshake", Severity::kProblem)->message ==
        "peer r1 (192.168.1.2:51821): never had a handshake, although 240 bytes were sent to it and 148 "
        "received from it");
  CHECK(Find(g, "handshake", Severity::kProblem)
            ->hint.find("so it has this node as a peer, but the answers do not get "
                        "back to it: UDP is blocked on the way to 192.168.1.2:51821") != std::string::npos);
  // A peer nothing was sent to yet is not a problem: WireGuard shakes hands with the first packet.
  REQUIRE(Find(f, "handshake", Severity::kOk));
  CHECK(Find(f, "handshake", Severity::kOk)->message.find("1 peer(s) without a handshake yet") == 0);
  // At exactly 3 minutes a handshake is still fresh.
  v = Healthy();
  v.status.peer_list[0].last_handshake = kNow - swg::wg::kRejectAfterTimeSec;
  CHECK_FALSE(swg::supervisor::AnyProblem(swg::supervisor::Diagnose(v, Good(), kNow)));
}

TEST_CASE("diagnose: interface, route, UDP port and rp_filter findings") {
  auto facts = Good();
  facts.interface_up = false;
  facts.routes.push_back({"10.4.2.0/24", "10.4.2.1", "eth0", ""});
  facts.routes.push_back(
      {"fd00:4::/48", "fd00:4::1", "", "route lookup of fd00:4::1: Network is unreachable"});
  facts.udp_bound = false;
  facts.rp_filter_interface = 1;
  auto f = swg::supervisor::Diagnose(Healthy(), facts, kNow);
  REQUIRE(Find(f, "interface", Severity::kProblem));
  CHECK(Find(f, "interface", Severity::kProblem)->message == "wireguard.c2 is down");
  int bad_routes = 0;
  for (const auto& x : f) {
    if (x.check != "route" || x.severity != Severity::kProblem) continue;
    bad_routes++;
    if (x.message.find("eth0") != std::string::npos) {
      CHECK(x.message == "route to 10.4.2.0/24 (lookup of 10.4.2.1) goes through eth0, not wireguard.c2");
      CHECK(x.hint.find("ip route get 10.4.2.1") != std::string::npos);
    } else {
      CHECK(x.message.find("Network is unreachable") != std::string::npos);
    }
  }
  CHECK(bad_routes == 2);
  REQUIRE(Find(f, "udp", Severity::kProblem));
  CHECK(Find(f, "udp", Severity::kProblem)->message == "nothing is bound to UDP port 51821");
  // Strict mode (the larger of all and the interface's value) is a warning: it works while the routes do.
  REQUIRE(Find(f, "rp_filter", Severity::kWarn));
  CHECK(Find(f, "rp_filter", Severity::kWarn)
            ->message.find("rp_filter 1 on wireguard.c2 (all=0, wireguard.c2=1)") == 0);
  facts = Good();
  facts.rp_filter_all = 1;
  facts.rp_filter_interface = 2;  // loose wins: the kernel takes the maximum
  CHECK(Find(swg::supervisor::Diagnose(Healthy(), facts, kNow), "rp_filter", Severity::kOk));
}

TEST_CASE("diagnose: a worker that is down or failed is a problem; no peers a warning") {
  auto v = Healthy();
  v.worker_up = false;
  v.worker_note = "restarting in 2s after exit code 1";
  v.status.peer_list.clear();
  auto f = swg::supervisor::Diagnose(v, Good(), kNow);
  REQUIRE(Find(f, "worker", Severity::kProblem));
  CHECK(Find(f, "worker", Severity::kProblem)->message ==
        "the worker is not running: restarting in 2s after exit code 1");
  v = Healthy();
  v.status.peer_list.clear();
  f = swg::supervisor::Diagnose(v, Good(), kNow);
  CHECK_FALSE(swg::supervisor::AnyProblem(f));
  CHECK(Find(f, "peers", Severity::kWarn));
}

TEST_CASE("diagnose: JSON has every finding and the verdict") {
  auto v = Healthy();
  v.status.peer_list[0].last_handshake = 0;
  v.status.peer_list[0].rx_bytes = 0;
  auto json = swg::supervisor::FindingsToJson(swg::supervisor::Diagnose(v, Good(), kNow));
  CHECK(json.find("\"problems\": true") != std::string::npos);
  CHECK(json.find("\"severity\": \"problem\"") != std::string::npos);
  CHECK(json.find("\"check\": \"handshake\"") != std::string::npos);
  CHECK(json.find("\"hint\": \"usually: the remote node does not have this node") != std::string::npos);
}

TEST_CASE("UDP port bound, from /proc/net/udp and udp6") {
  const char* udp =
      "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref "
      "pointer drops\n"
      "  123: 00000000:CAFD 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 4242 2 0 "
      "0\n"
      "  124: 0100007F:0035 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 4243 2 0 "
      "0\n";
  auto bound = [](const char* table, uint16_t port) { return !swg::wg::UdpInodesOnPort(table, port).empty(); };
  CHECK(bound(udp, 51965));  // 0xCAFD
  CHECK(bound(udp, 53));
  CHECK_FALSE(bound(udp, 51821));
  CHECK(swg::wg::UdpInodesOnPort(udp, 53) == std::set<std::string>{"4243"});
  const char* udp6 =
      "  sl  local_address                         remote_address                        st tx_queue rx_queue tr "
      "tm->when retrnsmt   uid  timeout inode ref pointer drops\n"
      "  7: 00000000000000000000000000000000:C8FD 00000000000000000000000000000000:0000 07 "
      "00000000:00000000 00:00000000 00000000     0        0 5151 2 0 0\n";
  CHECK(bound(udp6, 51453));  // 0xC8FD
  CHECK_FALSE(bound(udp6, 0));
  CHECK_FALSE(bound("", 53));
}

TEST_CASE("the probe address of a subnet is its first host") {
  CHECK(swg::supervisor::ProbeAddress(*swg::Cidr::Parse("10.4.0.0/16")).ToString() == "10.4.0.1");
  CHECK(swg::supervisor::ProbeAddress(*swg::Cidr::Parse("10.4.1.7/24")).ToString() == "10.4.1.1");
  CHECK(swg::supervisor::ProbeAddress(*swg::Cidr::Parse("10.4.1.7/32")).ToString() == "10.4.1.7");
  CHECK(swg::supervisor::ProbeAddress(*swg::Cidr::Parse("fd00:4::/48")).ToString() == "fd00:4::1");
}
