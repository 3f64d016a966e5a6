#pragma once
// Internal to k8s/: what the agent reads of Nodes in Kubernetes' protobuf encoding
// (application/vnd.kubernetes.protobuf), into the same NodeInfo, with the same filter and the same bounds as
// the JSON readers (node_reader.h, list_stream.h, watch_stream.h). A realistic Node is about 80% of its
// JSON's bytes (its strings dominate) and is read about 8 times faster: lengths instead of scanning and
// unescaping text. Field numbers are those of k8s.io/api core/v1 and
// apimachinery's meta/v1 and runtime generated.proto (v0.36).
//
// A protobuf body is "k8s\0" then a runtime.Unknown {typeMeta, raw, contentEncoding, contentType} whose raw
// is the object's own message. A watch body is frames of a 4-byte big-endian length then a metav1.WatchEvent
// {type, object: RawExtension{raw}} (the apiserver writes it without the envelope; one with it is read too),
// whose raw is the enveloped object (or the bare one).

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "k8s/list_stream.h"
#include "k8s/node.h"
#include "k8s/parse.h"
#include "k8s/watch_stream.h"

namespace swg::k8s {

inline constexpr std::string_view kProtobufMediaType = "application/vnd.kubernetes.protobuf";
// What requests reading Nodes accept: protobuf first, JSON for servers and proxies that do not speak it.
inline constexpr std::string_view kNodeAccept = "application/vnd.kubernetes.protobuf, application/json";
// A watch of the Nodes' metadata only (PartialObjectMetadata: name, uid, resourceVersion, creationTimestamp,
// annotations; about a fifth of a Node), protobuf first; whole Nodes from a server that cannot.
inline constexpr std::string_view kNodeMetadataAccept =
    "application/vnd.kubernetes.protobuf;as=PartialObjectMetadata;g=meta.k8s.io;v=v1, "
    "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1, application/json";
inline constexpr std::string_view kNodeMetadataAcceptJson =
    "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1, application/json";
// A Content-Type header names protobuf (parameters such as ";stream=watch" aside).
bool IsProtobufContentType(std::string_view content_type);

// The envelope: "k8s\0" + runtime.Unknown. `raw` points into the input.
struct ProtoEnvelope {
  std::string api_version, kind;
  std::string_view raw;
};
Result<ProtoEnvelope> ReadProtoEnvelope(std::string_view data);

// A bare v1.Node message (no envelope).
Result<NodeInfo> ReadNodeProto(std::string_view message, const AnnotationFilter& filter);
// A body holding one enveloped Node (GET, PATCH answers): kind must be Node.
Result<NodeInfo> ParseNodeProto(std::string_view body, const AnnotationFilter& filter);
// A body holding an enveloped metav1.Status, or nullopt when it is not one.
std::optional<ApiStatus> ParseStatusProto(std::string_view body);

// A NodeList body parsed as it arrives, as NodeListStreamParser parses JSON: each item is decoded once its
// bytes are there (at most max_item_bytes, refused as soon as its length says it is larger) and handed over;
// everything else is at most kMaxOutsideItemsBytes. The same outcome however the body is cut.
class ProtoListStreamParser : public ListBodyParser {
 public:
  ProtoListStreamParser(AnnotationFilter filter, size_t max_item_bytes,
                        NodeListStreamParser::ItemCallback on_item);
  Status Feed(std::string_view chunk) override;
  Result<NodeListPage> Finish() override;
  size_t items() const override { return items_; }
  const std::optional<std::string>& continue_token() const override { return continue_; }

 private:
  enum class Level { kMagic, kUnknown, kList };
  Status Fail(std::string message, int code = 0);
  // Consumes what it can of buf_; false when more bytes are needed.
  Result<bool> Step();
  Status Field(uint32_t number, std::string_view value, size_t at);

  AnnotationFilter filter_;
  size_t max_item_bytes_;
  NodeListStreamParser::ItemCallback on_item_;
  std::string buf_;    // bytes not consumed yet
  size_t buf_at_ = 0;  // stream offset of buf_[0]
  Level level_ = Level::kMagic;
  uint64_t list_left_ = 0;  // bytes of the NodeList message (Unknown.raw) not consumed yet
  uint64_t skip_ = 0;       // bytes of a field skipped without being kept
  bool have_list_ = false, have_meta_ = false, failed_ = false;
  std::string kind_, resource_version_;
  std::optional<std::string> continue_;
  size_t items_ = 0;
};

// A protobuf watch body, as WatchStreamParser reads JSON: frames decoded as they complete, a frame longer
// than max_event_bytes refused as soon as its length is read.
class ProtoWatchStreamParser : public WatchBodyParser {
 public:
  explicit ProtoWatchStreamParser(AnnotationFilter filter,
                                  size_t max_event_bytes = WatchStreamParser::kDefaultMaxEventBytes);
  using WatchBodyParser::Feed;
  Status Feed(std::string_view chunk, const std::function<bool(WatchEvent&&)>& on_event) override;
  size_t buffered() const override { return buf_.size(); }

 private:
  Status Decode(std::string_view frame, size_t at, WatchEvent& event);
  Status Fail(const std::string& message, int code = 0);

  AnnotationFilter filter_;
  size_t max_event_bytes_;
  std::string buf_;    // an unfinished frame (length prefix included)
  size_t buf_at_ = 0;  // stream offset of buf_[0]
  bool failed_ = false;
};

}  // namespace swg::k8s
