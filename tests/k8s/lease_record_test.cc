// The Lease as leader election reads and writes it, and client-go's expiry rule on an injected clock: a
// holder keeps the lease for leaseDurationSeconds after we last saw its record change, whatever its
// renewTime says.
#include "k8s/lease_record.h"

#include <doctest/doctest.h>

using namespace std::chrono_literals;
using swg::k8s::LeaseObject;
using swg::k8s::LeaseSpec;
using swg::k8s::LeaseTracker;

namespace {

// As kube-apiserver 1.36 answers a GET (managedFields and all).
const char* const kLease =
    R"({"kind":"Lease","apiVersion":"coordination.k8s.io/v1","metadata":{"name":"mirror-c2",)"
    R"("namespace":"semaphore-wireguard","uid":"1f4c","resourceVersion":"4711","creationTimestamp":)"
    R"("2026-01-02T03:04:05Z","labels":{"app":"mirror"},"managedFields":[{"manager":"m","operation":"Update",)"
    R"("apiVersion":"coordination.k8s.io/v1","time":"2026-01-02T03:04:05Z","fieldsType":"FieldsV1",)"
    R"("fieldsV1":{"f:spec":{"f:holderIdentity":{}}}}]},"spec":{"holderIdentity":"mirror-7d9f-abcde",)"
    R"("leaseDurationSeconds":15,"acquireTime":"2026-01-02T03:04:05.000000Z","renewTime":)"
    R"("2026-01-02T03:09:05.123456Z","leaseTransitions":3,"strategy":"OldestEmulationVersion"}})";

LeaseSpec Spec(std::string holder, int64_t seconds, std::string renew, int64_t transitions = 0) {
  return LeaseSpec{std::move(holder), seconds, "2026-01-02T03:04:05.000000Z", std::move(renew), transitions};
}

}  // namespace

TEST_CASE("MicroTime: RFC 3339 in UTC with 6 fractional digits") {
  using std::chrono::system_clock;
  CHECK(swg::k8s::FormatMicroTime(system_clock::time_point(1000001us)) == "1970-01-01T00:00:01.000001Z");
  CHECK(swg::k8s::FormatMicroTime(system_clock::time_point(1767323045s + 123456us)) ==
        "2026-01-02T03:04:05.123456Z");
  CHECK(swg::k8s::FormatMicroTime(system_clock::time_point(1767323045s + 999999999ns)) ==
        "2026-01-02T03:04:05.999999Z");  // cut, not rounded into the next second
}

TEST_CASE("a Lease as the apiserver sends it") {
  swg::Result<LeaseObject> lease = swg::k8s::ParseLease(kLease);
  REQUIRE(lease.ok());
  CHECK(lease->resource_version == "4711");
  CHECK(lease->spec ==
        LeaseSpec{"mirror-7d9f-abcde", 15, "2026-01-02T03:04:05.000000Z", "2026-01-02T03:09:05.123456Z", 3});
  CHECK(lease->json == kLease);

  // Created without a spec, or with a null holder: nobody holds it.
  lease = swg::k8s::ParseLease(R"({"metadata":{"name":"x","resourceVersion":"1"}})");
  REQUIRE(lease.ok());
  CHECK(lease->spec == LeaseSpec{});
  lease = swg::k8s::ParseLease(R"({"metadata":{"resourceVersion":"2"},"spec":{"holderIdentity":null}})");
  REQUIRE(lease.ok());
  CHECK(lease->spec.holder_identity.empty());
}

TEST_CASE("a Lease with a field of the wrong type is refused, naming it") {
  auto error = [](const char* json) {
    swg::Result<LeaseObject> lease = swg::k8s::ParseLease(json);
    REQUIRE_FALSE(lease.ok());
    return lease.error().message;
  };
  CHECK(error(R"({"spec":{"leaseDurationSeconds":"15"}})") ==
        "spec.leaseDurationSeconds is a JSON string, not an integer");
  CHECK(error(R"({"spec":{"holderIdentity":7}})") == "spec.holderIdentity is a JSON integer, not a string");
  CHECK(error(R"({"spec":{"leaseTransitions":1.5}})") ==
        "spec.leaseTransitions is a JSON number, not an integer");
  CHECK(error(R"({"spec":[]})") == "spec is a JSON array, not an object");
  CHECK(error(R"({"metadata":{"resourceVersion":5}})") ==
        "metadata.resourceVersion is a JSON integer, not a string");
  CHECK(error("[1]") == "the Lease is a JSON array, not an object");
  CHECK(error("{\"spec\":").find("invalid JSON at byte") == 0);
}

TEST_CASE("the bodies written: a new Lease, and an update that keeps everything but our fields") {
  LeaseSpec mine{"me", 3, "2026-01-02T03:04:05.000001Z", "2026-01-02T03:04:06.000002Z", 4};
  CHECK(
      swg::k8s::NewLeaseJson("ns", "l", mine) ==
      R"({"apiVersion":"coordination.k8s.io/v1","kind":"Lease","metadata":{"name":"l","namespace":"ns"},)"
      R"("spec":{"holderIdentity":"me","leaseDurationSeconds":3,"acquireTime":"2026-01-02T03:04:05.000001Z",)"
      R"("renewTime":"2026-01-02T03:04:06.000002Z","leaseTransitions":4}})");

  swg::Result<std::string> updated = swg::k8s::UpdatedLeaseJson(kLease, mine);
  REQUIRE(updated.ok());
  swg::Result<LeaseObject> back = swg::k8s::ParseLease(*updated);
  REQUIRE(back.ok());
  CHECK(back->spec == mine);
  CHECK(back->resource_version == "4711");  // the apiserver's optimistic concurrency check
  CHECK(updated->find(R"("labels":{"app":"mirror"})") != std::string::npos);
  CHECK(updated->find(R"("strategy":"OldestEmulationVersion")") != std::string::npos);

  updated = swg::k8s::UpdatedLeaseJson(R"({"metadata":{"resourceVersion":"9"},"spec":null})", mine);
  REQUIRE(updated.ok());
  back = swg::k8s::ParseLease(*updated);
  REQUIRE(back.ok());
  CHECK(back->spec == mine);

  CHECK(swg::k8s::LeasePath("semaphore-wireguard", "mirror c2") ==
        "/apis/coordination.k8s.io/v1/namespaces/semaphore-wireguard/leases/mirror%20c2");
}

TEST_CASE("expiry counts leaseDurationSeconds on our clock from when the record last changed") {
  const LeaseTracker::Clock::time_point t0 = LeaseTracker::Clock::now();
  LeaseTracker t;
  // The holder's renewTime is far in the past by our wall clock (skew): it does not matter.
  t.Observe(Spec("other", 3, "2001-01-01T00:00:00.000000Z", 5), t0);
  CHECK(t.Held(t0));
  CHECK(t.Held(t0 + 2999ms));
  CHECK_FALSE(t.Held(t0 + 3s));
  CHECK_FALSE(t.Claim("me", 15, "W", t0 + 2999ms).has_value());

  // The same record seen again later does not restart the clock: the holder did not renew.
  t.Observe(Spec("other", 3, "2001-01-01T00:00:00.000000Z", 5), t0 + 2s);
  CHECK(t.changed_at() == t0);
  CHECK_FALSE(t.Held(t0 + 3s));
  // A renew (even to a renewTime in the past) restarts it from when we saw it.
  t.Observe(Spec("other", 3, "2000-01-01T00:00:00.000000Z", 5), t0 + 2500ms);
  CHECK(t.changed_at() == t0 + 2500ms);
  CHECK(t.Held(t0 + 5499ms));
  CHECK_FALSE(t.Held(t0 + 5500ms));

  // Expired: taken over with one more transition, acquired now.
  std::optional<LeaseSpec> claim = t.Claim("me", 15, "W", t0 + 5500ms);
  REQUIRE(claim.has_value());
  CHECK(*claim == LeaseSpec{"me", 15, "W", "W", 6});
}

TEST_CASE("what an elector writes: a new Lease, a renew, a takeover, a release") {
  const LeaseTracker::Clock::time_point t0 = LeaseTracker::Clock::now();
  LeaseTracker t;
  CHECK_FALSE(t.observed());
  CHECK_FALSE(t.Held(t0));
  CHECK(t.Claim("me", 15, "W0", t0) == LeaseSpec{"me", 15, "W0", "W0", 0});  // nothing seen: create

  // Our own lease, still running: renewed, acquireTime and transitions kept.
  t.Observe(LeaseSpec{"me", 15, "A", "R", 2}, t0);
  CHECK(t.Claim("me", 15, "W1", t0 + 1s) == LeaseSpec{"me", 15, "A", "W1", 2});

  // Released by its holder (client-go ReleaseOnCancel): free at once, one more transition.
  CHECK(t.Release("W2") == LeaseSpec{"", 1, "W2", "W2", 2});
  t.Observe(t.Release("W2"), t0 + 2s);
  CHECK_FALSE(t.Held(t0 + 2s));
  CHECK(t.Claim("other", 15, "W3", t0 + 2s) == LeaseSpec{"other", 15, "W3", "W3", 3});

  // A holder with a zero duration holds nothing.
  t.Observe(LeaseSpec{"other", 0, "A", "R", 3}, t0 + 3s);
  CHECK_FALSE(t.Held(t0 + 3s));

  // The Lease was deleted: forgotten, a new one starts from 0 transitions.
  t.Forget();
  CHECK(t.Claim("me", 15, "W4", t0 + 4s) == LeaseSpec{"me", 15, "W4", "W4", 0});
}
