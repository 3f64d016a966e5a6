#pragma once
// The per-remote report on this node's own Node in the local cluster (docs: README "Node conditions and the
// report annotation"): a condition WireGuard<Remote>Ready, written through nodes/status, and the annotation
// <remote>.wireguard.semaphore.uw.io/report, compact JSON of at most 4 KiB. Pure: what to write and whether
// it changed; NodeReporter (worker/node_reporter.h) writes it.

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace swg::worker {

// Reasons, CamelCase as Kubernetes condition reasons are.
inline constexpr std::string_view kReasonPairingReady = "PairingReady";
inline constexpr std::string_view kReasonInterfaceDown = "InterfaceDown";
inline constexpr std::string_view kReasonDeviceSettings = "DeviceSettings";
inline constexpr std::string_view kReasonRemoteWatchFailing = "RemoteWatchFailing";
inline constexpr std::string_view kReasonRemoteOverLimits = "RemoteOverLimits";
inline constexpr std::string_view kReasonNoHandshakes = "NoHandshakes";
inline constexpr std::string_view kReasonKeyFailed = "KeyFailed";
inline constexpr std::string_view kReasonStarting = "Starting";
inline constexpr std::string_view kReasonDegraded = "Degraded";
inline constexpr std::string_view kReasonMirrorNotSynced = "MirrorNotSynced";  // peerSource mirror: no complete list
inline constexpr std::string_view kReasonMirrorStale = "MirrorStale";          // its marker is not refreshed

inline constexpr size_t kReportMaxBytes = 4096;
inline constexpr size_t kReportMaxNames = 32;  // per list: rejected, stale
inline constexpr size_t kMessageMaxBytes = 256;

struct ReportInput {
  std::string remote;
  std::string local;
  bool synced = false;         // the first full sync is done
  std::string problem;         // the worker's last error; "" when none
  std::string problem_reason;  // one of the reasons above for `problem`
  uint64_t peers = 0;
  uint64_t fresh = 0;                                         // peers with a handshake within 180 s
  std::vector<std::string> stale;                             // peers' node names without one (any order)
  std::vector<std::pair<std::string, std::string>> rejected;  // node -> reason code (any order)
  int64_t last_full_sync = 0;                                 // unix seconds; 0: never
};

struct NodeReport {
  std::string condition_type;  // WireGuard<Remote>Ready
  bool ready = false;
  std::string reason;
  std::string message;
  std::string annotation_key;  // <remote>.wireguard.semaphore.uw.io/report
  std::string annotation;      // the JSON, with "sync"
  std::string compared;        // the JSON without "sync": what a change is judged on
  // A write is due when the condition's status, reason or message, or the report apart from "sync", changed.
  bool SameAs(const NodeReport& o) const {
    return condition_type == o.condition_type && ready == o.ready && reason == o.reason &&
           message == o.message && annotation_key == o.annotation_key && compared == o.compared;
  }
};

// "c2" -> "WireGuardC2Ready", "eu-west" -> "WireGuardEuWestReady", "a.b-c" -> "WireGuardABCReady".
std::string ConditionType(std::string_view remote);
std::string ReportAnnotation(std::string_view remote);

NodeReport BuildNodeReport(const ReportInput& in);

// The strategic merge patch of PATCH /api/v1/nodes/NAME/status that sets the condition (merged by type).
// Times are unix seconds, written as RFC 3339 UTC.
std::string ConditionPatch(const NodeReport& report, int64_t heartbeat, int64_t transition);

std::string Rfc3339(int64_t unix_seconds);

}  // namespace swg::worker
