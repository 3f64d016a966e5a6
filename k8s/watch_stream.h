#pragma once
// The body of a watch response: a stream of JSON objects {"type":..,"object":{..}}, each usually followed by
// a newline, cut into chunks anywhere (an event may span chunks; a chunk may hold several events). The parser
// buffers bytes until a whole value is there, then decodes it. Pure: no I/O, safe on any input.

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
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

class WatchStreamParser {
 public:
  static constexpr size_t kDefaultMaxEventBytes = 16u << 20;
  explicit WatchStreamParser(AnnotationFilter filter, size_t max_event_bytes = kDefaultMaxEventBytes);

  // Consumes a chunk and appends every event it completes to `out` (events decoded before an error are kept).
  // An error (not JSON, not an event, a bad Node, an event over the size limit) says what and at which byte
  // of the stream; the parser is unusable afterwards.
  Status Feed(std::string_view chunk, std::vector<WatchEvent>& out);

  // Bytes of an unfinished event held back (non-zero when a stream ends mid-event).
  size_t buffered() const { return buffer_.size() - start_; }
  size_t consumed() const { return consumed_; }

 private:
  Status Decode(std::string_view value, std::vector<WatchEvent>& out);
  Status Fail(const std::string& message);

  AnnotationFilter filter_;
  size_t max_event_bytes_;
  std::string buffer_;
  size_t start_ = 0;     // first byte of the value being scanned
  size_t scan_ = 0;      // next byte to scan
  size_t consumed_ = 0;  // stream offset of buffer_[0]
  int depth_ = 0;        // nesting depth inside the current value
  bool in_string_ = false;
  bool escaped_ = false;
  bool failed_ = false;
};

}  // namespace swg::k8s
