#pragma once
// What the agent keeps of a Kubernetes Node: only the fields it needs, never whole objects.

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "k8s/annotations.h"

namespace swg::k8s {

struct NodeAddress {
  std::string type;  // "InternalIP", "ExternalIP", "Hostname", ...
  std::string address;
  bool operator==(const NodeAddress&) const = default;  // without it NodeInfo's defaulted == is deleted
};

// A status.conditions entry (only those the caller asked for, see AnnotationFilter::condition_prefix).
struct NodeCondition {
  std::string type, status, reason, message;
  bool operator==(const NodeCondition&) const = default;
};

struct NodeInfo {
  std::string name;
  std::string uid;
  std::string resource_version;
  int64_t creation_timestamp = 0;  // unix seconds (metadata.creationTimestamp)
  // Only the annotations the caller asked for (see NodeFilter); values verbatim.
  Annotations annotations;
  // spec.podCIDRs, or [spec.podCIDR] when podCIDRs is absent; verbatim strings (validated by the worker).
  std::vector<std::string> pod_cidrs;
  std::vector<NodeAddress> addresses;  // status.addresses in order
  std::vector<NodeCondition> conditions;  // status.conditions kept by the filter, in order
  // A mirror record (k8s/peer_record.h) that cannot stand for a node, or that the mirror rejected: the reason
  // code (bad_record, mirror_rejected) and why. The worker rejects the node with them. Empty for Nodes.
  std::string refused_code, refused;
  bool operator==(const NodeInfo&) const = default;
};

// About how much memory a NodeInfo held in a std::map by name takes (its strings, containers and the map's
// node), to bound what an informer keeps.
inline size_t ApproxBytes(const NodeInfo& n) {
  auto heap = [](const std::string& s) -> size_t { return s.capacity() > 15 ? s.capacity() + 1 + 16 : 0; };
  constexpr size_t kMapNode = 48;  // links, colour and malloc's header
  size_t b = kMapNode + sizeof(std::string) + sizeof(NodeInfo) + 2 * heap(n.name) + heap(n.uid) +
             heap(n.resource_version) + heap(n.refused_code) + heap(n.refused);
  b += 16 + n.annotations.size() * sizeof(Annotations::value_type);
  for (const auto& [key, value] : n.annotations) b += heap(key) + heap(value);
  b += 16 + n.pod_cidrs.capacity() * sizeof(std::string);
  for (const std::string& c : n.pod_cidrs) b += heap(c);
  b += 16 + n.addresses.capacity() * sizeof(NodeAddress);
  for (const NodeAddress& a : n.addresses) b += heap(a.type) + heap(a.address);
  b += 16 + n.conditions.capacity() * sizeof(NodeCondition);
  for (const NodeCondition& c : n.conditions)
    b += heap(c.type) + heap(c.status) + heap(c.reason) + heap(c.message);
  return b;
}

enum class EventType { kAdded, kModified, kDeleted };

}  // namespace swg::k8s
