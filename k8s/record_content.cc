#include "k8s/record_content.h"

#include <ctime>

#include "common/config.h"
#include "k8s/peer_record.h"

namespace swg::k8s {
namespace {

std::string AnnotationOf(const NodeInfo& node, const std::string& key) {
  auto it = node.annotations.find(key);
  return it == node.annotations.end() ? "" : it->second;
}

json_t* String(std::string_view s) { return json_stringn(s.data(), s.size()); }

void SetIfGiven(json_t* object, const char* key, const std::string& value) {
  if (!value.empty()) json_object_set_new(object, key, String(value));
}

JsonPtr Object(std::string_view namespace_name, std::string_view name, std::string_view remote, bool marker,
               json_t* spec) {
  json_t* labels = json_object();
  json_object_set_new(labels, std::string(kRecordRemoteLabel).c_str(), String(remote));
  if (marker) json_object_set_new(labels, std::string(kRecordSyncMarkerLabel).c_str(), json_string("true"));
  json_t* meta = json_object();
  json_object_set_new(meta, "name", String(name));
  json_object_set_new(meta, "namespace", String(namespace_name));
  json_object_set_new(meta, "labels", labels);
  // No managedFields: the apiserver would keep one entry naming every field we write (about 650 bytes), and
  // send it to every agent with each event, twice the record itself. A list holding one empty entry clears
  // them, on every create and update (Kubernetes' documented way to strip them).
  json_t* managed = json_array();
  json_array_append_new(managed, json_object());
  json_object_set_new(meta, "managedFields", managed);
  JsonPtr object(json_object());
  json_object_set_new(object.get(), "apiVersion",
                      String(std::string(kRecordGroup) + "/" + std::string(kRecordVersion)));
  json_object_set_new(object.get(), "kind", String(kRecordKind));
  json_object_set_new(object.get(), "metadata", meta);
  json_object_set_new(object.get(), "spec", spec);
  return object;
}

std::string StringField(const json_t* object, const char* key, bool& ok) {
  const json_t* v = json_object_get(object, key);
  if (!v) return "";
  if (!json_is_string(v)) ok = false;
  return std::string(JsonString(object, key).value_or(""));
}

}  // namespace

RecordContent RecordFromNode(const NodeInfo& node, std::string_view local_cluster, std::string rejection) {
  RecordContent c;
  c.node_name = node.name;
  c.public_key = AnnotationOf(node, PubKeyAnnotation(local_cluster));
  c.endpoint = AnnotationOf(node, EndpointAnnotation(local_cluster));
  c.persistent_keepalive = AnnotationOf(node, ClusterAnnotation(local_cluster, "persistentKeepalive"));
  c.pod_cidrs = node.pod_cidrs;
  if (node.creation_timestamp != 0) c.node_creation_timestamp = FormatTimestamp(node.creation_timestamp);
  c.rejection = std::move(rejection);
  return c;
}

std::string RecordName(std::string_view remote, std::string_view node_name) {
  std::string name = std::string(remote) + "." + std::string(node_name);
  if (name.size() <= kMaxRecordName) return name;
  // A node name may itself take 253 characters: keep a prefix and make it unique with a hash of the whole
  // name (FNV-1a, 64 bits, 16 hex digits). Agents read the node's name from spec.nodeName, never from this.
  uint64_t h = 14695981039346656037ull;
  for (char c : node_name) h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ull;
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(h));
  name.resize(kMaxRecordName - 17);
  while (!name.empty() && (name.back() == '.' || name.back() == '-')) name.pop_back();
  return name + "-" + hex;
}

std::string FormatTimestamp(int64_t unix_seconds) {
  auto t = static_cast<time_t>(unix_seconds);
  tm utc{};
  gmtime_r(&t, &utc);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02dZ", utc.tm_year + 1900, utc.tm_mon + 1,
                utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec);
  return buf;
}

JsonPtr RecordObject(std::string_view namespace_name, std::string_view remote, const RecordContent& content) {
  json_t* spec = json_object();
  SetIfGiven(spec, "nodeName", content.node_name);
  SetIfGiven(spec, "publicKey", content.public_key);
  SetIfGiven(spec, "endpoint", content.endpoint);
  SetIfGiven(spec, "persistentKeepalive", content.persistent_keepalive);
  if (!content.pod_cidrs.empty()) {
    json_t* cidrs = json_array();
    for (const std::string& c : content.pod_cidrs) json_array_append_new(cidrs, String(c));
    json_object_set_new(spec, "podCIDRs", cidrs);
  }
  SetIfGiven(spec, "nodeCreationTimestamp", content.node_creation_timestamp);
  SetIfGiven(spec, "rejection", content.rejection);
  return Object(namespace_name, RecordName(remote, content.node_name), remote, false, spec);
}

JsonPtr MarkerObject(std::string_view namespace_name, std::string_view remote, const SyncState& sync) {
  json_t* s = json_object();
  json_object_set_new(s, "complete", json_boolean(sync.complete));
  json_object_set_new(s, "lastSyncTime", String(sync.last_sync_time));
  json_object_set_new(s, "leader", String(sync.leader));
  json_object_set_new(s, "nodes", json_integer(sync.nodes));
  json_t* spec = json_object();
  json_object_set_new(spec, "sync", s);
  return Object(namespace_name, remote, remote, true, spec);
}

uint64_t ContentDigest(const RecordContent& c) {
  uint64_t h = 14695981039346656037ull;
  auto add = [&h](std::string_view s) {
    // The length first, so that no two different field lists give the same bytes.
    for (size_t n = s.size(), i = 0; i < 8; ++i, n >>= 8) h = (h ^ (n & 0xff)) * 1099511628211ull;
    for (char ch : s) h = (h ^ static_cast<unsigned char>(ch)) * 1099511628211ull;
  };
  add(c.node_name);
  add(c.public_key);
  add(c.endpoint);
  add(c.persistent_keepalive);
  add(std::to_string(c.pod_cidrs.size()));
  for (const auto& cidr : c.pod_cidrs) add(cidr);
  add(c.node_creation_timestamp);
  add(c.rejection);
  return h;
}

Result<StoredRecord> ReadStoredRecord(const json_t* object) {
  const json_t* meta = json_object_get(object, "metadata");
  std::optional<std::string_view> name = JsonString(meta, "name");
  if (!name || name->empty()) return Error{"WireGuardPeer: metadata.name is missing or not a string"};
  StoredRecord r;
  r.name = std::string(*name);
  r.resource_version = std::string(JsonString(meta, "resourceVersion").value_or(""));
  const json_t* spec = json_object_get(object, "spec");
  if (!json_is_object(spec) || json_object_get(spec, "sync")) return r;
  bool ok = true;
  RecordContent c;
  c.node_name = StringField(spec, "nodeName", ok);
  c.public_key = StringField(spec, "publicKey", ok);
  c.endpoint = StringField(spec, "endpoint", ok);
  c.persistent_keepalive = StringField(spec, "persistentKeepalive", ok);
  if (const json_t* cidrs = json_object_get(spec, "podCIDRs")) {
    size_t i;
    const json_t* item;
    if (!json_is_array(cidrs)) ok = false;
    json_array_foreach(cidrs, i, item) {
      if (!json_is_string(item)) ok = false;
      c.pod_cidrs.emplace_back(json_string_value(item) ? json_string_value(item) : "");
    }
  }
  c.node_creation_timestamp = StringField(spec, "nodeCreationTimestamp", ok);
  c.rejection = StringField(spec, "rejection", ok);
  if (ok) r.digest = ContentDigest(c);
  return r;
}

RecordPlan PlanRecords(std::string_view remote, const std::map<std::string, RecordContent>& desired,
                       const std::map<std::string, StoredRecord>& stored, bool complete_list) {
  RecordPlan plan;
  std::map<std::string, const RecordContent*> wanted;  // by record name
  for (const auto& [node_name, content] : desired) wanted.emplace(RecordName(remote, node_name), &content);
  for (const auto& [name, content] : wanted) {
    auto it = stored.find(name);
    if (it == stored.end()) {
      plan.create.push_back(name);
    } else if (it->second.digest && *it->second.digest == ContentDigest(*content)) {
      ++plan.unchanged;
    } else {
      plan.update.push_back(name);
    }
  }
  if (complete_list) {
    for (const auto& [name, record] : stored) {
      if (name != remote && !wanted.contains(name)) plan.remove.push_back(name);
    }
  }
  return plan;
}

}  // namespace swg::k8s
