#include "k8s/watch_stream.h"

#include <jansson.h>

#include "common/json.h"
#include "common/strings.h"

namespace swg::k8s {

std::string_view WatchEventTypeName(WatchEventType type) {
  switch (type) {
    case WatchEventType::kAdded:
      return "ADDED";
    case WatchEventType::kModified:
      return "MODIFIED";
    case WatchEventType::kDeleted:
      return "DELETED";
    case WatchEventType::kBookmark:
      return "BOOKMARK";
    case WatchEventType::kError:
      return "ERROR";
  }
  return "?";
}

WatchStreamParser::WatchStreamParser(AnnotationFilter filter, size_t max_event_bytes)
    : filter_(std::move(filter)), max_event_bytes_(max_event_bytes) {}

Status WatchStreamParser::Fail(const std::string& message) {
  failed_ = true;
  return Error{"watch stream: " + message};
}

// Finds where each top-level value ends by tracking strings and nesting, so a value split across chunks waits
// for its remaining bytes instead of being mistaken for bad JSON; jansson then decodes exactly that value.
Status WatchStreamParser::Feed(std::string_view chunk, std::vector<WatchEvent>& out) {
  if (failed_) return Error{"watch stream: already failed"};
  buffer_.append(chunk);
  while (scan_ < buffer_.size()) {
    const char c = buffer_[scan_];
    if (depth_ == 0) {
      if (c == ' ' || c == '\n' || c == '\r' || c == '\t') {
        start_ = ++scan_;
        continue;
      }
      if (c != '{') {
        std::string shown = Quote(std::string_view(buffer_).substr(scan_, 16));
        return Fail("expected '{' at byte " + std::to_string(consumed_ + scan_) + ", got " + shown);
      }
      start_ = scan_++;
      depth_ = 1;
      continue;
    }
    if (in_string_) {
      if (escaped_) {
        escaped_ = false;
      } else if (c == '\\') {
        escaped_ = true;
      } else if (c == '"') {
        in_string_ = false;
      }
    } else if (c == '"') {
      in_string_ = true;
    } else if (c == '{' || c == '[') {
      ++depth_;
    } else if ((c == '}' || c == ']') && --depth_ == 0) {
      std::string_view value = std::string_view(buffer_).substr(start_, scan_ + 1 - start_);
      if (Status s = Decode(value, out); !s.ok()) return s;
      start_ = scan_ + 1;
    }
    ++scan_;
    if (depth_ > 0 && scan_ - start_ > max_event_bytes_) {
      return Fail("event at byte " + std::to_string(consumed_ + start_) + " is larger than " +
                  std::to_string(max_event_bytes_) + " bytes");
    }
  }
  // Drop what was decoded (or skipped) so the buffer holds at most the unfinished value.
  if (start_ > 0) {
    buffer_.erase(0, start_);
    consumed_ += start_;
    scan_ -= start_;
    start_ = 0;
  }
  return Ok();
}

Status WatchStreamParser::Decode(std::string_view value, std::vector<WatchEvent>& out) {
  const std::string at = "event at byte " + std::to_string(consumed_ + start_);
  json_error_t err;
  JsonPtr root(json_loadb(value.data(), value.size(), JSON_DISABLE_EOF_CHECK | JSON_REJECT_DUPLICATES, &err));
  if (!root) return Fail(at + ": invalid JSON: " + err.text);
  if (!json_is_object(root.get())) return Fail(at + ": not an object");
  auto type = JsonString(root.get(), "type");
  if (!type) return Fail(at + ": \"type\" is missing or not a string");
  const json_t* object = json_object_get(root.get(), "object");
  if (!json_is_object(object))
    return Fail(at + " (" + std::string(*type) + "): \"object\" is missing or not an object");

  WatchEvent event;
  if (*type == "ADDED" || *type == "MODIFIED" || *type == "DELETED") {
    event.type = *type == "ADDED"      ? WatchEventType::kAdded
                 : *type == "MODIFIED" ? WatchEventType::kModified
                                       : WatchEventType::kDeleted;
    Result<NodeInfo> node = ParseNode(object, filter_);
    if (!node.ok()) return Fail(at + " (" + std::string(*type) + "): " + node.error().message);
    event.node = std::move(node).value();
    event.resource_version = event.node.resource_version;
  } else if (*type == "BOOKMARK") {
    event.type = WatchEventType::kBookmark;
    const json_t* meta = json_object_get(object, "metadata");
    auto rv = json_is_object(meta) ? JsonString(meta, "resourceVersion") : std::nullopt;
    if (!rv || rv->empty()) return Fail(at + " (BOOKMARK): metadata.resourceVersion is missing");
    event.resource_version = *rv;
  } else if (*type == "ERROR") {
    event.type = WatchEventType::kError;
    if (std::optional<ApiStatus> status = ParseStatus(object)) {
      event.status = std::move(*status);
    } else {
      std::string text = JsonDump(object);
      if (text.size() > 200) text = text.substr(0, 200) + "...";
      event.status.message = "ERROR event without a Status: " + text;
    }
  } else {
    return Fail(at + ": unknown event type " + Quote(*type));
  }
  out.push_back(std::move(event));
  return Ok();
}

}  // namespace swg::k8s
