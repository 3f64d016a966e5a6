#include "k8s/parse.h"

#include <algorithm>

#include "common/json.h"
#include "common/strings.h"
#include "k8s/json_load.h"
#include "k8s/node_reader.h"
#include "k8s/peer_record.h"

namespace swg::k8s {
namespace {

std::string Where(const NodeInfo& node, std::string_view field) {
  std::string out = node.name.empty() ? std::string("node") : "node " + Quote(node.name);
  out += ": ";
  out += field;
  return out;
}

Error TypeError(const NodeInfo& node, std::string_view field, std::string_view want, const json_t* got) {
  return Error{Where(node, field) + ": expected " + std::string(want) + ", got " +
               std::string(JsonTypeName(got))};
}

// An optional member that must be of one JSON type when present (JSON null counts as absent).
Result<const json_t*> Member(const json_t* obj, const char* key, json_type type, const char* want,
                             const NodeInfo& node, std::string_view field) {
  const json_t* v = json_object_get(obj, key);
  if (!v || json_is_null(v)) return static_cast<const json_t*>(nullptr);
  if (json_typeof(v) != type) return TypeError(node, field, want, v);
  return v;
}

std::string StringOf(const json_t* s) { return std::string(json_string_value(s), json_string_length(s)); }

Status ParseMetadata(const json_t* meta, const AnnotationFilter& filter, NodeInfo& node) {
  auto name = Member(meta, "name", JSON_STRING, "a string", node, "metadata.name");
  if (!name.ok()) return name.error();
  if (!*name || json_string_length(*name) == 0) return Error{"node: metadata.name is missing or empty"};
  node.name = StringOf(*name);
  auto uid = Member(meta, "uid", JSON_STRING, "a string", node, "metadata.uid");
  if (!uid.ok()) return uid.error();
  if (*uid) node.uid = StringOf(*uid);
  auto rv = Member(meta, "resourceVersion", JSON_STRING, "a string", node, "metadata.resourceVersion");
  if (!rv.ok()) return rv.error();
  if (*rv) node.resource_version = StringOf(*rv);
  auto created =
      Member(meta, "creationTimestamp", JSON_STRING, "a string", node, "metadata.creationTimestamp");
  if (!created.ok()) return created.error();
  if (*created) {
    std::optional<int64_t> t = ParseTimestamp(StringOf(*created));
    if (!t)
      return Error{Where(node, "metadata.creationTimestamp") +
                   ": not an RFC 3339 time: " + Quote(StringOf(*created))};
    node.creation_timestamp = *t;
  }
  auto annotations = Member(meta, "annotations", JSON_OBJECT, "an object", node, "metadata.annotations");
  if (!annotations.ok()) return annotations.error();
  if (*annotations) {
    const char* key;
    json_t* value;
    json_object_foreach(const_cast<json_t*>(*annotations), key, value) {
      if (!json_is_string(value))
        return TypeError(node, std::string("metadata.annotations[") + Quote(key) + "]", "a string", value);
      if (filter.Keeps(key)) node.annotations.emplace(key, StringOf(value));
    }
  }
  return Ok();
}

Status ParseSpec(const json_t* spec, NodeInfo& node) {
  auto cidrs = Member(spec, "podCIDRs", JSON_ARRAY, "an array", node, "spec.podCIDRs");
  if (!cidrs.ok()) return cidrs.error();
  if (*cidrs) {
    size_t i;
    json_t* v;
    json_array_foreach(*cidrs, i, v) {
      if (!json_is_string(v))
        return TypeError(node, "spec.podCIDRs[" + std::to_string(i) + "]", "a string", v);
      node.pod_cidrs.push_back(StringOf(v));
    }
  }
  auto cidr = Member(spec, "podCIDR", JSON_STRING, "a string", node, "spec.podCIDR");
  if (!cidr.ok()) return cidr.error();
  if (node.pod_cidrs.empty() && *cidr && json_string_length(*cidr) > 0)
    node.pod_cidrs.push_back(StringOf(*cidr));
  return Ok();
}

Status ParseAddresses(const json_t* status, NodeInfo& node) {
  auto addresses = Member(status, "addresses", JSON_ARRAY, "an array", node, "status.addresses");
  if (!addresses.ok()) return addresses.error();
  if (!*addresses) return Ok();
  size_t i;
  json_t* v;
  json_array_foreach(*addresses, i, v) {
    std::string field = "status.addresses[" + std::to_string(i) + "]";
    if (!json_is_object(v)) return TypeError(node, field, "an object", v);
    auto type = Member(v, "type", JSON_STRING, "a string", node, field + ".type");
    if (!type.ok()) return type.error();
    auto address = Member(v, "address", JSON_STRING, "a string", node, field + ".address");
    if (!address.ok()) return address.error();
    node.addresses.push_back({*type ? StringOf(*type) : "", *address ? StringOf(*address) : ""});
  }
  return Ok();
}

Status ParseConditions(const json_t* status, const std::string& prefix, NodeInfo& node) {
  auto conditions = Member(status, "conditions", JSON_ARRAY, "an array", node, "status.conditions");
  if (!conditions.ok()) return conditions.error();
  if (!*conditions) return Ok();
  size_t i;
  json_t* v;
  json_array_foreach(*conditions, i, v) {
    std::string field = "status.conditions[" + std::to_string(i) + "]";
    if (!json_is_object(v)) return TypeError(node, field, "an object", v);
    NodeCondition c;
    const char* keys[] = {"type", "status", "reason", "message"};
    std::string* out[] = {&c.type, &c.status, &c.reason, &c.message};
    for (size_t k = 0; k < 4; ++k) {
      auto m = Member(v, keys[k], JSON_STRING, "a string", node, field + "." + keys[k]);
      if (!m.ok()) return m.error();
      if (*m) *out[k] = StringOf(*m);
    }
    if (StartsWith(c.type, prefix)) node.conditions.push_back(std::move(c));
  }
  return Ok();
}

// Every document from an apiserver is parsed with its memory bounded (see json_load.h).
Result<JsonPtr> Load(std::string_view what, std::string_view json) {
  Result<JsonPtr> root = LoadJson(json, JSON_REJECT_DUPLICATES);
  if (!root.ok()) return Error{std::string(what) + ": " + root.error().message, root.error().code};
  return root;
}

}  // namespace

bool AnnotationFilter::Keeps(std::string_view key) const {
  return all || std::find(keys.begin(), keys.end(), key) != keys.end();
}

Result<NodeInfo> ParseNode(const json_t* object, const AnnotationFilter& filter) {
  if (filter.records) return ParsePeerRecord(object, *filter.records);
  NodeInfo node;
  if (!object || !json_is_object(object)) return TypeError(node, "object", "an object", object);
  if (auto kind = JsonString(object, "kind"); kind && !IsNodeKind(*kind)) {
    return Error{"expected a Node, got kind " + Quote(*kind)};
  }
  auto meta = Member(object, "metadata", JSON_OBJECT, "an object", node, "metadata");
  if (!meta.ok()) return meta.error();
  if (!*meta) return Error{"node: metadata is missing"};
  if (Status s = ParseMetadata(*meta, filter, node); !s.ok()) return std::move(s).error();
  auto spec = Member(object, "spec", JSON_OBJECT, "an object", node, "spec");
  if (!spec.ok()) return spec.error();
  if (*spec) {
    if (Status s = ParseSpec(*spec, node); !s.ok()) return std::move(s).error();
  }
  auto status = Member(object, "status", JSON_OBJECT, "an object", node, "status");
  if (!status.ok()) return status.error();
  if (*status) {
    if (Status s = ParseAddresses(*status, node); !s.ok()) return std::move(s).error();
    if (!filter.condition_prefix.empty()) {
      if (Status s = ParseConditions(*status, filter.condition_prefix, node); !s.ok())
        return std::move(s).error();
    }
  }
  return node;
}

Result<NodeInfo> ParseNodeJson(std::string_view json, const AnnotationFilter& filter) {
  if (filter.records) return ParseNodeJsonTree(json, filter);  // records are small: no one-pass reader
  bool malformed = false;
  Result<NodeInfo> node = ReadNode(json, filter, &malformed);
  if (!malformed) return node;
  // jansson words what is wrong with the text, as before the reader (and takes nesting deeper than its bound).
  return ParseNodeJsonTree(json, filter);
}

Result<NodeInfo> ParseNodeJsonTree(std::string_view json, const AnnotationFilter& filter) {
  Result<JsonPtr> root = Load("node", json);
  if (!root.ok()) return root.error();
  return ParseNode(root->get(), filter);
}

Result<NodeListPage> ParseNodeList(std::string_view json, const AnnotationFilter& filter) {
  Result<JsonPtr> loaded = Load("node list", json);
  if (!loaded.ok()) return loaded.error();
  const JsonPtr& root = *loaded;
  if (!json_is_object(root.get())) {
    return Error{"node list: expected an object, got " + std::string(JsonTypeName(root.get()))};
  }
  const std::string list_kind = filter.records ? std::string(kRecordKind) + "List" : "NodeList";
  if (auto kind = JsonString(root.get(), "kind"); kind && *kind != list_kind) {
    return Error{"node list: expected kind " + Quote(list_kind) + ", got " + Quote(*kind)};
  }
  NodeListPage page;
  const json_t* meta = json_object_get(root.get(), "metadata");
  if (!json_is_object(meta)) return Error{"node list: metadata is missing or not an object"};
  auto rv = JsonString(meta, "resourceVersion");
  if (!rv || rv->empty()) return Error{"node list: metadata.resourceVersion is missing or not a string"};
  page.resource_version = *rv;
  const json_t* cont = json_object_get(meta, "continue");
  if (cont && !json_is_null(cont)) {
    if (!json_is_string(cont)) return Error{"node list: metadata.continue: expected a string"};
    page.continue_token = StringOf(cont);
  }
  const json_t* items = json_object_get(root.get(), "items");
  if (items && !json_is_null(items)) {
    if (!json_is_array(items)) {
      return Error{"node list: items: expected an array, got " + std::string(JsonTypeName(items))};
    }
    page.items.reserve(json_array_size(items));
    size_t i;
    json_t* item;
    json_array_foreach(items, i, item) {
      Result<NodeInfo> node = ParseNode(item, filter);
      if (!node.ok()) {
        return Error{"node list: items[" + std::to_string(i) + "]: " + node.error().message,
                     node.error().code};
      }
      page.items.push_back(std::move(node).value());
    }
  }
  return page;
}

std::optional<ApiStatus> ParseStatus(const json_t* object) {
  if (!object || !json_is_object(object)) return std::nullopt;
  auto kind = JsonString(object, "kind");
  if (!kind || *kind != "Status") return std::nullopt;
  ApiStatus status;
  const json_t* code = json_object_get(object, "code");
  if (json_is_integer(code) && json_integer_value(code) >= 0 && json_integer_value(code) < 1000) {
    status.code = static_cast<int>(json_integer_value(code));
  }
  if (auto reason = JsonString(object, "reason")) status.reason = *reason;
  if (auto message = JsonString(object, "message")) status.message = *message;
  return status;
}

std::optional<ApiStatus> ParseStatusJson(std::string_view json) {
  Result<JsonPtr> root = LoadJson(json, JSON_REJECT_DUPLICATES);
  return root.ok() ? ParseStatus(root->get()) : std::nullopt;
}

namespace {

std::optional<int> Digits(std::string_view s, size_t pos, size_t n) {
  if (pos + n > s.size()) return std::nullopt;
  int v = 0;
  for (size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return std::nullopt;
    v = v * 10 + (s[i] - '0');
  }
  return v;
}

// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

}  // namespace

std::optional<int64_t> ParseTimestamp(std::string_view s) {
  auto year = Digits(s, 0, 4), month = Digits(s, 5, 2), day = Digits(s, 8, 2);
  auto hour = Digits(s, 11, 2), minute = Digits(s, 14, 2), second = Digits(s, 17, 2);
  if (!year || !month || !day || !hour || !minute || !second) return std::nullopt;
  if (s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') || s[13] != ':' || s[16] != ':') {
    return std::nullopt;
  }
  if (*month < 1 || *month > 12 || *day < 1 || *day > 31 || *hour > 23 || *minute > 59 || *second > 60) {
    return std::nullopt;
  }
  size_t pos = 19;
  if (pos < s.size() && s[pos] == '.') {
    size_t start = ++pos;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') ++pos;
    if (pos == start) return std::nullopt;
  }
  int64_t offset = 0;
  if (pos < s.size() && (s[pos] == 'Z' || s[pos] == 'z')) {
    ++pos;
  } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
    auto oh = Digits(s, pos + 1, 2), om = Digits(s, pos + 4, 2);
    if (!oh || !om || s[pos + 3] != ':' || *oh > 23 || *om > 59) return std::nullopt;
    offset = int64_t{*oh * 60 + *om} * 60 * (s[pos] == '+' ? 1 : -1);
    pos += 6;
  } else {
    return std::nullopt;
  }
  if (pos != s.size()) return std::nullopt;
  int64_t days = DaysFromCivil(*year, static_cast<unsigned>(*month), static_cast<unsigned>(*day));
  return days * 86400 + int64_t{*hour} * 3600 + int64_t{*minute} * 60 + *second - offset;
}

}  // namespace swg::k8s
