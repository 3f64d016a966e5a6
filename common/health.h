#pragma once
// The supervisor <-> worker protocol, one compact JSON object per line over a socketpair (common/channel.h):
//   supervisor -> worker: {"type":"start","config":{...},"heartbeat_ms":N}   (first message)
//                         {"type":"summary_request","id":N}  {"type":"detail_request","id":N}
//                         {"type":"metrics_request","id":N}
//   worker -> supervisor: {"type":"status","status":{...}}   (on change, and as the first heartbeat)
//                         {"type":"alive"}   (heartbeat, every heartbeat_ms while the status is unchanged)
//                         {"type":"detail","id":N,"status":{...}}   (summary: handshakes read from the device
//                                                                    now; detail: also peer and rejected lists)
//                         {"type":"metrics","id":N,"families":[...]}
// The same WorkerStatus, gathered by the supervisor, is what `status`, the D-Bus object and /healthz show.

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/metrics.h"

struct json_t;

namespace swg {

// The heartbeat of a worker whose status did not change since the last one it sent: the supervisor keeps that
// one and parses nothing (at idle, a second's heartbeat costs two wake-ups and no JSON).
inline constexpr std::string_view kAliveMessage = R"({"type":"alive"})";

// How often a worker sends a heartbeat and the supervisor looks at them: a quarter of the time after which a
// silent worker is killed (the default 10 s: every 2.5 s), within 250 ms to 2.5 s. A status change is sent at
// once whatever the interval.
inline std::chrono::milliseconds HeartbeatInterval(std::chrono::milliseconds timeout) {
  return std::clamp(timeout / 4, std::chrono::milliseconds(250), std::chrono::milliseconds(2500));
}

struct PeerStatus {
  std::string node;
  std::string public_key;
  std::string endpoint;
  std::vector<std::string> allowed_ips;
  int64_t last_handshake = 0;  // unix seconds, 0 = never
  uint64_t rx_bytes = 0;
  uint64_t tx_bytes = 0;
  bool operator==(const PeerStatus&) const = default;
};

struct RejectedStatus {
  std::string node;
  std::string reason;   // metric reason code
  std::string message;  // human text
  bool operator==(const RejectedStatus&) const = default;
};

// Worker states: "starting" (before the interface is set up), "syncing" (set up, waiting for the first full
// list of remote nodes), "ready" (in sync), "degraded" (running, but something is wrong: see reason).
struct WorkerStatus {
  std::string remote;
  std::string state = "starting";
  std::string reason;
  std::string interface;
  std::string backend;
  std::string public_key;
  uint16_t listen_port = 0;
  uint64_t peers = 0;
  uint64_t rejected = 0;
  int64_t newest_handshake = 0;  // unix seconds among peers with a handshake; 0 = none
  int64_t oldest_handshake = 0;
  uint64_t peers_without_handshake = 0;
  std::string watch;  // the remote informer's state: listing, watching, backoff ...
  std::string last_error;
  std::string endpoint;         // the endpoint this node advertises to the remote ("" until known)
  std::string endpoint_source;  // InternalIP, ExternalIP or the override annotation's key
  uint32_t mtu = 0;             // the interface's MTU
  std::string mtu_source;       // "wgDeviceMTU 1420", "auto: eth0 (MTU 1500) holds ..., minus 60 for IPv4"
  bool initialised = false;  // interface, route and annotations are in place
  bool synced = false;       // the first full reconcile after a complete list is done
  int64_t pid = 0;
  // `semaphore-wireguard mirror` only: the replica that holds the remote's Lease, as last seen ("" for an
  // agent). A mirror's states are "standby" (another replica leads), "syncing", "ready" and "degraded"; its
  // peers are the records it keeps, rejected the nodes among them it rejected.
  std::string leader;
  std::vector<PeerStatus> peer_list;          // detail replies only
  std::vector<RejectedStatus> rejected_list;  // detail replies only
  bool operator==(const WorkerStatus&) const = default;
};

// The whole node as the supervisor sees it.
struct RemoteView {
  WorkerStatus status;      // the last status the worker reported (remote is always set)
  bool worker_up = false;   // a live worker process that reports heartbeats
  bool failed = false;      // exited with the configuration-error code: not restarted
  uint64_t restarts = 0;
  std::string worker_note;  // e.g. "restarting in 2.1s after exit code 1"
  bool operator==(const RemoteView&) const = default;
};

struct NodeView {
  std::string node;  // the agent's node, or the mirror replica's identity
  std::string mode;  // "" for an agent, "mirror" for `semaphore-wireguard mirror`
  std::string local_cluster;
  std::string version;
  std::vector<RemoteView> remotes;
  bool Healthy() const;  // every worker alive and initialised
  bool Ready() const;    // every worker synced
  // Names and reasons of the remotes that are not healthy, e.g. "c2 (worker restarting: killed by signal 9)".
  std::vector<std::string> Unhealthy() const;
  std::vector<std::string> Unready() const;
  // Healthy and ready but working around a problem that needs an operator, e.g. "c2 (mirror stale: ...)": the
  // 200 answers of /healthz and /readyz say so after their "ok" line.
  std::vector<std::string> Degraded() const;
};

std::string StatusToJson(const WorkerStatus& status);  // compact JSON object
bool StatusFromJson(std::string_view json, WorkerStatus* out, std::string* error);
// The same from an already parsed value (the supervisor parses each message once).
bool StatusFromJsonValue(const json_t* value, WorkerStatus* out, std::string* error);
std::string NodeViewToJson(const NodeView& view, bool pretty);
bool NodeViewFromJson(std::string_view json, NodeView* out, std::string* error);

}  // namespace swg
