#pragma once
// What the agent keeps of a Kubernetes Node: only the fields it needs, never whole objects.

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace swg::k8s {

struct NodeAddress {
  std::string type;  // "InternalIP", "ExternalIP", "Hostname", ...
  std::string address;
  bool operator==(const NodeAddress&) const = default;  // without it NodeInfo's defaulted == is deleted
};

struct NodeInfo {
  std::string name;
  std::string uid;
  std::string resource_version;
  int64_t creation_timestamp = 0;  // unix seconds (metadata.creationTimestamp)
  // Only the annotations the caller asked for (see NodeFilter); values verbatim.
  std::map<std::string, std::string> annotations;
  // spec.podCIDRs, or [spec.podCIDR] when podCIDRs is absent; verbatim strings (validated by the worker).
  std::vector<std::string> pod_cidrs;
  std::vector<NodeAddress> addresses;  // status.addresses in order
  bool operator==(const NodeInfo&) const = default;
};

enum class EventType { kAdded, kModified, kDeleted };

}  // namespace swg::k8s
