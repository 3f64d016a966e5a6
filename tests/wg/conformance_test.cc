// The backend conformance suite: the same cases for the kernel backend (suite "kernel", run in the VM) and
// for wireguard-go (suite "userspace"), each case in a network namespace of its own.
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cerrno>
#include <thread>

#include "common/files.h"
#include "tests/wg/nstest.h"
#include "worker/wg/backends.h"
#include "worker/wg/diff.h"

namespace swg::wg::test {
namespace {

#define CONFORMANCE_CASE(title, body)                                                          \
  TEST_CASE("kernel: " title* doctest::test_suite("kernel")) { body(BackendChoice::kKernel); } \
  TEST_CASE("userspace: " title* doctest::test_suite("userspace")) { body(BackendChoice::kUserspace); }

double MsSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

std::string Name(BackendChoice c) { return std::string(BackendChoiceName(c)); }

// "" when equal, else the first difference (a 5,000-line dump helps nobody).
std::string Difference(const std::vector<std::string>& got, const std::vector<std::string>& want) {
  if (got.size() != want.size()) {
    return "got " + std::to_string(got.size()) + " peers, want " + std::to_string(want.size());
  }
  for (size_t i = 0; i < got.size(); ++i) {
    if (got[i] != want[i]) return "got  " + got[i] + "\nwant " + want[i];
  }
  return "";
}

// The device under test, in a fresh namespace.
struct Dut {
  explicit Dut(BackendChoice choice, const std::string& name = "wireguard.dut")
      : iface(MustEnsure({name, 1420, choice})) {
    REQUIRE(iface->backend().Kind() == (choice == BackendChoice::kKernel ? "kernel" : "userspace"));
  }
  WgBackend& b() { return iface->backend(); }
  const std::string& name() const { return iface->name(); }
  Device Read() {
    auto d = b().GetDevice(name());
    INFO(ErrorOf(d));
    REQUIRE(d);
    return std::move(*d);
  }
  void Apply(const DeviceChange& c) {
    Status s = b().Apply(name(), c);
    INFO(ErrorOf(s));
    REQUIRE(s);
  }
  void Setup(const Key& key, uint16_t port, const std::vector<Peer>& peers) {
    DeviceChange c = DiffPeers(peers, {}, nullptr);
    c.private_key = key;
    c.listen_port = port;
    Apply(c);
  }

  Sandbox box;
  std::unique_ptr<Interface> iface;
};

void KeyAndPort(BackendChoice choice) {
  Dut d(choice);
  Device before = d.Read();
  CHECK(before.name == "wireguard.dut");
  CHECK(before.ifindex == d.iface->ifindex());
  CHECK_FALSE(before.private_key);
  CHECK(before.peers.empty());

  Key key = RandomKey();
  DeviceChange c;
  c.private_key = key;
  c.listen_port = 51820;
  d.Apply(c);
  Device after = d.Read();
  REQUIRE(after.private_key);
  CHECK(*after.private_key == key);
  CHECK(after.public_key == *PublicKeyOf(key));
  CHECK(after.listen_port == 51820);

  DeviceChange port;
  port.listen_port = 51821;
  d.Apply(port);
  CHECK(d.Read().listen_port == 51821);
  // The port is really bound (the link is up).
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_port = htons(51821);
  CHECK(bind(s, reinterpret_cast<sockaddr*>(&sin), sizeof sin) < 0);
  CHECK(errno == EADDRINUSE);
  close(s);
}
CONFORMANCE_CASE("set private key and listen port", KeyAndPort)

void AddAndReadBack(BackendChoice choice, size_t n) {
  Dut d(choice);
  std::vector<Peer> desired = MakePeers(n);
  DeviceChange c = DiffPeers(desired, d.Read().peers, nullptr);
  REQUIRE(c.peers.size() == n);
  c.private_key = RandomKey();
  c.listen_port = 51820;
  auto t0 = std::chrono::steady_clock::now();
  d.Apply(c);
  double apply_ms = MsSince(t0);
  t0 = std::chrono::steady_clock::now();
  Device got = d.Read();
  double read_ms = MsSince(t0);
  CHECK(Difference(Canonical(got.peers), Canonical(desired)) == "");
  CHECK(DiffPeers(desired, got.peers, &desired).empty());
  char line[160];
  (void)snprintf(line, sizeof line, "%s backend: applied %zu peers in %.0f ms, read them back in %.0f ms",
                 Name(choice).c_str(), n, apply_ms, read_ms);
  Measure(line);
}
void Add1(BackendChoice c) { AddAndReadBack(c, 1); }
void Add100(BackendChoice c) { AddAndReadBack(c, 100); }
void Add5000(BackendChoice c) { AddAndReadBack(c, 5000); }
CONFORMANCE_CASE("add 1 peer and read it back exactly", Add1)
CONFORMANCE_CASE("add 100 peers and read them back exactly", Add100)
CONFORMANCE_CASE("add 5,000 peers and read them back exactly", Add5000)

void ManyAllowedIps(BackendChoice choice) {
  Dut d(choice);
  Peer big;
  big.public_key = RandomKey();
  big.endpoint = *Endpoint::Parse("10.0.0.1:51820");
  for (uint32_t i = 0; i < 3000; ++i) {
    Cidr c = *Cidr::Parse(i % 2 ? "fd00:1::/128" : "10.50.0.0/32");
    c.addr.bytes[c.addr.is_v4() ? 2 : 14] = static_cast<uint8_t>(i >> 8);
    c.addr.bytes[c.addr.is_v4() ? 3 : 15] = static_cast<uint8_t>(i);
    big.allowed_ips.push_back(c);
  }
  std::vector<Peer> desired = MakePeers(3);
  desired.push_back(big);
  d.Setup(RandomKey(), 51820, desired);
  CHECK(Difference(Canonical(d.Read().peers), Canonical(desired)) == "");
  // Shrinking it is one replace; the other peers are untouched.
  std::vector<Peer> smaller = desired;
  smaller.back().allowed_ips.resize(10);
  DeviceChange c = DiffPeers(smaller, d.Read().peers, &desired);
  REQUIRE(c.peers.size() == 1);
  CHECK(c.peers[0].replace_allowed_ips);
  d.Apply(c);
  CHECK(Difference(Canonical(d.Read().peers), Canonical(smaller)) == "");
}
CONFORMANCE_CASE("a peer with 3,000 allowed IPs (split across messages, merged in the dump)", ManyAllowedIps)

void UpdateOne(BackendChoice choice) {
  Dut d(choice);
  auto helper = MustEnsure({"wireguard.hlp", 1420, choice});
  Key dut_key = RandomKey(), helper_key = RandomKey();
  Peer dut_peer, helper_peer;
  dut_peer.public_key = *PublicKeyOf(dut_key);
  dut_peer.endpoint = *Endpoint::Parse("127.0.0.1:51820");
  dut_peer.allowed_ips = {*Cidr::Parse("10.9.0.1/32")};
  helper_peer.public_key = *PublicKeyOf(helper_key);
  helper_peer.endpoint = *Endpoint::Parse("127.0.0.1:51821");
  helper_peer.allowed_ips = {*Cidr::Parse("10.9.0.2/32")};
  helper_peer.persistent_keepalive = 25;  // turning it on sends a keepalive now: a handshake follows

  DeviceChange hc = DiffPeers({dut_peer}, {}, nullptr);
  hc.private_key = helper_key;
  hc.listen_port = 51821;
  REQUIRE(helper->backend().Apply(helper->name(), hc));
  std::vector<Peer> desired = MakePeers(50);
  desired.push_back(helper_peer);
  d.Setup(dut_key, 51820, desired);

  Device s0;
  bool handshake = WaitUntil(
      [&] {
        s0 = d.Read();
        const Peer* p = FindPeer(s0, helper_peer.public_key);
        return p && p->last_handshake_sec != 0 && p->rx_bytes > 0 && p->tx_bytes > 0;
      },
      20s);
  REQUIRE_MESSAGE(handshake, "no handshake between the two devices");
  const Peer before = *FindPeer(s0, helper_peer.public_key);

  auto same_session = [&](const Device& now) {
    const Peer* p = FindPeer(now, helper_peer.public_key);
    REQUIRE(p);
    CHECK(p->last_handshake_sec == before.last_handshake_sec);
    CHECK(p->last_handshake_nsec == before.last_handshake_nsec);
    CHECK(p->rx_bytes >= before.rx_bytes);
    CHECK(p->tx_bytes >= before.tx_bytes);
  };

  // Another peer's allowed IPs and endpoint: exactly one peer in the change.
  std::vector<Peer> desired2 = desired;
  desired2[3].allowed_ips = {*Cidr::Parse("10.200.0.0/24"), *Cidr::Parse("fd00:200::/64")};
  desired2[3].endpoint = *Endpoint::Parse("192.168.200.1:4000");
  DeviceChange c = DiffPeers(desired2, s0.peers, &desired);
  REQUIRE(c.peers.size() == 1);
  CHECK(c.peers[0].public_key == desired[3].public_key);
  CHECK(c.peers[0].update_only);
  CHECK(c.peers[0].replace_allowed_ips);
  CHECK(c.peers[0].endpoint == desired2[3].endpoint);
  d.Apply(c);
  Device s1 = d.Read();
  CHECK(Difference(Canonical(s1.peers), Canonical(desired2)) == "");
  same_session(s1);

  // The helper peer itself: its session survives an allowed-IP change.
  std::vector<Peer> desired3 = desired2;
  desired3.back().allowed_ips.push_back(*Cidr::Parse("10.9.1.0/24"));
  c = DiffPeers(desired3, s1.peers, &desired2);
  REQUIRE(c.peers.size() == 1);
  CHECK(c.peers[0].public_key == helper_peer.public_key);
  d.Apply(c);
  Device s2 = d.Read();
  CHECK(Difference(Canonical(s2.peers), Canonical(desired3)) == "");
  same_session(s2);
}
CONFORMANCE_CASE("update one peer's allowed IPs and endpoint; other peers and sessions untouched", UpdateOne)

void Remove(BackendChoice choice) {
  Dut d(choice);
  std::vector<Peer> desired = MakePeers(100);
  d.Setup(RandomKey(), 51820, desired);
  std::vector<Peer> fewer(desired.begin(), desired.begin() + 60);
  DeviceChange c = DiffPeers(fewer, d.Read().peers, &desired);
  REQUIRE(c.peers.size() == 40);
  for (const PeerChange& pc : c.peers) CHECK(pc.remove);
  d.Apply(c);
  CHECK(Difference(Canonical(d.Read().peers), Canonical(fewer)) == "");

  DeviceChange absent;  // removing a peer that is not there succeeds
  absent.peers.push_back(PeerChange{});
  absent.peers[0].public_key = RandomKey();
  absent.peers[0].remove = true;
  d.Apply(absent);
  d.Apply(DiffPeers({}, d.Read().peers, &fewer));
  CHECK(d.Read().peers.empty());
}
CONFORMANCE_CASE("remove peers", Remove)

void Ipv6(BackendChoice choice) {
  Dut d(choice);
  Peer p;
  p.public_key = RandomKey();
  p.endpoint = *Endpoint::Parse("[fd00::1]:51820");
  p.allowed_ips = {*Cidr::Parse("fd00:1::/64"), *Cidr::Parse("2001:db8::1/128"), *Cidr::Parse("10.1.0.0/24"),
                   *Cidr::Parse("fd00:2::5/64")};
  d.Setup(RandomKey(), 51820, {p});
  Device got = d.Read();
  REQUIRE(got.peers.size() == 1);
  CHECK(got.peers[0].endpoint->ToString() == "[fd00::1]:51820");
  CHECK(NormalizeCidrs(got.peers[0].allowed_ips) == NormalizeCidrs(p.allowed_ips));
  // The device stores prefixes without host bits.
  bool masked = false;
  for (const Cidr& c : got.peers[0].allowed_ips) masked |= c.ToString() == "fd00:2::/64";
  CHECK(masked);

  const std::vector<Peer> before = {p};
  std::vector<Peer> moved = before;
  moved[0].endpoint = *Endpoint::Parse("[2001:db8::9]:1");
  DeviceChange c = DiffPeers(moved, got.peers, &before);
  REQUIRE(c.peers.size() == 1);
  CHECK_FALSE(c.peers[0].replace_allowed_ips);
  d.Apply(c);
  CHECK(d.Read().peers[0].endpoint->ToString() == "[2001:db8::9]:1");
}
CONFORMANCE_CASE("IPv6 endpoint and allowed IPs", Ipv6)

void Errors(BackendChoice choice) {
  Dut d(choice);
  const bool kernel = choice == BackendChoice::kKernel;
  auto get = d.b().GetDevice("wireguard.none");
  REQUIRE_FALSE(get);
  DeviceChange port;
  port.listen_port = 51999;
  Status set = d.b().Apply("wireguard.none", port);
  REQUIRE_FALSE(set);
  if (kernel) {
    CHECK(get.error().message == "wireguard.none: get device: No such device (errno 19)");
    CHECK(get.error().code == ENODEV);
    CHECK(set.error().message == "wireguard.none: set device: No such device (errno 19)");
  } else {
    CHECK(get.error().message ==
          "wireguard.none: get device: cannot connect to /var/run/wireguard/wireguard.none.sock: No such "
          "file or "
          "directory (errno 2)");
    CHECK(get.error().code == ENOENT);
    CHECK(set.error().message ==
          "wireguard.none: set device: cannot connect to /var/run/wireguard/wireguard.none.sock: No such "
          "file or "
          "directory (errno 2)");
  }

  // wireguard-go binds its port only once it has seen the link up (a netlink event it reads on its own time);
  // before that a port change is only recorded and cannot fail. Wait for its UDP sockets.
  if (!kernel) {
    auto udp_sockets = [] {
      int n = 0;
      for (const char* f : {"/proc/thread-self/net/udp", "/proc/thread-self/net/udp6"}) {
        auto text = ReadFile(f);
        if (text.ok()) n += static_cast<int>(std::count(text->begin(), text->end(), '\n')) - 1;
      }
      return n;
    };
    for (int i = 0; i < 600 && udp_sockets() <= 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    REQUIRE(udp_sockets() > 0);
  }
  // A listen port in use: the real errno (libnl alone would report EEXIST's code for it).
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_port = htons(51999);
  REQUIRE(bind(s, reinterpret_cast<sockaddr*>(&sin), sizeof sin) == 0);
  Status busy = d.b().Apply(d.name(), port);
  close(s);
  REQUIRE_FALSE(busy);
  CHECK(busy.error().message == "wireguard.dut: set device: Address already in use (errno 98)");
  CHECK(busy.error().code == EADDRINUSE);
  d.Apply(port);  // free now
  CHECK(d.Read().listen_port == 51999);
}
CONFORMANCE_CASE("errors name the interface and carry the errno", Errors)

void ConcurrentRead(BackendChoice choice) {
  Dut d(choice);
  std::vector<Peer> peers = MakePeers(3000);
  d.Setup(RandomKey(), 51820, peers);
  LogCapture logs;
  const std::string marker = "device dump interrupted by a change";
  std::atomic<bool> stop{false};
  std::atomic<int> writes{0}, write_errors{0};
  // Its own backend object: backends are not shared between threads. It writes until a dump has been seen
  // interrupted (kernel), so that the retry can then succeed even in a slow VM.
  std::thread writer([&, name = d.name(), key = peers[0].public_key] {
    auto backend = choice == BackendChoice::kKernel ? MakeKernelBackend() : MakeUserspaceBackend();
    for (uint16_t i = 0; !stop && logs.Count(marker) == 0; ++i) {
      DeviceChange c;
      c.peers.push_back(PeerChange{});
      c.peers[0].public_key = key;
      c.peers[0].update_only = true;
      c.peers[0].persistent_keepalive = static_cast<uint16_t>(10 + i % 2);
      if (!backend->Apply(name, c)) ++write_errors;
      ++writes;
      std::this_thread::sleep_for(std::chrono::microseconds(500));
    }
  });
  int reads = 0;
  for (; reads < 40 && (reads < 5 || (choice == BackendChoice::kKernel && logs.Count(marker) == 0));
       ++reads) {
    auto got = d.b().GetDevice(d.name());
    if (!got) {
      FAIL_CHECK(got.error().message);
      break;
    }
    std::vector<Peer> norm = got->peers;
    for (Peer& p : norm) p.persistent_keepalive = 0;
    std::vector<Peer> want = peers;
    for (Peer& p : want) p.persistent_keepalive = 0;
    CHECK(Difference(Canonical(norm), Canonical(want)) == "");
  }
  stop = true;
  writer.join();
  CHECK(write_errors == 0);
  CHECK(writes > 0);
  if (choice == BackendChoice::kKernel) CHECK(logs.Count(marker) >= 1);
  Measure(Name(choice) + " backend: " + std::to_string(reads) + " reads of 3,000 peers during " +
          std::to_string(writes.load()) + " writes, " + std::to_string(logs.Count(marker)) +
          " dumps retried");
}
CONFORMANCE_CASE("a read during concurrent changes is consistent (interrupted dumps are retried)",
                 ConcurrentRead)

}  // namespace
}  // namespace swg::wg::test
