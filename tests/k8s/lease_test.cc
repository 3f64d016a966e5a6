// Client::RequestJson and the LeaderElector over loopback sockets, against a small in-memory Lease API with
// the apiserver's optimistic concurrency (409 on a stale resourceVersion) that can also go silent or have
// its Lease taken behind the elector's back. The real apiserver is in lease_it.cc.
#include "k8s/lease.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <mutex>

#include "common/json.h"
#include "common/loop.h"
#include "k8s/client.h"
#include "tests/k8s/fake_server.h"
#include "tests/unit/testutil.h"

using namespace std::chrono_literals;
using swg::JsonPtr;
using swg::Loop;
using swg::Result;
using swg::k8s::LeaderElector;
using swg::k8s::LeaseSpec;
using swg::test::FakeConnection;
using swg::test::HttpRequestSeen;
using Clock = std::chrono::steady_clock;

namespace {

const char* const kPath = "/apis/coordination.k8s.io/v1/namespaces/ns/leases/l";

std::string StatusJson(int code, const std::string& reason, const std::string& message) {
  return R"({"kind":"Status","apiVersion":"v1","status":"Failure","message":")" + message +
         R"(","reason":")" + reason + R"(","code":)" + std::to_string(code) + "}";
}

const std::string kConflict =
    StatusJson(409, "Conflict",
               "Operation cannot be fulfilled on leases.coordination.k8s.io \\\"l\\\": "
               "the object has been modified; please apply your changes to the latest "
               "version and try again");

// One Lease, ns/l, kept as the apiserver keeps it: each write gets a new resourceVersion, and an update with
// another one than the current gets 409 Conflict.
class FakeLeases {
 public:
  void Handle(const HttpRequestSeen& r, FakeConnection& c) {
    if (silent_) return c.Sleep(10s);
    std::lock_guard<std::mutex> lock(mu_);
    log_.push_back(r.method);
    if (r.method == "GET" && r.target == kPath) {
      if (!object_)
        return c.Respond(404, StatusJson(404, "NotFound", "leases.coordination.k8s.io \\\"l\\\" not found"));
      return c.Respond(200, swg::JsonDump(object_.get()));
    }
    if (r.method == "POST" && r.target == "/apis/coordination.k8s.io/v1/namespaces/ns/leases") {
      if (object_) return c.Respond(409, StatusJson(409, "AlreadyExists", "already exists"));
      return Store(r.body, 201, c);
    }
    if (r.method == "PUT" && r.target == kPath && object_) {
      JsonPtr sent(json_loads(r.body.c_str(), 0, nullptr));
      const json_t* rv = json_object_get(json_object_get(sent.get(), "metadata"), "resourceVersion");
      if (conflicts_ > 0 || !json_is_string(rv) || json_string_value(rv) != std::to_string(rv_)) {
        if (conflicts_ > 0) --conflicts_;
        log_.back() = "PUT 409";
        return c.Respond(409, kConflict);
      }
      return Store(r.body, 200, c);
    }
    c.Respond(400, StatusJson(400, "BadRequest", "unexpected " + r.method + " " + r.target));
  }

  // Writes the Lease behind the elector's back.
  void Set(const LeaseSpec& s) {
    std::lock_guard<std::mutex> lock(mu_);
    JsonPtr obj(json_loads(swg::k8s::NewLeaseJson("ns", "l", s).c_str(), 0, nullptr));
    SetVersion(obj.get());
    object_ = std::move(obj);
  }
  LeaseSpec Get() const {
    std::lock_guard<std::mutex> lock(mu_);
    REQUIRE(object_);
    Result<swg::k8s::LeaseObject> lease = swg::k8s::ParseLease(swg::JsonDump(object_.get()));
    REQUIRE(lease.ok());
    return lease->spec;
  }
  void Conflicts(int n) {
    std::lock_guard<std::mutex> lock(mu_);
    conflicts_ = n;
  }
  void Silent(bool s) { silent_ = s; }
  std::vector<std::string> log() const {
    std::lock_guard<std::mutex> lock(mu_);
    return log_;
  }
  size_t Count(const std::string& what) const {
    auto l = log();
    return static_cast<size_t>(std::count(l.begin(), l.end(), what));
  }

 private:
  void SetVersion(json_t* obj) {
    json_t* metadata = json_object_get(obj, "metadata");
    json_object_set_new(metadata, "resourceVersion", json_string(std::to_string(++rv_).c_str()));
  }
  void Store(const std::string& body, int status, FakeConnection& c) {
    JsonPtr obj(json_loads(body.c_str(), 0, nullptr));
    SetVersion(obj.get());
    object_ = std::move(obj);
    c.Respond(status, swg::JsonDump(object_.get()));
  }

  mutable std::mutex mu_;
  JsonPtr object_;
  int rv_ = 100;
  int conflicts_ = 0;
  std::atomic<bool> silent_{false};
  std::vector<std::string> log_;
};

// An elector "me" on ns/l with short periods, and what its callbacks saw.
struct Fixture {
  explicit Fixture(swg::k8s::LeaderElectionConfig config = Config()) {
    client = swg::test::FakeClient(loop, swg::test::FakeKubeconfig(dir.path(), server.url()));
    auto made = LeaderElector::Create(
        *client, std::move(config),
        {[this] { events.push_back("started"); }, [this] { events.push_back("stopped"); },
         [this](const std::string& who) { events.push_back("leader " + who); }});
    REQUIRE(made.ok());
    elector = std::move(made).value();
  }
  static swg::k8s::LeaderElectionConfig Config() { return {"ns", "l", "me", 2s, 1000ms, 200ms}; }
  bool Wait(const std::function<bool()>& done, std::chrono::milliseconds timeout = 10s) {
    return loop.RunUntil(done, timeout);
  }
  void Lead() {
    elector->Start();
    REQUIRE(Wait([&] { return elector->leading(); }));
  }

  FakeLeases leases;
  swg::test::FakeServer server{[this](const HttpRequestSeen& r, FakeConnection& c) { leases.Handle(r, c); }};
  swg::test::TempDir dir;
  Loop loop;
  std::unique_ptr<swg::k8s::Client> client;
  std::unique_ptr<LeaderElector> elector;
  std::vector<std::string> events;
};

}  // namespace

TEST_CASE("RequestJson: any method and body; the 2xx body, or the HTTP status with the server's message") {
  Fixture f;
  auto request = [&f](const char* method, const char* path, std::string body) {
    std::optional<Result<std::string>> out;
    auto call = f.client->RequestJson(method, path, std::move(body), "application/json",
                                      [&out](Result<std::string> r) { out = std::move(r); });
    REQUIRE(f.Wait([&] { return out.has_value(); }));
    return std::move(*out);
  };
  Result<std::string> r = request("GET", kPath, "");
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == 404);
  CHECK(r.error().message ==
        std::string("t: GET ") + kPath + ": HTTP 404 NotFound: leases.coordination.k8s.io \"l\" not found");

  const std::string lease = swg::k8s::NewLeaseJson("ns", "l", LeaseSpec{"x", 1, "A", "R", 0});
  r = request("POST", "/apis/coordination.k8s.io/v1/namespaces/ns/leases", lease);
  REQUIRE(r.ok());
  CHECK(r->find(R"("resourceVersion":"101")") != std::string::npos);
  auto seen = f.server.requests();
  CHECK(seen.back().method == "POST");
  CHECK(seen.back().headers.at("content-type") == "application/json");
  CHECK(seen.back().body == lease);

  r = request("PUT", kPath, lease);  // no resourceVersion: a conflict
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == 409);
  CHECK(r.error().message ==
        std::string("t: PUT ") + kPath +
            ": HTTP 409 Conflict: Operation cannot be fulfilled on leases.coordination.k8s.io \"l\": the "
            "object "
            "has been modified; please apply your changes to the latest version and try again");

  // Dropping the call cancels it: done never runs.
  f.leases.Silent(true);
  bool called = false;
  auto call = f.client->RequestJson("GET", kPath, "", "", [&called](Result<std::string>) { called = true; });
  f.loop.RunUntil([] { return false; }, 200ms);
  call.reset();
  f.loop.RunUntil([] { return false; }, 300ms);
  CHECK_FALSE(called);
}

TEST_CASE("a config client-go would refuse is refused") {
  swg::test::TempDir dir;
  Loop loop;
  auto client = swg::test::FakeClient(loop, swg::test::FakeKubeconfig(dir.path(), "http://127.0.0.1:1"));
  auto error = [&](swg::k8s::LeaderElectionConfig c) {
    auto e = LeaderElector::Create(*client, std::move(c), {});
    REQUIRE_FALSE(e.ok());
    return e.error().message;
  };
  CHECK(error({"ns", "l", "me", 10s, 10000ms, 2000ms}) ==
        "leader election on ns/l: lease_duration must be more than renew_deadline");
  CHECK(error({"ns", "l", "me", 15s, 2400ms, 2000ms}) ==
        "leader election on ns/l: renew_deadline must be more than 1.2 times retry_period");
  CHECK(error({"ns", "l", "", 15s, 10000ms, 2000ms}) == "leader election on ns/l: the identity is empty");
  CHECK(error({"ns", "", "me", 15s, 10000ms, 2000ms}) ==
        "leader election on ns/: the Lease needs a namespace and a name");
  CHECK(LeaderElector::Create(*client, {"ns", "l", "me"}, {}).ok());  // client-go's defaults: 15 s, 10 s, 2 s
}

TEST_CASE("no Lease: created and led, with no transition") {
  Fixture f;
  f.Lead();
  CHECK(f.events == std::vector<std::string>{"leader me", "started"});
  CHECK(f.leases.log() == std::vector<std::string>{"GET", "POST"});
  LeaseSpec s = f.leases.Get();
  CHECK(s.holder_identity == "me");
  CHECK(s.lease_duration_seconds == 2);
  CHECK(s.lease_transitions == 0);
  CHECK(s.acquire_time == s.renew_time);

  // Renewed every retry_period, with the resourceVersion of our own last write (no GET).
  f.loop.RunUntil([] { return false; }, 1100ms);
  CHECK(f.leases.Count("PUT") >= 3);
  CHECK(f.leases.Count("PUT") <= 7);
  CHECK(f.leases.Count("GET") == 1);
  LeaseSpec later = f.leases.Get();
  CHECK(later.acquire_time == s.acquire_time);
  CHECK(later.renew_time > s.renew_time);
  CHECK(f.elector->status().leading);
  CHECK(f.elector->status().holder == "me");
  CHECK(f.elector->status().last_renew.has_value());
}

TEST_CASE(
    "another holder's Lease is taken after its duration on our clock, whatever its renewTime; a 409 is "
    "retried") {
  Fixture f;
  // Renewed "in the future" by a holder with a fast clock: only our own clock counts.
  f.leases.Set(LeaseSpec{"other", 1, "2099-01-01T00:00:00.000000Z", "2099-01-01T00:00:00.000000Z", 4});
  f.leases.Conflicts(1);  // someone else writes between our GET and our first update
  const Clock::time_point t0 = Clock::now();
  f.Lead();
  const auto took = Clock::now() - t0;
  MESSAGE("took over after ", std::chrono::duration_cast<std::chrono::milliseconds>(took).count(), " ms");
  CHECK(took >= 1s);
  CHECK(took < 2500ms);
  CHECK(f.events == std::vector<std::string>{"leader other", "leader me", "started"});
  CHECK(f.leases.Count("PUT 409") == 1);
  LeaseSpec s = f.leases.Get();
  CHECK(s.holder_identity == "me");
  CHECK(s.lease_transitions == 5);
  CHECK(s.lease_duration_seconds == 2);
  CHECK(s.acquire_time != "2099-01-01T00:00:00.000000Z");
}

TEST_CASE("a Lease taken behind the leader's back: it steps down at its next renew and waits") {
  Fixture f;
  f.Lead();
  f.events.clear();
  f.leases.Set(LeaseSpec{"thief", 5, "A", "R", 9});
  const Clock::time_point t0 = Clock::now();
  REQUIRE(f.Wait([&] { return !f.elector->leading(); }, 3s));
  CHECK(Clock::now() - t0 < 500ms);
  CHECK(f.events == std::vector<std::string>{"leader thief", "stopped"});
  f.loop.RunUntil([] { return false; }, 1500ms);  // the thief's 5 s are not over: no write
  CHECK_FALSE(f.elector->leading());
  CHECK(f.leases.Get().holder_identity == "thief");
  CHECK(f.elector->status().running);
}

TEST_CASE(
    "a silent apiserver: the leader steps down within renew_deadline, and leads again when it is back") {
  Fixture f;
  f.Lead();
  f.events.clear();
  f.leases.Silent(true);
  const Clock::time_point t0 = Clock::now();
  REQUIRE(f.Wait([&] { return !f.elector->leading(); }, 5s));
  const auto took = Clock::now() - t0;
  MESSAGE("stepped down after ", std::chrono::duration_cast<std::chrono::milliseconds>(took).count(), " ms");
  CHECK(took >= 1000ms - 200ms - 100ms);  // renew_deadline from the last renew, at most retry_period before
  CHECK(took <= 1000ms + 200ms);
  CHECK(f.events == std::vector<std::string>{"stopped"});
  CHECK(f.elector->status().last_error == "no renew succeeded within renew_deadline (1000 ms)");

  f.leases.Silent(false);  // the Lease still names us: taken back, no transition
  REQUIRE(f.Wait([&] { return f.elector->leading(); }));
  CHECK(f.events == std::vector<std::string>{"stopped", "started"});
  CHECK(f.leases.Get().lease_transitions == 0);
}

TEST_CASE("Stop(release) gives the Lease up for the next one; Stop() without release keeps it") {
  Fixture f;
  f.Lead();
  f.events.clear();
  bool done = false;
  f.elector->Stop(true, [&done] { done = true; });
  CHECK(f.events == std::vector<std::string>{"stopped"});  // before Stop returns
  CHECK_FALSE(f.elector->leading());
  REQUIRE(f.Wait([&] { return done; }));
  LeaseSpec s = f.leases.Get();
  CHECK(s.holder_identity == "");
  CHECK(s.lease_duration_seconds == 1);
  CHECK(s.lease_transitions == 0);

  f.elector->Start();  // released: taken again with one more transition
  REQUIRE(f.Wait([&] { return f.elector->leading(); }));
  CHECK(f.leases.Get().lease_transitions == 1);
  done = false;
  f.elector->Stop(false, [&done] { done = true; });
  REQUIRE(f.Wait([&] { return done; }));
  CHECK(f.leases.Get().holder_identity == "me");
  CHECK_FALSE(f.elector->status().running);
}

TEST_CASE("destroyed from its callbacks or with a request in flight: nothing runs afterwards") {
  SUBCASE("from on_started_leading") {
    Fixture f;
    std::unique_ptr<LeaderElector> e;
    auto made = LeaderElector::Create(*f.client, Fixture::Config(), {[&] { e.reset(); }, nullptr, nullptr});
    REQUIRE(made.ok());
    e = std::move(made).value();
    e->Start();
    REQUIRE(f.Wait([&] { return e == nullptr; }));
    const size_t writes = f.leases.log().size();
    f.loop.RunUntil([] { return false; }, 600ms);
    CHECK(f.leases.log().size() == writes);  // no renew
  }
  SUBCASE("from on_stopped_leading after a missed renew deadline") {
    Fixture f;
    f.Lead();
    int stopped = 0;
    auto made = LeaderElector::Create(*f.client, {"ns", "l", "me", 2s, 1000ms, 200ms},
                                      {nullptr,
                                       [&] {
                                         ++stopped;
                                         f.elector.reset();
                                       },
                                       nullptr});
    REQUIRE(made.ok());
    f.elector = std::move(made).value();
    f.elector->Start();  // the Lease names "me": renewed at once
    REQUIRE(f.Wait([&] { return f.elector->leading(); }));
    f.leases.Silent(true);
    REQUIRE(f.Wait([&] { return f.elector == nullptr; }, 5s));
    f.loop.RunUntil([] { return false; }, 500ms);
    CHECK(stopped == 1);
  }
  SUBCASE("with a GET in flight") {
    Fixture f;
    f.leases.Silent(true);
    f.elector->Start();
    f.loop.RunUntil([] { return false; }, 200ms);
    REQUIRE(f.server.request_count() == 1);
    f.elector.reset();
    f.loop.RunUntil([] { return false; }, 1500ms);
    CHECK(f.events.empty());
  }
}
