#pragma once
// Pure parsers for what an apiserver sends about Nodes: Node objects, NodeList pages and Status errors.
// Anything malformed or of an unexpected type is an Error naming the field (and the node, when known); no
// input makes them crash. They keep only what NodeInfo holds, never the whole object.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "k8s/node.h"

struct json_t;

namespace swg::k8s {

// Error::code of input refused because it exceeds a bound (too large, too many items, too slow), as opposed
// to malformed input (0) or an HTTP status.
inline constexpr int kErrorOverLimit = -1;

// The mirror's WireGuardPeer records of one remote cluster in one namespace (k8s/peer_record.h), read in place
// of Nodes: each record as the NodeInfo of the remote node it describes, its fields as the annotations that
// node addresses to `cluster` (the reading cluster), and the remote's sync marker as kSyncMarkerNode.
struct PeerRecords {
  std::string namespace_name;
  std::string remote;   // the remote cluster the records describe; its marker is the record named so
  std::string cluster;  // the cluster reading them (ours)
};

// Which annotations a parsed NodeInfo keeps.
// A Node, or a Node's metadata alone (PartialObjectMetadata: a metadata-only watch, kNodeMetadataAccept).
inline bool IsNodeKind(std::string_view kind) { return kind == "Node" || kind == "PartialObjectMetadata"; }

struct AnnotationFilter {
  bool all = true;                // keep every annotation
  std::vector<std::string> keys;  // otherwise only these
  // status.conditions whose type starts with this are kept in NodeInfo.conditions; empty: none.
  std::string condition_prefix;
  // Set: the objects are mirror records, not Nodes (see PeerRecords).
  std::optional<PeerRecords> records;
  static AnnotationFilter All() { return {}; }
  static AnnotationFilter Only(std::vector<std::string> keys) { return {false, std::move(keys), {}, {}}; }
  bool Keeps(std::string_view key) const;
};

// The fields of a Kubernetes Status object (error bodies, ERROR watch events).
struct ApiStatus {
  int code = 0;
  std::string reason;   // "NotFound", "Expired", "Forbidden", ...
  std::string message;  // human-readable; what errors quote
};

// A NodeList page.
struct NodeListPage {
  std::vector<NodeInfo> items;
  std::string resource_version;  // metadata.resourceVersion
  std::string continue_token;    // metadata.continue; empty on the last page
};

// A Node object (a list item or a watch event's object).
Result<NodeInfo> ParseNode(const json_t* object, const AnnotationFilter& filter);
// From text: one pass without a tree (k8s/node_reader.h), with the same result as ParseNodeJsonTree, which
// parses the text with jansson and calls ParseNode (kept for malformed text and to test the reader against).
Result<NodeInfo> ParseNodeJson(std::string_view json, const AnnotationFilter& filter);
Result<NodeInfo> ParseNodeJsonTree(std::string_view json, const AnnotationFilter& filter);
Result<NodeListPage> ParseNodeList(std::string_view json, const AnnotationFilter& filter);

// A Status object, or nullopt when `json` is not one (not JSON, or "kind" is not "Status").
std::optional<ApiStatus> ParseStatus(const json_t* object);
std::optional<ApiStatus> ParseStatusJson(std::string_view json);

// RFC 3339 ("2026-01-02T03:04:05Z", optional fraction, "Z" or "+hh:mm") to unix seconds.
std::optional<int64_t> ParseTimestamp(std::string_view text);

}  // namespace swg::k8s
