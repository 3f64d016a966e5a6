#pragma once
// A coordination.k8s.io/v1 Lease as leader election reads and writes it (client-go's LeaseLock), and
// client-go's expiry rule: a holder keeps the lease until leaseDurationSeconds after the moment WE last saw
// its record change, on our own monotonic clock. The holder's renewTime is written for people and never
// compared with our wall clock, so clock skew between replicas cannot make two leaders.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"

namespace swg::k8s {

struct LeaseSpec {
  std::string holder_identity;  // "" when nobody holds it (released)
  int64_t lease_duration_seconds = 0;
  std::string acquire_time;  // MicroTime, verbatim
  std::string renew_time;
  int64_t lease_transitions = 0;
  bool operator==(const LeaseSpec&) const = default;
};

struct LeaseObject {
  LeaseSpec spec;
  std::string resource_version;
  std::string json;  // the object as the server sent it: an update keeps everything but our fields
};

// /apis/coordination.k8s.io/v1/namespaces/NS/leases, and .../leases/NAME.
std::string LeasesPath(std::string_view namespace_name);
std::string LeasePath(std::string_view namespace_name, std::string_view name);

// A Lease from the apiserver. Absent or null fields are empty (a Lease may have no spec at all); a field of
// the wrong type is an error naming it: "spec.leaseDurationSeconds is a JSON string, not an integer".
Result<LeaseObject> ParseLease(std::string_view json);

// The body that creates the Lease.
std::string NewLeaseJson(std::string_view namespace_name, std::string_view name, const LeaseSpec& spec);
// `object` (a LeaseObject::json) with our five spec fields replaced and everything else kept, including
// metadata.resourceVersion: the apiserver refuses the update with 409 Conflict when the Lease changed since.
Result<std::string> UpdatedLeaseJson(std::string_view object, const LeaseSpec& spec);

// metav1.MicroTime: RFC 3339 in UTC with 6 fractional digits, "2026-01-02T03:04:05.123456Z".
std::string FormatMicroTime(std::chrono::system_clock::time_point t);

// What one elector knows of the Lease between requests. Pure: time is passed in.
class LeaseTracker {
 public:
  using Clock = std::chrono::steady_clock;

  // The spec read or written at `now`. The expiry clock restarts only when it differs from the last one.
  void Observe(const LeaseSpec& spec, Clock::time_point now);
  void Forget() { *this = LeaseTracker(); }  // the Lease is gone (404)

  bool observed() const { return observed_; }
  const LeaseSpec& spec() const { return spec_; }
  Clock::time_point changed_at() const { return changed_at_; }
  // Someone holds it at `now`: a holder whose record changed less than its leaseDurationSeconds ago.
  bool Held(Clock::time_point now) const;

  // What `identity` writes to take or keep the lease at `now` (`wall`: now as MicroTime), or nullopt while
  // another holder's lease runs. Nothing observed: a new Lease (0 transitions). Held by `identity`: its
  // acquireTime and transitions are kept. Taken from another holder or from nobody: one more transition.
  std::optional<LeaseSpec> Claim(const std::string& identity, int64_t duration_seconds,
                                 const std::string& wall, Clock::time_point now) const;
  // What gives the lease up (client-go ReleaseOnCancel): no holder, 1 s, transitions kept.
  LeaseSpec Release(const std::string& wall) const;

 private:
  bool observed_ = false;
  LeaseSpec spec_;
  Clock::time_point changed_at_{};
};

}  // namespace swg::k8s
