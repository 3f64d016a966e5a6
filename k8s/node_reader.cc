#include "k8s/node_reader.h"

#include "common/strings.h"
#include "k8s/json_load.h"
#include "k8s/json_reader.h"

namespace swg::k8s {
namespace {

// A member read as a string when it is one; kind kNone when absent or null (as ParseNode's Member).
struct StringField {
  JsonKind kind = JsonKind::kNone;
  std::string value;
};

// The first error of its kind found in a list (annotations, podCIDRs, ...), worded once the node's name is
// known.
struct Pending {
  std::string field;
  std::string_view want;
  JsonKind got = JsonKind::kNone;
};

JsonKind Absent(JsonKind k) { return k == JsonKind::kNull ? JsonKind::kNone : k; }

// Reads one Node object, noting what ParseNode would check, then checks it in ParseNode's order.
class NodeReader {
 public:
  NodeReader(JsonReader& in, const AnnotationFilter& filter) : in_(in), filter_(filter) {}

  // At the object's '{'.
  bool Read();
  Result<NodeInfo> Finish();
  bool over_limit() const { return over_limit_; }

 private:
  bool ReadString(StringField& f);
  // The member's value when it is an object (read by `read`), else skipped; returns its kind.
  template <typename F>
  bool ObjectMember(JsonKind& kind, F read);
  template <typename F>
  bool ArrayMember(JsonKind& kind, F each);
  bool ReadMetadata();
  bool ReadSpec();
  bool ReadStatus();
  void Keep(size_t bytes);

  std::string Where(std::string_view field) const {
    std::string out = node_.name.empty() ? std::string("node") : "node " + Quote(node_.name);
    out += ": ";
    out += field;
    return out;
  }
  Error TypeError(std::string_view field, std::string_view want, JsonKind got) const {
    return Error{Where(field) + ": expected " + std::string(want) + ", got " + std::string(JsonKindName(got))};
  }
  Error TypeError(const Pending& p) const { return TypeError(p.field, p.want, p.got); }
  static void Note(std::optional<Pending>& slot, std::string field, std::string_view want, JsonKind got) {
    if (!slot) slot = Pending{std::move(field), want, got};
  }

  JsonReader& in_;
  const AnnotationFilter& filter_;
  NodeInfo node_;  // name set by Finish
  size_t kept_ = 0;
  bool over_limit_ = false;

  StringField kind_, name_, uid_, rv_, created_, pod_cidr_;
  JsonKind metadata_ = JsonKind::kNone, spec_ = JsonKind::kNone, status_ = JsonKind::kNone;
  JsonKind annotations_ = JsonKind::kNone, pod_cidrs_ = JsonKind::kNone, addresses_ = JsonKind::kNone,
           conditions_ = JsonKind::kNone;
  std::optional<Pending> bad_annotation_, bad_pod_cidr_, bad_address_, bad_condition_;
};

// What a NodeInfo keeps is bounded as jansson's tree of the text was (kMaxJsonTreeBytes); it is much less
// than the tree, so a document jansson could load never reaches it.
void NodeReader::Keep(size_t bytes) {
  kept_ += bytes + 64;
  if (kept_ > kMaxJsonTreeBytes) over_limit_ = true;
}

bool NodeReader::ReadString(StringField& f) {
  if (in_.PeekKind() == JsonKind::kString) {
    f.kind = JsonKind::kString;
    return in_.ReadString(&f.value);
  }
  JsonKind k;
  if (!in_.SkipValue(&k)) return false;
  f.kind = Absent(k);
  return true;
}

template <typename F>
bool NodeReader::ObjectMember(JsonKind& kind, F read) {
  if (in_.PeekKind() != JsonKind::kObject) {
    JsonKind k;
    if (!in_.SkipValue(&k)) return false;
    kind = Absent(k);
    return true;
  }
  kind = JsonKind::kObject;
  if (!in_.BeginObject()) return false;
  std::string_view key;
  while (in_.NextKey(&key)) {
    if (!read(key)) return false;
  }
  return in_.ok();
}

template <typename F>
bool NodeReader::ArrayMember(JsonKind& kind, F each) {
  if (in_.PeekKind() != JsonKind::kArray) {
    JsonKind k;
    if (!in_.SkipValue(&k)) return false;
    kind = Absent(k);
    return true;
  }
  kind = JsonKind::kArray;
  if (!in_.BeginArray()) return false;
  for (size_t i = 0; in_.NextElement(); ++i) {
    if (!each(i)) return false;
  }
  return in_.ok();
}

bool NodeReader::Read() {
  JsonKind top;
  return ObjectMember(top, [this](std::string_view key) {
    if (key == "kind") return ReadString(kind_);
    if (key == "metadata") return ReadMetadata();
    if (key == "spec") return ReadSpec();
    if (key == "status") return ReadStatus();
    return in_.SkipValue();
  });
}

bool NodeReader::ReadMetadata() {
  return ObjectMember(metadata_, [this](std::string_view key) {
    if (key == "name") return ReadString(name_);
    if (key == "uid") return ReadString(uid_);
    if (key == "resourceVersion") return ReadString(rv_);
    if (key == "creationTimestamp") return ReadString(created_);
    if (key != "annotations") return in_.SkipValue();
    return ObjectMember(annotations_, [this](std::string_view name) {
      if (in_.PeekKind() != JsonKind::kString) {
        JsonKind k;
        if (!in_.SkipValue(&k)) return false;
        Note(bad_annotation_, "metadata.annotations[" + Quote(name) + "]", "a string", k);
        return true;
      }
      if (bad_annotation_ || over_limit_ || !filter_.Keeps(name)) return in_.ReadString(nullptr);
      std::string value;
      if (!in_.ReadString(&value)) return false;
      Keep(name.size() + value.size() + 64);
      node_.annotations.emplace(std::string(name), std::move(value));
      return true;
    });
  });
}

bool NodeReader::ReadSpec() {
  return ObjectMember(spec_, [this](std::string_view key) {
    if (key == "podCIDR") return ReadString(pod_cidr_);
    if (key != "podCIDRs") return in_.SkipValue();
    return ArrayMember(pod_cidrs_, [this](size_t i) {
      if (in_.PeekKind() != JsonKind::kString) {
        JsonKind k;
        if (!in_.SkipValue(&k)) return false;
        Note(bad_pod_cidr_, "spec.podCIDRs[" + std::to_string(i) + "]", "a string", k);
        return true;
      }
      if (bad_pod_cidr_ || over_limit_) return in_.ReadString(nullptr);
      std::string& cidr = node_.pod_cidrs.emplace_back();
      if (!in_.ReadString(&cidr)) return false;
      Keep(cidr.size());
      return true;
    });
  });
}

bool NodeReader::ReadStatus() {
  return ObjectMember(status_, [this](std::string_view key) {
    if (key == "addresses") {
      return ArrayMember(addresses_, [this](size_t i) {
        StringField type, address;
        JsonKind kind;
        bool read = ObjectMember(kind, [&](std::string_view k) {
          if (k == "type") return ReadString(type);
          if (k == "address") return ReadString(address);
          return in_.SkipValue();
        });
        if (!read || bad_address_) return read;
        std::string field = "status.addresses[" + std::to_string(i) + "]";
        if (kind != JsonKind::kObject) {
          Note(bad_address_, field, "an object", kind == JsonKind::kNone ? JsonKind::kNull : kind);
        } else if (type.kind != JsonKind::kNone && type.kind != JsonKind::kString) {
          Note(bad_address_, field + ".type", "a string", type.kind);
        } else if (address.kind != JsonKind::kNone && address.kind != JsonKind::kString) {
          Note(bad_address_, field + ".address", "a string", address.kind);
        } else if (!over_limit_) {
          Keep(type.value.size() + address.value.size());
          node_.addresses.push_back({std::move(type.value), std::move(address.value)});
        }
        return true;
      });
    }
    if (key != "conditions" || filter_.condition_prefix.empty()) return in_.SkipValue();
    return ArrayMember(conditions_, [this](size_t i) {
      StringField f[4];
      static constexpr std::string_view kKeys[] = {"type", "status", "reason", "message"};
      JsonKind kind;
      bool read = ObjectMember(kind, [&](std::string_view k) {
        for (size_t n = 0; n < 4; ++n) {
          if (k == kKeys[n]) return ReadString(f[n]);
        }
        return in_.SkipValue();
      });
      if (!read || bad_condition_) return read;
      std::string field = "status.conditions[" + std::to_string(i) + "]";
      if (kind != JsonKind::kObject) {
        Note(bad_condition_, field, "an object", kind == JsonKind::kNone ? JsonKind::kNull : kind);
        return true;
      }
      for (size_t n = 0; n < 4; ++n) {
        if (f[n].kind != JsonKind::kNone && f[n].kind != JsonKind::kString) {
          Note(bad_condition_, field + "." + std::string(kKeys[n]), "a string", f[n].kind);
          return true;
        }
      }
      if (over_limit_ || !StartsWith(f[0].value, filter_.condition_prefix)) return true;
      Keep(f[0].value.size() + f[1].value.size() + f[2].value.size() + f[3].value.size());
      node_.conditions.push_back(
          {std::move(f[0].value), std::move(f[1].value), std::move(f[2].value), std::move(f[3].value)});
      return true;
    });
  });
}

// ParseNode's checks, in its order.
Result<NodeInfo> NodeReader::Finish() {
  if (kind_.kind == JsonKind::kString && !IsNodeKind(kind_.value))
    return Error{"expected a Node, got kind " + Quote(kind_.value)};
  if (metadata_ == JsonKind::kNone) return Error{"node: metadata is missing"};
  if (metadata_ != JsonKind::kObject) return TypeError("metadata", "an object", metadata_);
  auto string_field = [this](const StringField& f, std::string_view field) -> std::optional<Error> {
    if (f.kind != JsonKind::kNone && f.kind != JsonKind::kString) return TypeError(field, "a string", f.kind);
    return std::nullopt;
  };
  if (auto e = string_field(name_, "metadata.name")) return *e;
  if (name_.value.empty()) return Error{"node: metadata.name is missing or empty"};
  node_.name = std::move(name_.value);
  if (auto e = string_field(uid_, "metadata.uid")) return *e;
  node_.uid = std::move(uid_.value);
  if (auto e = string_field(rv_, "metadata.resourceVersion")) return *e;
  node_.resource_version = std::move(rv_.value);
  if (auto e = string_field(created_, "metadata.creationTimestamp")) return *e;
  if (created_.kind == JsonKind::kString) {
    std::optional<int64_t> t = ParseTimestamp(created_.value);
    if (!t) {
      return Error{Where("metadata.creationTimestamp") + ": not an RFC 3339 time: " + Quote(created_.value)};
    }
    node_.creation_timestamp = *t;
  }
  if (annotations_ != JsonKind::kNone && annotations_ != JsonKind::kObject)
    return TypeError("metadata.annotations", "an object", annotations_);
  if (bad_annotation_) return TypeError(*bad_annotation_);
  if (spec_ != JsonKind::kNone && spec_ != JsonKind::kObject) return TypeError("spec", "an object", spec_);
  if (pod_cidrs_ != JsonKind::kNone && pod_cidrs_ != JsonKind::kArray)
    return TypeError("spec.podCIDRs", "an array", pod_cidrs_);
  if (bad_pod_cidr_) return TypeError(*bad_pod_cidr_);
  if (auto e = string_field(pod_cidr_, "spec.podCIDR")) return *e;
  if (node_.pod_cidrs.empty() && !pod_cidr_.value.empty()) node_.pod_cidrs.push_back(std::move(pod_cidr_.value));
  if (status_ != JsonKind::kNone && status_ != JsonKind::kObject) return TypeError("status", "an object", status_);
  if (addresses_ != JsonKind::kNone && addresses_ != JsonKind::kArray)
    return TypeError("status.addresses", "an array", addresses_);
  if (bad_address_) return TypeError(*bad_address_);
  if (conditions_ != JsonKind::kNone && conditions_ != JsonKind::kArray)
    return TypeError("status.conditions", "an array", conditions_);
  if (bad_condition_) return TypeError(*bad_condition_);
  return std::move(node_);
}

Error OverLimit(size_t text_size) {
  return Error{"needs more than " + SizeText(kMaxJsonTreeBytes) + " of memory to parse (" +
                   std::to_string(text_size) + " bytes of JSON)",
               kErrorOverLimit};
}

}  // namespace

Result<NodeInfo> ReadNode(std::string_view json, const AnnotationFilter& filter, bool* malformed) {
  if (malformed) *malformed = false;
  JsonReader in(json);
  NodeReader reader(in, filter);
  const JsonKind top = in.PeekKind();
  bool read = false;
  if (top == JsonKind::kObject) {
    read = reader.Read();
  } else if (top == JsonKind::kArray) {
    read = in.SkipValue();
  } else {
    in.Fail("expected '{' or '['");
  }
  if (!read || !in.End()) {
    if (malformed) *malformed = true;
    return Error{"node: " + in.error()};
  }
  if (top != JsonKind::kObject) return Error{"node: object: expected an object, got array"};
  if (reader.over_limit()) return Error{"node: " + OverLimit(json.size()).message, kErrorOverLimit};
  return reader.Finish();
}

std::optional<NodeEvent> ReadNodeEvent(std::string_view json, const AnnotationFilter& filter) {
  JsonReader in(json);
  NodeReader reader(in, filter);
  NodeEvent event;
  bool have_type = false, have_node = false;
  if (!in.BeginObject()) return std::nullopt;
  std::string_view key;
  while (in.NextKey(&key)) {
    bool read;
    if (key == "type" && in.PeekKind() == JsonKind::kString) {
      read = in.ReadString(&event.type);
      have_type = event.type == "ADDED" || event.type == "MODIFIED" || event.type == "DELETED";
    } else if (key == "object" && have_type && in.PeekKind() == JsonKind::kObject) {
      read = reader.Read();
      have_node = true;
    } else {
      read = in.SkipValue();
    }
    if (!read) return std::nullopt;
  }
  if (!in.End() || !have_node) return std::nullopt;
  event.node = reader.over_limit() ? Result<NodeInfo>(OverLimit(json.size())) : reader.Finish();
  return event;
}

}  // namespace swg::k8s
