#include "worker/reconciler.h"

#include <doctest/doctest.h>

#include <map>

using namespace std::chrono_literals;
using swg::worker::DesiredPeer;
using swg::worker::PeerSet;
using swg::worker::Reconciler;

namespace {

swg::Key KeyOf(int seed) {
  uint8_t raw[32] = {};
  raw[0] = static_cast<uint8_t>(seed);
  raw[1] = static_cast<uint8_t>(seed >> 8);
  raw[31] = 0x40;
  return swg::Key(raw);
}

// A device in memory: applies changes the way a backend does and counts the writes.
class FakeBackend : public swg::wg::WgBackend {
 public:
  std::string_view Kind() const override { return "fake"; }
  swg::Result<swg::wg::Device> GetDevice(const std::string& ifname) override {
    swg::wg::Device d;
    d.name = ifname;
    for (const auto& [key, p] : peers) d.peers.push_back(p);
    return d;
  }
  swg::Status Apply(const std::string&, const swg::wg::DeviceChange& change) override {
    if (fail_next) {
      fail_next = false;
      return swg::Error{"injected failure", 5};
    }
    applies++;
    last_change = change.peers.size();
    for (const auto& pc : change.peers) {
      if (pc.remove) {
        peers.erase(pc.public_key);
        continue;
      }
      auto& p = peers[pc.public_key];
      p.public_key = pc.public_key;
      if (pc.endpoint) p.endpoint = pc.endpoint;
      if (pc.persistent_keepalive) p.persistent_keepalive = *pc.persistent_keepalive;
      if (pc.replace_allowed_ips) p.allowed_ips.clear();
      p.allowed_ips.insert(p.allowed_ips.end(), pc.allowed_ips.begin(), pc.allowed_ips.end());
    }
    return swg::Ok();
  }
  std::map<swg::Key, swg::wg::Peer> peers;
  int applies = 0;
  size_t last_change = 0;  // peers in the last change applied
  bool fail_next = false;
};

// `n` peers; peer 0's endpoint port is `port`, so that each value of `port` is another desired state.
PeerSet Peers(int n, uint16_t port) {
  PeerSet set;
  for (int i = 0; i < n; ++i) {
    DesiredPeer d;
    d.node = "n" + std::to_string(i);
    d.peer.public_key = KeyOf(i);
    d.peer.endpoint = swg::Endpoint::Parse("192.168.1." + std::to_string(i + 1) + ":" +
                                           std::to_string(i == 0 ? port : 51820));
    d.peer.allowed_ips = {*swg::Cidr::Parse("10.4." + std::to_string(i) + ".0/24")};
    d.peer.persistent_keepalive = 25;
    set.peers.push_back(std::move(d));
  }
  return set;
}

uint16_t Port0(const FakeBackend& b) {
  auto it = b.peers.find(KeyOf(0));
  return it == b.peers.end() || !it->second.endpoint ? 0 : it->second.endpoint->port;
}

struct Fixture {
  explicit Fixture(std::chrono::milliseconds coalesce) {
    Reconciler::Options o;
    o.coalesce = coalesce;
    reconciler = std::make_unique<Reconciler>(
        loop, "wg-test", [this]() -> swg::wg::WgBackend& { return backend; }, o,
        [this](const Reconciler::Outcome& out) {
          if (expect_ok) CHECK(out.ok);
          runs++;
          if (out.edits_only) edit_runs++;
        });
    // The first apply is the full one, after the first complete list.
    reconciler->SetDesired(Peers(10, 1000));
    reconciler->RequestFull();
    REQUIRE(loop.RunUntil([&] { return runs == 1; }, 10s));
    REQUIRE(backend.peers.size() == 10);
    REQUIRE(backend.applies == 1);
  }
  swg::Loop loop;
  FakeBackend backend;
  std::unique_ptr<Reconciler> reconciler;
  int runs = 0;
  int edit_runs = 0;  // applies that diffed the edited peers only
  bool expect_ok = true;
};

}  // namespace

TEST_CASE("reconciler: a lone change after a quiet spell is applied at once, not after the window") {
  Fixture f(2000ms);
  // Past the window of the first apply: the next change finds the reconciler idle.
  f.loop.RunUntil([] { return false; }, 2100ms);
  auto start = std::chrono::steady_clock::now();
  // Changes made in one loop iteration are one apply.
  f.reconciler->SetDesired(Peers(10, 1001));
  f.reconciler->SetDesired(Peers(10, 1002));
  REQUIRE(f.loop.RunUntil([&] { return f.backend.applies == 2; }, 10s));
  // Well inside the 2 s window: it did not wait for it (a debounce would have).
  CHECK(std::chrono::steady_clock::now() - start < 1000ms);
  CHECK(Port0(f.backend) == 1002);
  f.loop.RunUntil([] { return false; }, 100ms);
  CHECK(f.backend.applies == 2);
}

TEST_CASE("reconciler: a burst right after an apply becomes one apply of the newest state") {
  Fixture f(1500ms);
  // 200 changes, one a millisecond or so, starting right after the first apply: all inside its window.
  swg::Timer burst(f.loop);
  uint16_t sent = 0;
  burst.StartRepeating(1ms, [&] {
    f.reconciler->SetDesired(Peers(10, static_cast<uint16_t>(2000 + ++sent)));
    if (sent == 200) burst.Stop();
  });
  REQUIRE(f.loop.RunUntil([&] { return sent == 200; }, 10s));
  auto after_burst = f.backend.applies;
  REQUIRE(f.loop.RunUntil([&] { return Port0(f.backend) == 2200; }, 10s));
  // The burst took less than the window when it was one apply; on a very slow machine it spans two windows.
  CHECK(f.backend.applies - 1 >= 1);
  CHECK(f.backend.applies - 1 <= (after_burst == 1 ? 1 : 2));
  f.loop.RunUntil([] { return false; }, 200ms);
  CHECK(f.backend.peers.size() == 10);
  CHECK(f.runs == f.backend.applies);
}

TEST_CASE("reconciler: under a steady stream, applies are spaced by the window and none is starved") {
  Fixture f(100ms);
  swg::Timer stream(f.loop);
  uint16_t sent = 0;
  stream.StartRepeating(2ms, [&] {
    f.reconciler->SetDesired(Peers(10, static_cast<uint16_t>(3000 + ++sent)));
  });
  auto start = std::chrono::steady_clock::now();
  f.loop.RunUntil([] { return false; }, 1000ms);
  stream.Stop();
  auto elapsed = std::chrono::steady_clock::now() - start;
  int during = f.backend.applies - 1;
  // Hundreds of changes; at most one apply per window (plus the one in flight), and at least a few.
  CHECK(sent > 100);
  CHECK(during >= 2);
  CHECK(during <= elapsed / 100ms + 1);
  REQUIRE(f.loop.RunUntil([&] { return Port0(f.backend) == 3000 + sent; }, 10s));
}

TEST_CASE("reconciler: an edit in place is applied like a new desired state, and a refused edit does nothing") {
  Fixture f(0ms);
  auto set_port = [](uint16_t port) {
    return [port](PeerSet& s, size_t& index) {
      s.peers[0].peer.endpoint->port = port;
      index = 0;
      return true;
    };
  };
  CHECK(f.reconciler->EditDesired(set_port(4001)));
  REQUIRE(f.loop.RunUntil([&] { return f.backend.applies == 2; }, 10s));
  CHECK(Port0(f.backend) == 4001);
  CHECK(f.reconciler->desired().peers[0].peer.endpoint->port == 4001);
  // The node names of the desired peers still answer for their keys.
  CHECK(f.reconciler->NodeOf(KeyOf(0)) == "n0");
  CHECK(f.reconciler->NodeOf(KeyOf(9)) == "n9");

  CHECK_FALSE(f.reconciler->EditDesired([](PeerSet&, size_t&) { return false; }));
  f.loop.RunUntil([] { return false; }, 200ms);
  CHECK(f.backend.applies == 2);
  CHECK(f.runs == 2);
}

namespace {
// EditDesired of peer `i`'s endpoint port.
std::function<bool(PeerSet&, size_t&)> SetPort(size_t i, uint16_t port) {
  return [i, port](PeerSet& s, size_t& index) {
    s.peers[i].peer.endpoint->port = port;
    index = i;
    return true;
  };
}
uint16_t PortOf(const FakeBackend& b, int i) {
  auto it = b.peers.find(KeyOf(i));
  return it == b.peers.end() || !it->second.endpoint ? 0 : it->second.endpoint->port;
}
}  // namespace

TEST_CASE("reconciler: edits in place send the edited peers only, each once") {
  Fixture f(0ms);
  // Two edits of one peer and one of another, in one loop iteration: one change of two peers.
  f.reconciler->EditDesired(SetPort(3, 4100));
  f.reconciler->EditDesired(SetPort(3, 4101));
  f.reconciler->EditDesired(SetPort(7, 4102));
  REQUIRE(f.loop.RunUntil([&] { return f.backend.applies == 2; }, 10s));
  CHECK(f.backend.last_change == 2);
  CHECK(f.edit_runs == 1);
  CHECK(PortOf(f.backend, 3) == 4101);
  CHECK(PortOf(f.backend, 7) == 4102);
  // An edit to the endpoint already desired (the device may have roamed since): nothing is sent.
  int runs = f.runs;
  f.reconciler->EditDesired(SetPort(7, 4102));
  REQUIRE(f.loop.RunUntil([&] { return f.runs == runs + 1; }, 10s));
  CHECK(f.backend.applies == 2);
  CHECK(f.edit_runs == 2);
  // After a new desired state, edits are diffed with every peer again, and the result is the same.
  PeerSet next = Peers(10, 1000);
  next.peers.pop_back();  // n9 goes
  f.reconciler->SetDesired(next);
  f.reconciler->EditDesired(SetPort(2, 4200));
  REQUIRE(f.loop.RunUntil([&] { return f.backend.applies == 3; }, 10s));
  CHECK(f.backend.peers.size() == 9);
  CHECK(PortOf(f.backend, 2) == 4200);
  CHECK(PortOf(f.backend, 3) == 51820);  // back to what `next` says
  CHECK(f.edit_runs == 2);
  // And the edits after that apply are sent alone again.
  f.reconciler->EditDesired(SetPort(4, 4300));
  REQUIRE(f.loop.RunUntil([&] { return f.backend.applies == 4; }, 10s));
  CHECK(f.backend.last_change == 1);
  CHECK(f.edit_runs == 3);
  CHECK(PortOf(f.backend, 4) == 4300);
}

TEST_CASE("reconciler: a failed edit is retried as a full reconcile") {
  Fixture f(0ms);
  f.expect_ok = false;
  f.backend.fail_next = true;
  f.reconciler->EditDesired(SetPort(5, 4400));
  REQUIRE(f.loop.RunUntil([&] { return f.backend.applies == 2; }, 30s));  // after the retry's backoff
  CHECK(PortOf(f.backend, 5) == 4400);
  CHECK(f.backend.peers.size() == 10);
  CHECK(f.reconciler->last_error().empty());
}

TEST_CASE("reconciler: a peer that leaves the desired set is named until an apply removed it") {
  Fixture f(2000ms);  // the change waits for the end of the first apply's window: NodeOf is asked meanwhile
  f.reconciler->SetDesired(Peers(8, 1000));  // n8 and n9 leave
  CHECK(f.reconciler->NodeOf(KeyOf(9)) == "n9");
  f.reconciler->SetDesired(Peers(5, 1000));  // and n5 to n7: all still named, n8 and n9 too
  CHECK(f.reconciler->NodeOf(KeyOf(5)) == "n5");
  CHECK(f.reconciler->NodeOf(KeyOf(8)) == "n8");
  f.reconciler->SetDesired(Peers(7, 1000));  // n5 and n6 come back
  CHECK(f.reconciler->NodeOf(KeyOf(6)) == "n6");
  REQUIRE(f.loop.RunUntil([&] { return f.backend.applies == 2; }, 10s));
  CHECK(f.backend.peers.size() == 7);
  CHECK(f.reconciler->NodeOf(KeyOf(6)) == "n6");
  CHECK(f.reconciler->NodeOf(KeyOf(7)).empty());  // removed from the device: forgotten
  CHECK(f.reconciler->NodeOf(KeyOf(9)).empty());
}
