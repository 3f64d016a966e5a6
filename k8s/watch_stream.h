#pragma once
// The body of a watch response: a stream of JSON objects {"type":..,"object":{..}}, each usually followed by
// a newline, cut into chunks anywhere (an event may span chunks; a chunk may hold several events). The parser
// keeps only the bytes of an unfinished event, decodes each event once its last byte is there (its parse
// bounded as json_load.h says) and hands it over at once. Pure: no I/O, safe on any input.

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "k8s/json_scan.h"
#include "k8s/node.h"
#include "k8s/parse.h"

namespace swg::k8s {

enum class WatchEventType { kAdded, kModified, kDeleted, kBookmark, kError };
std::string_view WatchEventTypeName(WatchEventType type);

struct WatchEvent {
  WatchEventType type = WatchEventType::kAdded;
  NodeInfo node;                 // ADDED, MODIFIED, DELETED
  std::string resource_version;  // every type but ERROR (a BOOKMARK carries only this)
  ApiStatus status;              // ERROR
};

// A watch body read as it arrives, in JSON (WatchStreamParser) or protobuf (node_proto.h).
class WatchBodyParser {
 public:
  virtual ~WatchBodyParser() = default;
  // Consumes a chunk and calls on_event with each event it completes, in order; on_event returns false to
  // stop (the rest of the chunk is then ignored). An error (malformed, not an event, a bad Node, an event
  // over the size limit) says what and at which byte of the stream; the parser is unusable afterwards.
  virtual Status Feed(std::string_view chunk, const std::function<bool(WatchEvent&&)>& on_event) = 0;
  // The same, appending to `out` (events decoded before an error are kept).
  Status Feed(std::string_view chunk, std::vector<WatchEvent>& out);
  // Bytes of an unfinished event held back (non-zero when a stream ends mid-event).
  virtual size_t buffered() const = 0;
};

class WatchStreamParser : public WatchBodyParser {
 public:
  // One Node event: etcd keeps objects up to 1.5 MiB (protobuf); their JSON can be about twice that.
  static constexpr size_t kDefaultMaxEventBytes = 4u << 20;
  explicit WatchStreamParser(AnnotationFilter filter, size_t max_event_bytes = kDefaultMaxEventBytes);

  using WatchBodyParser::Feed;
  Status Feed(std::string_view chunk, const std::function<bool(WatchEvent&&)>& on_event) override;
  size_t buffered() const override { return buffer_.size(); }
  size_t consumed() const { return consumed_; }

 private:
  Status Decode(std::string_view value, size_t at, WatchEvent& event);
  Status Fail(const std::string& message, int code = 0);

  AnnotationFilter filter_;
  size_t max_event_bytes_;
  JsonNesting nesting_;
  std::string buffer_;  // the unfinished event's bytes from earlier chunks
  bool in_event_ = false;
  size_t event_at_ = 0;  // stream offset where the event being read starts
  size_t consumed_ = 0;  // stream offset of the chunk being fed
  bool failed_ = false;
};

}  // namespace swg::k8s
