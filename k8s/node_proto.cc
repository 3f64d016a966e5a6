#include "k8s/node_proto.h"

#include <algorithm>
#include <cctype>

#include "common/strings.h"
#include "k8s/json_load.h"
#include "k8s/proto_reader.h"

namespace swg::k8s {
namespace {

constexpr std::string_view kMagic("k8s\0", 4);

// The outside-the-items bound of a list applies to the envelope's other fields and the list's metadata.
constexpr size_t kMaxOutside = NodeListStreamParser::kMaxOutsideItemsBytes;

// Field numbers (generated.proto).
namespace field {
// runtime.Unknown
constexpr uint32_t kUnknownTypeMeta = 1, kUnknownRaw = 2, kUnknownContentEncoding = 3;
// runtime.TypeMeta
constexpr uint32_t kTypeApiVersion = 1, kTypeKind = 2;
// v1.Node, v1.NodeList
constexpr uint32_t kNodeMetadata = 1, kNodeSpec = 2, kNodeStatus = 3;
constexpr uint32_t kListMetadata = 1, kListItems = 2;
// metav1.ObjectMeta
constexpr uint32_t kMetaName = 1, kMetaUid = 5, kMetaResourceVersion = 6, kMetaCreation = 8,
                   kMetaAnnotations = 12;
// metav1.ListMeta
constexpr uint32_t kListMetaResourceVersion = 2, kListMetaContinue = 3;
// metav1.Time; map entries
constexpr uint32_t kTimeSeconds = 1, kMapKey = 1, kMapValue = 2;
// v1.NodeSpec
constexpr uint32_t kSpecPodCidr = 1, kSpecPodCidrs = 7;
// v1.NodeStatus, v1.NodeAddress, v1.NodeCondition
constexpr uint32_t kStatusConditions = 4, kStatusAddresses = 5;
constexpr uint32_t kAddressType = 1, kAddressAddress = 2;
constexpr uint32_t kConditionType = 1, kConditionStatus = 2, kConditionReason = 5, kConditionMessage = 6;
// metav1.WatchEvent, runtime.RawExtension
constexpr uint32_t kEventType = 1, kEventObject = 2, kRawExtensionRaw = 1;
// metav1.Status
constexpr uint32_t kStatusMessage = 3, kStatusReason = 4, kStatusCode = 6;
}  // namespace field

// Decoders keep the first error (a reader's, with its byte) here; every Read returns false once it is set.
class Decoder {
 protected:
  bool Check(const ProtoReader& in) {
    if (in.ok()) return true;
    if (error_.empty()) error_ = in.error();
    return false;
  }
  // A known field of the wrong wire type: the message is not what it claims to be.
  bool Expect(ProtoReader& in, const ProtoField& f, WireType want, std::string_view name) {
    if (f.type == want) return true;
    in.FailField(std::string(name) + " (field " + std::to_string(f.number) + "): expected " +
                 std::string(WireTypeName(want)) + ", got " + std::string(WireTypeName(f.type)));
    return Check(in);
  }
  bool String(ProtoReader& in, const ProtoField& f, std::string_view name, std::string* out) {
    if (!Expect(in, f, WireType::kBytes, name)) return false;
    out->assign(f.bytes);
    return true;
  }
  // Reads every field of `in` with `each` (which returns false on an error).
  template <typename F>
  bool Each(ProtoReader in, F each) {
    if (!Check(in)) return false;
    ProtoField f;
    while (in.Next(&f)) {
      if (!each(in, f)) return false;
    }
    return Check(in);
  }

 public:
  const std::string& error() const { return error_; }

 private:
  std::string error_;
};

class NodeDecoder : public Decoder {
 public:
  explicit NodeDecoder(const AnnotationFilter& filter) : filter_(filter) {}

  bool Read(const ProtoReader& in);
  Result<NodeInfo> Finish(size_t message_size);
  // What was read, before Finish checks it (a BOOKMARK's object is a Node with only a resourceVersion).
  const NodeInfo& partial() const { return node_; }

 private:
  bool ReadMetadata(const ProtoReader& in);
  bool ReadSpec(const ProtoReader& in);
  bool ReadStatus(const ProtoReader& in);
  // As node_reader.cc: what a NodeInfo keeps is bounded as jansson's tree of the JSON was.
  void Keep(size_t bytes) {
    kept_ += bytes + 64;
    if (kept_ > kMaxJsonTreeBytes) over_limit_ = true;
  }

  const AnnotationFilter& filter_;
  NodeInfo node_;
  std::string pod_cidr_;
  bool have_metadata_ = false;
  size_t kept_ = 0;
  bool over_limit_ = false;
};

bool NodeDecoder::Read(const ProtoReader& node) {
  return Each(node, [this](ProtoReader& in, const ProtoField& f) {
    switch (f.number) {
      case field::kNodeMetadata:
        have_metadata_ = true;
        return Expect(in, f, WireType::kBytes, "metadata") && ReadMetadata(in.Nested(f));
      case field::kNodeSpec:
        return Expect(in, f, WireType::kBytes, "spec") && ReadSpec(in.Nested(f));
      case field::kNodeStatus:
        return Expect(in, f, WireType::kBytes, "status") && ReadStatus(in.Nested(f));
      default:
        return true;
    }
  });
}

bool NodeDecoder::ReadMetadata(const ProtoReader& meta) {
  return Each(meta, [this](ProtoReader& in, const ProtoField& f) {
    switch (f.number) {
      case field::kMetaName:
        return String(in, f, "metadata.name", &node_.name);
      case field::kMetaUid:
        return String(in, f, "metadata.uid", &node_.uid);
      case field::kMetaResourceVersion:
        return String(in, f, "metadata.resourceVersion", &node_.resource_version);
      case field::kMetaCreation:
        if (!Expect(in, f, WireType::kBytes, "metadata.creationTimestamp")) return false;
        return Each(in.Nested(f), [this](ProtoReader& t, const ProtoField& tf) {
          if (tf.number != field::kTimeSeconds) return true;
          if (!Expect(t, tf, WireType::kVarint, "metadata.creationTimestamp.seconds")) return false;
          node_.creation_timestamp = static_cast<int64_t>(tf.varint);
          return true;
        });
      case field::kMetaAnnotations: {
        if (!Expect(in, f, WireType::kBytes, "metadata.annotations")) return false;
        std::string_view key, value;
        bool read = Each(in.Nested(f), [&](ProtoReader& e, const ProtoField& ef) {
          if (ef.number != field::kMapKey && ef.number != field::kMapValue) return true;
          if (!Expect(e, ef, WireType::kBytes, "metadata.annotations entry")) return false;
          (ef.number == field::kMapKey ? key : value) = ef.bytes;
          return true;
        });
        if (!read || over_limit_ || !filter_.Keeps(key)) return read;
        Keep(key.size() + value.size() + 64);
        // A key twice in the map: the last one wins, as in Go's decoder.
        node_.annotations.insert_or_assign(std::string(key), std::string(value));
        return true;
      }
      default:
        return true;
    }
  });
}

bool NodeDecoder::ReadSpec(const ProtoReader& spec) {
  return Each(spec, [this](ProtoReader& in, const ProtoField& f) {
    if (f.number == field::kSpecPodCidr) return String(in, f, "spec.podCIDR", &pod_cidr_);
    if (f.number != field::kSpecPodCidrs) return true;
    if (!Expect(in, f, WireType::kBytes, "spec.podCIDRs")) return false;
    if (over_limit_) return true;
    node_.pod_cidrs.emplace_back(f.bytes);
    Keep(f.bytes.size());
    return true;
  });
}

bool NodeDecoder::ReadStatus(const ProtoReader& status) {
  return Each(status, [this](ProtoReader& in, const ProtoField& f) {
    if (f.number == field::kStatusAddresses) {
      if (!Expect(in, f, WireType::kBytes, "status.addresses")) return false;
      NodeAddress a;
      bool read = Each(in.Nested(f), [&](ProtoReader& e, const ProtoField& ef) {
        if (ef.number == field::kAddressType) return String(e, ef, "status.addresses.type", &a.type);
        if (ef.number == field::kAddressAddress) return String(e, ef, "status.addresses.address", &a.address);
        return true;
      });
      if (!read || over_limit_) return read;
      Keep(a.type.size() + a.address.size());
      node_.addresses.push_back(std::move(a));
      return true;
    }
    if (f.number != field::kStatusConditions || filter_.condition_prefix.empty()) return true;
    if (!Expect(in, f, WireType::kBytes, "status.conditions")) return false;
    NodeCondition c;
    bool read = Each(in.Nested(f), [&](ProtoReader& e, const ProtoField& ef) {
      switch (ef.number) {
        case field::kConditionType:
          return String(e, ef, "status.conditions.type", &c.type);
        case field::kConditionStatus:
          return String(e, ef, "status.conditions.status", &c.status);
        case field::kConditionReason:
          return String(e, ef, "status.conditions.reason", &c.reason);
        case field::kConditionMessage:
          return String(e, ef, "status.conditions.message", &c.message);
        default:
          return true;
      }
    });
    if (!read || over_limit_ || !StartsWith(c.type, filter_.condition_prefix)) return read;
    Keep(c.type.size() + c.status.size() + c.reason.size() + c.message.size());
    node_.conditions.push_back(std::move(c));
    return true;
  });
}

Result<NodeInfo> NodeDecoder::Finish(size_t message_size) {
  if (over_limit_) {
    return Error{"node: needs more than " + SizeText(kMaxJsonTreeBytes) + " of memory to parse (" +
                     std::to_string(message_size) + " bytes of protobuf)",
                 kErrorOverLimit};
  }
  if (!have_metadata_) return Error{"node: metadata is missing"};
  if (node_.name.empty()) return Error{"node: metadata.name is missing or empty"};
  if (node_.pod_cidrs.empty() && !pod_cidr_.empty()) node_.pod_cidrs.push_back(std::move(pod_cidr_));
  return std::move(node_);
}

// The envelope's fields other than raw.
class EnvelopeDecoder : public Decoder {
 public:
  bool Read(const ProtoReader& unknown, ProtoEnvelope* out) {
    std::string encoding;
    bool have_raw = false;
    bool read = Each(unknown, [&](ProtoReader& in, const ProtoField& f) {
      switch (f.number) {
        case field::kUnknownTypeMeta:
          return Expect(in, f, WireType::kBytes, "typeMeta") && ReadTypeMeta(in.Nested(f), out);
        case field::kUnknownRaw:
          have_raw = true;
          if (!Expect(in, f, WireType::kBytes, "raw")) return false;
          out->raw = f.bytes;
          return true;
        case field::kUnknownContentEncoding:
          return String(in, f, "contentEncoding", &encoding);
        default:
          return true;
      }
    });
    if (!read) return false;
    if (!encoding.empty()) return Refuse("contentEncoding " + Quote(encoding) + " is not supported");
    if (!have_raw) return Refuse("the envelope has no raw object");
    return true;
  }
  bool ReadTypeMeta(const ProtoReader& type, ProtoEnvelope* out) {
    return Each(type, [&](ProtoReader& in, const ProtoField& f) {
      if (f.number == field::kTypeApiVersion) return String(in, f, "typeMeta.apiVersion", &out->api_version);
      if (f.number == field::kTypeKind) return String(in, f, "typeMeta.kind", &out->kind);
      return true;
    });
  }
  bool Refuse(std::string why) {
    ProtoReader none({});
    none.Fail(why);
    return Check(none);
  }
};

class StatusDecoder : public Decoder {
 public:
  bool Read(const ProtoReader& status, ApiStatus* out) {
    return Each(status, [&](ProtoReader& in, const ProtoField& f) {
      switch (f.number) {
        case field::kStatusMessage:
          return String(in, f, "message", &out->message);
        case field::kStatusReason:
          return String(in, f, "reason", &out->reason);
        case field::kStatusCode:
          if (!Expect(in, f, WireType::kVarint, "code")) return false;
          // int32 on the wire; as ParseStatus: only plausible HTTP codes.
          if (f.varint < 1000) out->code = static_cast<int>(f.varint);
          return true;
        default:
          return true;
      }
    });
  }
};

// A bare metav1.Status message.
std::optional<ApiStatus> ReadStatusMessage(std::string_view message) {
  ApiStatus status;
  StatusDecoder d;
  if (!d.Read(ProtoReader(message), &status)) return std::nullopt;
  return status;
}

// An object that may come with or without the envelope: its kind ("" when bare) and message.
Result<ProtoEnvelope> MaybeEnveloped(std::string_view data) {
  if (data.substr(0, kMagic.size()) == kMagic) return ReadProtoEnvelope(data);
  ProtoEnvelope e;
  e.raw = data;
  return e;
}

}  // namespace

bool IsProtobufContentType(std::string_view content_type) {
  std::string_view media = Trim(content_type.substr(0, content_type.find(';')));
  if (media.size() != kProtobufMediaType.size()) return false;
  return std::equal(media.begin(), media.end(), kProtobufMediaType.begin(),
                    [](char a, char b) { return std::tolower(static_cast<unsigned char>(a)) == b; });
}

Result<ProtoEnvelope> ReadProtoEnvelope(std::string_view data) {
  if (data.substr(0, kMagic.size()) != kMagic) {
    return Error{"protobuf: the body does not start with \"k8s\\0\" (" + std::to_string(data.size()) +
                 " bytes)"};
  }
  ProtoEnvelope out;
  EnvelopeDecoder d;
  if (!d.Read(ProtoReader(data.substr(kMagic.size()), kMagic.size()), &out)) return Error{d.error()};
  return out;
}

Result<NodeInfo> ReadNodeProto(std::string_view message, const AnnotationFilter& filter) {
  NodeDecoder d(filter);
  if (!d.Read(ProtoReader(message))) return Error{"node: " + d.error()};
  return d.Finish(message.size());
}

Result<NodeInfo> ParseNodeProto(std::string_view body, const AnnotationFilter& filter) {
  Result<ProtoEnvelope> e = ReadProtoEnvelope(body);
  if (!e.ok()) return Error{"node: " + e.error().message};
  if (!e->kind.empty() && !IsNodeKind(e->kind)) return Error{"expected a Node, got kind " + Quote(e->kind)};
  return ReadNodeProto(e->raw, filter);
}

std::optional<ApiStatus> ParseStatusProto(std::string_view body) {
  Result<ProtoEnvelope> e = ReadProtoEnvelope(body);
  if (!e.ok() || e->kind != "Status") return std::nullopt;
  return ReadStatusMessage(e->raw);
}

// ---- NodeList ----

ProtoListStreamParser::ProtoListStreamParser(AnnotationFilter filter, size_t max_item_bytes,
                                             NodeListStreamParser::ItemCallback on_item)
    : filter_(std::move(filter)), max_item_bytes_(max_item_bytes), on_item_(std::move(on_item)) {}

Status ProtoListStreamParser::Fail(std::string message, int code) {
  failed_ = true;
  return Error{"node list: " + std::move(message), code};
}

Status ProtoListStreamParser::Feed(std::string_view chunk) {
  if (failed_) return Error{"node list: already failed"};
  // Reads from the chunk itself unless bytes of an unfinished field wait in buf_.
  const bool own = buf_.empty();
  if (!own) buf_.append(chunk);
  std::string_view data = own ? chunk : std::string_view(buf_);
  size_t pos = 0;
  while (true) {
    std::string_view rest = data.substr(pos);
    if (skip_ > 0) {
      const size_t n = static_cast<size_t>(std::min<uint64_t>(skip_, rest.size()));
      pos += n;
      skip_ -= n;
      if (level_ == Level::kList) list_left_ -= n;
      if (skip_ > 0) break;
      continue;
    }
    const size_t at = buf_at_ + pos;
    if (level_ == Level::kMagic) {
      if (rest.size() < kMagic.size()) break;
      if (rest.substr(0, kMagic.size()) != kMagic)
        return Fail("protobuf body does not start with \"k8s\\0\"");
      pos += kMagic.size();
      level_ = Level::kUnknown;
      continue;
    }
    if (level_ == Level::kList && list_left_ == 0) {
      level_ = Level::kUnknown;
      continue;
    }
    if (rest.empty()) break;
    // A field's tag, then its length or value.
    uint64_t tag = 0, value = 0;
    size_t tag_len = 0, value_len = 0;
    bool invalid = false;
    if (!ReadVarintPrefix(rest, &tag, &tag_len, &invalid)) {
      if (invalid) return Fail("protobuf at byte " + std::to_string(at) + ": varint longer than 10 bytes");
      break;
    }
    const uint64_t number = tag >> 3;
    const auto wire = static_cast<unsigned>(tag & 7);
    if (number == 0 || number > 0x1fffffff)
      return Fail("protobuf at byte " + std::to_string(at) + ": invalid field number " +
                  std::to_string(number));
    uint64_t header = tag_len, size = 0;  // header bytes, then `size` bytes of value
    if (wire == 0 || wire == 2) {
      if (!ReadVarintPrefix(rest.substr(tag_len), &value, &value_len, &invalid)) {
        if (invalid) return Fail("protobuf at byte " + std::to_string(at) + ": varint longer than 10 bytes");
        break;
      }
      header += value_len;
      if (wire == 2) size = value;
    } else if (wire == 1 || wire == 5) {
      size = wire == 1 ? 8 : 4;
    } else {
      return Fail("protobuf at byte " + std::to_string(at) + ": field " + std::to_string(number) +
                  (wire == 3 || wire == 4 ? ": group wire type " : ": invalid wire type ") +
                  std::to_string(wire));
    }
    if (level_ == Level::kList && header + size > list_left_) {
      return Fail("protobuf at byte " + std::to_string(at) + ": field " + std::to_string(number) +
                  " runs past the end of the list");
    }
    // The fields read here are all length-delimited: one of another type is not the message it claims to be.
    const bool read_here = level_ == Level::kList
                               ? number == field::kListMetadata || number == field::kListItems
                               : number >= 1 && number <= 3;
    if (read_here && wire != 2) {
      return Fail("protobuf at byte " + std::to_string(at) + ": field " + std::to_string(number) +
                  ": expected length-delimited, got wire type " + std::to_string(wire));
    }
    if (level_ == Level::kUnknown && number == 2 && wire == 2) {  // Unknown.raw: the NodeList itself
      if (have_list_) return Fail("protobuf at byte " + std::to_string(at) + ": a second raw object");
      have_list_ = true;
      level_ = Level::kList;
      list_left_ = size;
      pos += static_cast<size_t>(header);
      continue;
    }
    const bool item = level_ == Level::kList && number == field::kListItems && wire == 2;
    const bool known =
        item ||
        (wire == 2 && (level_ == Level::kList ? number == field::kListMetadata : number == 1 || number == 3));
    if (!known) {  // skipped by its length, never kept
      pos += static_cast<size_t>(header);
      if (level_ == Level::kList) list_left_ -= header;
      skip_ = size;
      continue;
    }
    if (item && size > max_item_bytes_) {
      return Fail("items[" + std::to_string(items_) + "] (at byte " + std::to_string(at) +
                      ") is larger than " + SizeText(max_item_bytes_),
                  kErrorOverLimit);
    }
    if (!item && size > kMaxOutside)
      return Fail("more than " + SizeText(kMaxOutside) + " outside the items", kErrorOverLimit);
    if (rest.size() < header + size) break;
    const std::string_view bytes = rest.substr(static_cast<size_t>(header), static_cast<size_t>(size));
    pos += static_cast<size_t>(header + size);
    if (level_ == Level::kList) list_left_ -= header + size;
    if (Status s = Field(static_cast<uint32_t>(number), bytes, at + static_cast<size_t>(header)); !s.ok())
      return s;
  }
  // Keeps the unfinished field's bytes; the buffer keeps its capacity unless an item made it unusually large.
  if (own) {
    buf_.assign(data.substr(pos));
  } else {
    buf_.erase(0, pos);
    if (buf_.capacity() > (256u << 10) && buf_.size() < (64u << 10)) buf_.shrink_to_fit();
  }
  buf_at_ += pos;
  return Ok();
}

Status ProtoListStreamParser::Field(uint32_t number, std::string_view value, size_t at) {
  if (level_ == Level::kUnknown) {
    ProtoEnvelope envelope;
    EnvelopeDecoder d;
    if (number == field::kUnknownTypeMeta) {
      if (!d.ReadTypeMeta(ProtoReader(value, at), &envelope)) return Fail(d.error());
      if (!envelope.kind.empty() && envelope.kind != "NodeList")
        return Fail("expected kind \"NodeList\", got " + Quote(envelope.kind));
    } else if (number == field::kUnknownContentEncoding && !value.empty()) {
      return Fail("contentEncoding " + Quote(value) + " is not supported");
    }
    return Ok();
  }
  if (number == field::kListMetadata) {
    have_meta_ = true;
    continue_ = "";
    ProtoReader in(value, at);
    ProtoField f;
    while (in.Next(&f)) {
      if (f.number != field::kListMetaResourceVersion && f.number != field::kListMetaContinue) continue;
      if (f.type != WireType::kBytes) {
        in.FailField("metadata field " + std::to_string(f.number) + ": expected length-delimited");
        break;
      }
      (f.number == field::kListMetaResourceVersion ? resource_version_ : *continue_).assign(f.bytes);
    }
    if (!in.ok()) return Fail(in.error());
    return Ok();
  }
  const size_t index = items_++;
  NodeDecoder d(filter_);
  if (!d.Read(ProtoReader(value, at)))
    return Fail("items[" + std::to_string(index) + "]: node: " + d.error());
  Result<NodeInfo> node = d.Finish(value.size());
  if (!node.ok())
    return Fail("items[" + std::to_string(index) + "]: " + node.error().message, node.error().code);
  Status s = on_item_(std::move(node).value());
  if (!s.ok()) failed_ = true;
  return s;
}

Result<NodeListPage> ProtoListStreamParser::Finish() {
  if (failed_) return Error{"node list: already failed"};
  if (level_ != Level::kUnknown || !buf_.empty() || skip_ > 0) {
    return Error{"node list: the body ended after " + std::to_string(buf_at_ + buf_.size()) +
                 " bytes, before the list was complete"};
  }
  if (!have_list_) return Error{"node list: the protobuf envelope holds no list"};
  if (!have_meta_) return Error{"node list: metadata is missing or not an object"};
  if (resource_version_.empty())
    return Error{"node list: metadata.resourceVersion is missing or not a string"};
  NodeListPage page;
  page.resource_version = resource_version_;
  page.continue_token = continue_.value_or("");
  return page;
}

// ---- Watch ----

ProtoWatchStreamParser::ProtoWatchStreamParser(AnnotationFilter filter, size_t max_event_bytes)
    : filter_(std::move(filter)), max_event_bytes_(max_event_bytes) {}

Status ProtoWatchStreamParser::Fail(const std::string& message, int code) {
  failed_ = true;
  return Error{"watch stream: " + message, code};
}

Status ProtoWatchStreamParser::Feed(std::string_view chunk,
                                    const std::function<bool(WatchEvent&&)>& on_event) {
  if (failed_) return Error{"watch stream: already failed"};
  const bool own = buf_.empty();
  if (!own) buf_.append(chunk);
  std::string_view data = own ? chunk : std::string_view(buf_);
  size_t pos = 0;
  bool stopped = false;
  while (data.size() - pos >= 4) {
    const auto* p = reinterpret_cast<const unsigned char*>(data.data() + pos);
    const size_t length = (size_t{p[0]} << 24) | (size_t{p[1]} << 16) | (size_t{p[2]} << 8) | size_t{p[3]};
    const size_t at = buf_at_ + pos;
    if (length > max_event_bytes_) {
      return Fail("event at byte " + std::to_string(at) + " is larger than " +
                      std::to_string(max_event_bytes_) + " bytes",
                  kErrorOverLimit);
    }
    if (data.size() - pos - 4 < length) break;
    WatchEvent event;
    Status decoded = Decode(data.substr(pos + 4, length), at, event);
    pos += 4 + length;
    if (!decoded.ok()) return decoded;
    if (!on_event(std::move(event))) {
      stopped = true;
      break;
    }
  }
  if (stopped) {
    std::string().swap(buf_);
  } else if (own) {
    buf_.assign(data.substr(pos));
  } else {
    buf_.erase(0, pos);
    if (buf_.empty()) std::string().swap(buf_);
  }
  buf_at_ += stopped ? data.size() : pos;
  return Ok();
}

Status ProtoWatchStreamParser::Decode(std::string_view frame, size_t offset, WatchEvent& event) {
  // Worded only on an error: a Node event allocates nothing but its NodeInfo.
  auto at = [offset] { return "event at byte " + std::to_string(offset); };
  Result<ProtoEnvelope> outer = MaybeEnveloped(frame);
  if (!outer.ok()) return Fail(at() + ": " + outer.error().message);
  std::string type;
  std::string_view object;
  bool have_object = false;
  ProtoReader in(outer->raw, offset + 4 + static_cast<size_t>(outer->raw.data() - frame.data()));
  ProtoField f;
  while (in.Next(&f)) {
    if (f.number == field::kEventType && f.type == WireType::kBytes) {
      type.assign(f.bytes);
    } else if (f.number == field::kEventObject && f.type == WireType::kBytes) {
      ProtoReader raw = in.Nested(f);
      ProtoField rf;
      while (raw.Next(&rf)) {
        if (rf.number == field::kRawExtensionRaw && rf.type == WireType::kBytes) {
          object = rf.bytes;
          have_object = true;
        }
      }
      if (!raw.ok()) return Fail(at() + ": " + raw.error());
    }
  }
  if (!in.ok()) return Fail(at() + ": " + in.error());
  if (type.empty()) return Fail(at() + ": \"type\" is missing or not a string");
  if (!have_object) return Fail(at() + " (" + type + "): \"object\" is missing or not an object");
  Result<ProtoEnvelope> inner = MaybeEnveloped(object);
  if (!inner.ok()) return Fail(at() + " (" + type + "): " + inner.error().message);
  auto where = [&] { return at() + " (" + type + "): "; };
  if (type == "ADDED" || type == "MODIFIED" || type == "DELETED") {
    event.type = type == "ADDED"      ? WatchEventType::kAdded
                 : type == "MODIFIED" ? WatchEventType::kModified
                                      : WatchEventType::kDeleted;
    // PartialObjectMetadata: a metadata-only watch (kNodeMetadataAccept); its field 1 is a Node's metadata.
    if (!inner->kind.empty() && !IsNodeKind(inner->kind))
      return Fail(where() + "expected a Node, got kind " + Quote(inner->kind));
    Result<NodeInfo> node = ReadNodeProto(inner->raw, filter_);
    if (!node.ok()) return Fail(where() + node.error().message, node.error().code);
    event.node = std::move(node).value();
    event.resource_version = event.node.resource_version;
  } else if (type == "BOOKMARK") {
    event.type = WatchEventType::kBookmark;
    NodeDecoder d(AnnotationFilter::Only({}));
    if (!d.Read(ProtoReader(inner->raw))) return Fail(where() + d.error());
    if (d.partial().resource_version.empty()) return Fail(where() + "metadata.resourceVersion is missing");
    event.resource_version = d.partial().resource_version;
  } else if (type == "ERROR") {
    event.type = WatchEventType::kError;
    std::optional<ApiStatus> status =
        inner->kind.empty() || inner->kind == "Status" ? ReadStatusMessage(inner->raw) : std::nullopt;
    if (status) {
      event.status = std::move(*status);
    } else {
      event.status.message = "ERROR event without a Status (" + std::to_string(inner->raw.size()) +
                             " bytes of protobuf, kind " + Quote(inner->kind) + ")";
    }
  } else {
    return Fail(at() + ": unknown event type " + Quote(type));
  }
  return Ok();
}

}  // namespace swg::k8s
