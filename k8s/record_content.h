#pragma once
// What the mirror writes (k8s/peer_record.h has the format and how agents read it): the content of one
// remote node's WireGuardPeer record, built from the node as the mirror's informer keeps it, the record's
// JSON, what a stored record holds, and the plan that turns the stored records into the desired ones.
// Pure functions; RecordWriter (k8s/record_writer.h) performs the plan.

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/json.h"
#include "common/result.h"
#include "k8s/node.h"

namespace swg::k8s {

inline constexpr std::string_view kRecordSyncMarkerLabel = "wireguard.semaphore.uw.io/sync-marker";

// A node record's spec. Empty strings and lists are left out of the JSON (agents read absent as empty).
struct RecordContent {
  std::string node_name;
  std::string public_key;
  std::string endpoint;
  std::string persistent_keepalive;
  std::vector<std::string> pod_cidrs;
  std::string node_creation_timestamp;  // RFC 3339, seconds
  std::string rejection;                // why the mirror refused the node; empty: not refused
  bool operator==(const RecordContent&) const = default;
};

// From a remote node whose annotations are keyed for `local_cluster` (the cluster the records are written
// in, e.g. "c1.wireguard.semaphore.uw.io/pubKey"). `rejection`: the mirror's reason to refuse it, or "".
RecordContent RecordFromNode(const NodeInfo& node, std::string_view local_cluster,
                             std::string rejection = "");

// "<remote>.<nodeName>"; the remote's sync marker is named `remote` itself. A name longer than an object name
// may be (253) is cut and ends with "-" and 16 hex digits of a hash of the node's name.
inline constexpr size_t kMaxRecordName = 253;
std::string RecordName(std::string_view remote, std::string_view node_name);

// "2026-01-02T03:04:05Z".
std::string FormatTimestamp(int64_t unix_seconds);

// Whole objects, for POST (no resourceVersion) or PUT (with it).
JsonPtr RecordObject(std::string_view namespace_name, std::string_view remote, const RecordContent& content);
struct SyncState {
  bool complete = false;
  std::string last_sync_time;  // RFC 3339
  std::string leader;
  int64_t nodes = 0;
};
JsonPtr MarkerObject(std::string_view namespace_name, std::string_view remote, const SyncState& sync);

// A digest of a record's content (64 bits of FNV-1a over its fields, each with its length): what the writer
// keeps of a stored record to tell whether it must be written again, instead of the content itself (at 5,000
// records that is 2 to 3 MB less).
uint64_t ContentDigest(const RecordContent& content);

// A record as stored, read back from a list item or a write's answer: only what the mirror compares.
struct StoredRecord {
  std::string name;
  std::string resource_version;
  // ContentDigest of the spec as a node record (nullopt for the marker or a spec that does not parse as one;
  // such a record is rewritten when desired).
  std::optional<uint64_t> digest;
};
Result<StoredRecord> ReadStoredRecord(const json_t* object);

// What Apply does: record names to create, update and delete, and how many desired records were unchanged.
struct RecordPlan {
  std::vector<std::string> create, update, remove;
  size_t unchanged = 0;
};
// `desired` by node name, `stored` by record name. Deletes (of records whose node is not desired, never the
// marker) only with `complete_list`: the desired set is then known to hold every remote node.
RecordPlan PlanRecords(std::string_view remote, const std::map<std::string, RecordContent>& desired,
                       const std::map<std::string, StoredRecord>& stored, bool complete_list);

}  // namespace swg::k8s
