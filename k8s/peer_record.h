#pragma once
// The mirror's records (README "Scale: the mirror"): one WireGuardPeer custom resource per remote node, written
// in the local cluster by the one active mirror, and read by agents whose remote has "peerSource": "mirror"
// instead of the remote's Nodes. Records are untrusted input like Nodes: an agent validates each one as it
// validates a node, and one that cannot stand for a node is rejected with its reason, never skipped silently.
//
//   apiVersion: wireguard.semaphore.uw.io/v1alpha1
//   kind: WireGuardPeer
//   metadata: {name: c2.node-a, labels: {wireguard.semaphore.uw.io/remote: c2}}
//   spec: {nodeName: node-a, publicKey: ..., endpoint: 10.0.0.1:51820, persistentKeepalive: "25s",
//          podCIDRs: [10.2.1.0/24], nodeCreationTimestamp: "2026-...Z", rejection: "..."}
//
// The sync marker of a remote is the record named after the remote itself, with spec.sync: {complete,
// lastSyncTime, leader, nodes}. It is read as a NodeInfo named kSyncMarkerNode (no node is named "") whose
// annotations hold its fields (kSync* keys), so that the marker and the records come through one list and one
// watch, in the apiserver's order: when an agent sees "complete", it has seen every record written before it.

#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"
#include "k8s/node.h"
#include "k8s/parse.h"

struct json_t;

namespace swg::k8s {

inline constexpr std::string_view kRecordGroup = "wireguard.semaphore.uw.io";
inline constexpr std::string_view kRecordVersion = "v1alpha1";
inline constexpr std::string_view kRecordKind = "WireGuardPeer";
inline constexpr std::string_view kRecordRemoteLabel = "wireguard.semaphore.uw.io/remote";

// The marker's NodeInfo name and the annotation keys of its fields.
inline constexpr std::string_view kSyncMarkerNode = "";
inline constexpr std::string_view kSyncComplete = "sync/complete";  // "true" or "false"
inline constexpr std::string_view kSyncTime = "sync/lastSyncTime";  // RFC 3339, verbatim
inline constexpr std::string_view kSyncLeader = "sync/leader";
inline constexpr std::string_view kSyncNodes = "sync/nodes";  // decimal

// /apis/wireguard.semaphore.uw.io/v1alpha1/namespaces/NS/wireguardpeers
std::string PeerRecordsPath(std::string_view namespace_name);

// One record (a list item or a watch event's object). An Error only for what an apiserver serving the CRD
// never sends (not an object, no metadata.name); every problem of the record's content is a NodeInfo with
// refused_code "bad_record" (or "mirror_rejected" for spec.rejection) naming the field and the value.
Result<NodeInfo> ParsePeerRecord(const json_t* object, const PeerRecords& records);

// The sync marker as an agent reads it.
struct SyncMarker {
  bool complete = false;
  int64_t last_sync = 0;  // unix seconds; 0: none or not a time
  std::string leader;
  int64_t nodes = 0;
};
std::optional<SyncMarker> FindSyncMarker(const std::map<std::string, NodeInfo>& nodes);

}  // namespace swg::k8s
