#include "k8s/peer_record.h"

#include <jansson.h>

#include <map>

#include "common/config.h"
#include "common/strings.h"
#include "common/json.h"
#include "k8s/client_impl.h"

namespace swg::k8s {
namespace {

std::string StringOf(const json_t* s) { return std::string(json_string_value(s), json_string_length(s)); }

// A record's content, checked field by field; the first problem is what the agent reports.
class RecordReader {
 public:
  RecordReader(const json_t* spec, NodeInfo& node) : spec_(spec), node_(node) {}

  // An optional string field ("" when absent or null).
  std::string String(const char* key) {
    const json_t* v = json_object_get(spec_, key);
    if (!v || json_is_null(v)) return "";
    if (!json_is_string(v)) {
      Refuse(std::string("spec.") + key + " is a JSON " + std::string(JsonTypeName(v)) + ", not a string");
      return "";
    }
    return StringOf(v);
  }

  std::vector<std::string> Strings(const char* key) {
    std::vector<std::string> out;
    const json_t* v = json_object_get(spec_, key);
    if (!v || json_is_null(v)) return out;
    if (!json_is_array(v)) {
      Refuse(std::string("spec.") + key + " is a JSON " + std::string(JsonTypeName(v)) + ", not a list of strings");
      return out;
    }
    size_t i;
    const json_t* item;
    json_array_foreach(v, i, item) {
      if (!json_is_string(item)) {
        Refuse(std::string("spec.") + key + "[" + std::to_string(i) + "] is a JSON " + std::string(JsonTypeName(item)) +
               ", not a string");
        return {};
      }
      out.push_back(StringOf(item));
    }
    return out;
  }

  void Refuse(std::string why) {
    if (!node_.refused_code.empty()) return;
    node_.refused_code = "bad_record";
    node_.refused = "record: " + std::move(why);
  }

 private:
  const json_t* spec_;
  NodeInfo& node_;
};

void SetIfGiven(NodeInfo& node, std::string key, std::string value) {
  if (!value.empty()) node.annotations.emplace(std::move(key), std::move(value));
}

NodeInfo ReadMarker(const json_t* sync, NodeInfo node) {
  node.name = std::string(kSyncMarkerNode);
  const json_t* complete = json_object_get(sync, "complete");
  node.annotations[std::string(kSyncComplete)] = json_is_true(complete) ? "true" : "false";
  if (const json_t* t = json_object_get(sync, "lastSyncTime"); json_is_string(t)) {
    node.annotations[std::string(kSyncTime)] = StringOf(t);
  }
  if (const json_t* l = json_object_get(sync, "leader"); json_is_string(l)) {
    node.annotations[std::string(kSyncLeader)] = StringOf(l);
  }
  if (const json_t* n = json_object_get(sync, "nodes"); json_is_integer(n)) {
    node.annotations[std::string(kSyncNodes)] = std::to_string(json_integer_value(n));
  }
  return node;
}

}  // namespace

std::string PeerRecordsPath(std::string_view namespace_name) {
  return "/apis/" + std::string(kRecordGroup) + "/" + std::string(kRecordVersion) + "/namespaces/" +
         UrlEscape(namespace_name) + "/wireguardpeers";
}

Result<NodeInfo> ParsePeerRecord(const json_t* object, const PeerRecords& records) {
  if (!json_is_object(object)) return Error{"WireGuardPeer: expected an object"};
  const json_t* kind = json_object_get(object, "kind");
  if (json_is_string(kind) && StringOf(kind) != kRecordKind) {
    return Error{"expected a " + std::string(kRecordKind) + ", got kind " + Quote(StringOf(kind))};
  }
  const json_t* meta = json_object_get(object, "metadata");
  const json_t* name = json_object_get(meta, "name");
  if (!json_is_string(name) || json_string_length(name) == 0) {
    return Error{"WireGuardPeer: metadata.name is missing or not a string"};
  }
  const std::string object_name = StringOf(name);
  NodeInfo node;
  if (const json_t* uid = json_object_get(meta, "uid"); json_is_string(uid)) node.uid = StringOf(uid);
  if (const json_t* rv = json_object_get(meta, "resourceVersion"); json_is_string(rv)) {
    node.resource_version = StringOf(rv);
  }
  const json_t* spec = json_object_get(object, "spec");
  if (object_name == records.remote) {
    const json_t* sync = json_object_get(spec, "sync");
    return ReadMarker(json_is_object(sync) ? sync : nullptr, std::move(node));
  }
  // Named after the record until its nodeName is known to be a node's name: a rejection then names the record.
  node.name = "record " + object_name;
  if (!json_is_object(spec)) {
    node.refused_code = "bad_record";
    node.refused = "record: spec is missing or not an object";
    return node;
  }
  RecordReader in(spec, node);
  std::string node_name = in.String("nodeName");
  if (node_name.empty()) {
    in.Refuse("spec.nodeName is missing");
  } else if (!IsDnsSubdomain(node_name)) {
    in.Refuse("spec.nodeName " + Quote(node_name) + " is not a Kubernetes node name (a DNS subdomain)");
  } else if (node.refused_code.empty()) {
    node.name = std::move(node_name);
  }
  SetIfGiven(node, PubKeyAnnotation(records.cluster), in.String("publicKey"));
  SetIfGiven(node, EndpointAnnotation(records.cluster), in.String("endpoint"));
  SetIfGiven(node, ClusterAnnotation(records.cluster, "persistentKeepalive"), in.String("persistentKeepalive"));
  node.pod_cidrs = in.Strings("podCIDRs");
  std::string created = in.String("nodeCreationTimestamp");
  if (created.empty()) {
    in.Refuse("spec.nodeCreationTimestamp is missing");
  } else if (std::optional<int64_t> t = ParseTimestamp(created)) {
    node.creation_timestamp = *t;
  } else {
    in.Refuse("spec.nodeCreationTimestamp " + Quote(created) + " is not an RFC 3339 time");
  }
  std::string rejection = in.String("rejection");
  if (!rejection.empty() && node.refused_code.empty()) {
    node.refused_code = "mirror_rejected";
    node.refused = "the mirror rejected this node: " + rejection;
  }
  return node;
}

std::optional<SyncMarker> FindSyncMarker(const std::map<std::string, NodeInfo>& nodes) {
  auto it = nodes.find(std::string(kSyncMarkerNode));
  if (it == nodes.end()) return std::nullopt;
  const auto& a = it->second.annotations;
  auto get = [&a](std::string_view key) -> std::string {
    auto f = a.find(std::string(key));
    return f == a.end() ? "" : f->second;
  };
  SyncMarker m;
  m.complete = get(kSyncComplete) == "true";
  m.last_sync = ParseTimestamp(get(kSyncTime)).value_or(0);
  m.leader = get(kSyncLeader);
  if (auto n = ParseUint(get(kSyncNodes))) m.nodes = static_cast<int64_t>(*n);
  return m;
}

}  // namespace swg::k8s
