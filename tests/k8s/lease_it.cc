// Leader election against a real kube-apiserver (cluster "a"): three electors on one Lease, each through its
// own TCP proxy so that one can be cut off. Exactly one leads; a concurrent write makes the leader's renew
// conflict (409) without losing it; a crashed leader is replaced after the lease duration, a released one at
// once, a cut-off one steps down before anyone takes over. Throughout, a monitor checks every 100 ms that at
// most one elector leads and that the one leading is the holder the apiserver has in the Lease.
#include <doctest/doctest.h>

#include "common/loop.h"
#include "k8s/client.h"
#include "k8s/lease.h"
#include "tests/k8s/cluster.h"
#include "tests/k8s/tcp_proxy.h"
#include "tests/unit/testutil.h"

using namespace std::chrono_literals;
using swg::Loop;
using swg::k8s::ClusterSource;
using swg::k8s::LeaderElector;
using swg::k8s::LeaseSpec;
using namespace swg::test;
using Clock = std::chrono::steady_clock;

namespace {

constexpr const char* kNamespace = "default";
constexpr const char* kName = "swg-lease-it";
// Short periods keep the test short: lease 3 s, renew deadline 2 s, retry 0.5 s.
const swg::k8s::LeaderElectionConfig kConfig{kNamespace, kName, "", 3s, 2000ms, 500ms};

long Ms(Clock::duration d) {
  return static_cast<long>(std::chrono::duration_cast<std::chrono::milliseconds>(d).count());
}

struct Member {
  std::string id;
  std::unique_ptr<TcpProxy> proxy;
  std::unique_ptr<swg::k8s::Client> client;
  std::unique_ptr<LeaderElector> elector;
  int started = 0, stopped = 0, conflicts = 0;
  bool leading() const { return elector && elector->leading(); }
};

class Group {
 public:
  Group(Loop& loop, const ClusterEnv& env, const std::string& dir)
      : loop_(loop), admin_(env), monitor_(loop) {
    for (const char* id : {"e1", "e2", "e3"}) {
      auto m = std::make_unique<Member>();
      m->id = id;
      m->proxy = std::make_unique<TcpProxy>(env.api_port);
      const std::string server = "https://127.0.0.1:" + std::to_string(m->proxy->port());
      m->client = MakeClient(
          loop, id,
          ClusterSource::Kubeconfig(WriteKubeconfig(
              dir + "/" + id, "server: '" + server + "', certificate-authority: '" + env.ca_file + "'",
              "token: " + env.admin_token)));
      Member* raw = m.get();
      m->client->SetRequestObserver([raw](std::string_view method, std::string_view, int code) {
        if (method == "PUT" && code == 409) ++raw->conflicts;
      });
      swg::k8s::LeaderElectionConfig config = kConfig;
      config.identity = id;
      auto elector = LeaderElector::Create(
          *m->client, config, {[this, raw] { Started(*raw); }, [raw] { ++raw->stopped; }, nullptr});
      REQUIRE(elector.ok());
      m->elector = std::move(elector).value();
      members_.push_back(std::move(m));
    }
    monitor_.StartRepeating(100ms, [this] { Check(); });
  }

  Member& Get(const std::string& id) {
    Member* found = nullptr;
    for (auto& m : members_)
      if (m->id == id) found = m.get();
    REQUIRE_MESSAGE(found != nullptr, "no member ", id);
    return *found;
  }
  // The one leading ("" when none).
  std::string Leader() const {
    std::string out;
    for (const auto& m : members_)
      if (m->leading()) out = m->id;
    return out;
  }
  // Waits until a member other than `not_id` leads; its id, or "" after a minute.
  std::string WaitLeader(const std::string& not_id = "") {
    loop_.RunUntil(
        [&] {
          std::string l = Leader();
          return !l.empty() && l != not_id;
        },
        60s);
    std::string l = Leader();
    return l == not_id ? "" : l;
  }
  void Run(std::chrono::milliseconds d) {
    loop_.RunUntil([] { return false; }, d);
  }
  LeaseSpec Lease() const {
    Admin::Response r = admin_.Request("GET", swg::k8s::LeasePath(kNamespace, kName));
    REQUIRE(r.code == 200);
    auto lease = swg::k8s::ParseLease(r.body);
    REQUIRE(lease.ok());
    return lease->spec;
  }
  const Admin& admin() const { return admin_; }
  void Crash(const std::string& id) {
    for (auto& m : members_)
      if (m->id == id) m.reset();  // elector, client and proxy: no release, connections gone
    std::erase(members_, nullptr);
  }
  int started_total() const { return started_total_; }
  const std::vector<std::string>& violations() const { return violations_; }
  size_t checks() const { return checks_; }

 private:
  void Started(Member& m) {
    ++m.started;
    ++started_total_;
    for (const auto& other : members_) {
      if (other.get() != &m && other->leading())
        violations_.push_back(m.id + " started leading while " + other->id + " leads");
    }
  }
  // Blocking on purpose: what the apiserver says and what the electors think, at one instant of the loop.
  void Check() {
    ++checks_;
    std::vector<std::string> leading;
    for (const auto& m : members_)
      if (m->leading()) leading.push_back(m->id);
    if (leading.size() > 1) violations_.push_back(leading[0] + " and " + leading[1] + " lead at once");
    if (leading.empty()) return;
    Admin::Response r = admin_.Request("GET", swg::k8s::LeasePath(kNamespace, kName));
    auto lease = swg::k8s::ParseLease(r.body);
    if (r.code != 200 || !lease.ok()) return violations_.push_back("cannot read the Lease: " + r.body);
    if (lease->spec.holder_identity != leading[0])
      violations_.push_back(leading[0] + " leads while the Lease names '" + lease->spec.holder_identity +
                            "'");
  }

  Loop& loop_;
  Admin admin_;
  std::vector<std::unique_ptr<Member>> members_;
  swg::Timer monitor_;
  int started_total_ = 0;
  size_t checks_ = 0;
  std::vector<std::string> violations_;
};

}  // namespace

TEST_SUITE("lease") {
  TEST_CASE(
      "three electors on one Lease: one leader; a crash, a release and a cut-off hand over, never two") {
    ClusterEnv env = LoadCluster("a");
    const std::string path = swg::k8s::LeasePath(kNamespace, kName);
    Admin(env).Request("DELETE", path);  // an earlier run's
    TempDir dir;
    Loop loop;
    Group g(loop, env, dir.path());
    for (const char* id : {"e1", "e2", "e3"}) g.Get(id).elector->Start();

    // One leader, named in the Lease and seen by the others; no churn while it renews.
    const std::string first = g.WaitLeader();
    REQUIRE(!first.empty());
    g.Run(2s);
    CHECK(g.Leader() == first);
    CHECK(g.started_total() == 1);
    LeaseSpec lease = g.Lease();
    CHECK(lease.holder_identity == first);
    CHECK(lease.lease_duration_seconds == 3);
    CHECK(lease.lease_transitions == 0);
    for (const char* id : {"e1", "e2", "e3"}) CHECK(g.Get(id).elector->status().holder == first);

    // A write behind the leader's back (a label): its next renew conflicts, it reads again and keeps leading.
    Admin::Response patched = g.admin().Request("PATCH", path, R"({"metadata":{"labels":{"touched":"yes"}}})",
                                                "application/merge-patch+json");
    REQUIRE(patched.code == 200);
    REQUIRE(loop.RunUntil([&] { return g.Get(first).conflicts > 0; }, 10s));
    g.Run(1s);
    CHECK(g.Leader() == first);
    CHECK(g.Get(first).stopped == 0);
    CHECK(g.started_total() == 1);

    // The leader crashes (no release): a standby takes over once the lease duration has passed unrenewed.
    Clock::time_point t0 = Clock::now();
    g.Crash(first);
    const std::string second = g.WaitLeader();
    REQUIRE(!second.empty());
    const long crash_ms = Ms(Clock::now() - t0);
    MESSAGE("crash of ", first, ": ", second, " took over after ", crash_ms, " ms (lease duration 3000 ms)");
    CHECK(crash_ms >= 2000);  // never before the lease could have run out
    CHECK(crash_ms <= 3000 + 3000);
    lease = g.Lease();
    CHECK(lease.holder_identity == second);
    CHECK(lease.lease_transitions == 1);

    // The leader releases: the other standby takes over at its next try, long before the lease duration.
    std::string third;
    for (const char* id : {"e1", "e2", "e3"})
      if (id != first && id != second) third = id;
    bool released = false;
    t0 = Clock::now();
    g.Get(second).elector->Stop(true, [&released] { released = true; });
    CHECK(g.Get(second).stopped == 1);
    CHECK(g.WaitLeader() == third);
    const long release_ms = Ms(Clock::now() - t0);
    MESSAGE("release by ", second, ": ", third, " took over after ", release_ms, " ms (retry period 500 ms)");
    CHECK(released);
    CHECK(release_ms <= 2000);
    lease = g.Lease();
    CHECK(lease.holder_identity == third);
    CHECK(lease.lease_transitions == 2);
    g.Get(second).elector->Start();  // back as a standby
    g.Run(1s);
    CHECK(g.Leader() == third);

    // The leader is cut off from the apiserver: it steps down within the renew deadline, and only then
    // does the standby take over (the monitor checks); back online, it stays a standby.
    t0 = Clock::now();
    g.Get(third).proxy->Pause();
    REQUIRE(loop.RunUntil([&] { return g.Get(third).stopped > 0; }, 30s));
    const long step_down_ms = Ms(Clock::now() - t0);
    CHECK(g.Get(third).elector->status().last_error.find("no renew succeeded within renew_deadline") == 0);
    CHECK(g.WaitLeader() == second);
    const long partition_ms = Ms(Clock::now() - t0);
    MESSAGE("cut-off ", third, " stepped down after ", step_down_ms, " ms (renew deadline 2000 ms); ", second,
            " took over after ", partition_ms, " ms");
    CHECK(step_down_ms <= 2000 + 1000);
    CHECK(partition_ms <= 3000 + 3000);
    g.Get(third).proxy->Resume();
    REQUIRE(loop.RunUntil([&] { return g.Get(third).elector->status().holder == second; }, 10s));
    g.Run(2s);
    CHECK(g.Leader() == second);
    CHECK_FALSE(g.Get(third).leading());
    lease = g.Lease();
    CHECK(lease.holder_identity == second);
    CHECK(lease.lease_transitions == 3);

    MESSAGE(g.checks(), " checks of the Lease against the electors");
    CHECK(g.checks() > 50);
    for (const std::string& v : g.violations()) MESSAGE("violation: ", v);
    CHECK(g.violations().empty());
    for (const std::string& id : {second, third}) g.Get(id).elector->Stop(true);
    g.Run(500ms);
    Admin(env).Request("DELETE", path);
  }
}  // TEST_SUITE
