#include "k8s/watch_stream.h"

#include <jansson.h>

#include "common/json.h"
#include "common/strings.h"
#include "k8s/json_load.h"
#include "k8s/node_reader.h"

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

Status WatchStreamParser::Fail(const std::string& message, int code) {
  failed_ = true;
  return Error{"watch stream: " + message, code};
}

Status WatchBodyParser::Feed(std::string_view chunk, std::vector<WatchEvent>& out) {
  return Feed(chunk, [&out](WatchEvent&& event) {
    out.push_back(std::move(event));
    return true;
  });
}

// Finds where each top-level value ends by following strings and nesting, so a value split across chunks
// waits for its remaining bytes instead of being mistaken for bad JSON; jansson then decodes exactly that
// value.
Status WatchStreamParser::Feed(std::string_view chunk, const std::function<bool(WatchEvent&&)>& on_event) {
  if (failed_) return Error{"watch stream: already failed"};
  size_t from = 0;  // where the unfinished event's bytes start in this chunk
  for (size_t i = 0; i < chunk.size(); ++i) {
    if (in_event_) {
      i = nesting_.SkipInert(chunk, i);
      if (i == chunk.size()) break;
    }
    const char c = chunk[i];
    if (!in_event_) {
      if (IsJsonSpace(c)) continue;
      if (c != '{') {
        return Fail("expected '{' at byte " + std::to_string(consumed_ + i) + ", got " +
                    Quote(chunk.substr(i, 16)));
      }
      nesting_.Feed(c);
      in_event_ = true;
      event_at_ = consumed_ + i;
      from = i;
      continue;
    }
    if (nesting_.Feed(c) != JsonNesting::Step::kClose || nesting_.depth() != 0) continue;
    in_event_ = false;
    std::string_view text = chunk.substr(from, i + 1 - from);
    if (buffer_.size() + text.size() > max_event_bytes_) {
      return Fail("event at byte " + std::to_string(event_at_) + " is larger than " +
                      std::to_string(max_event_bytes_) + " bytes",
                  kErrorOverLimit);
    }
    if (!buffer_.empty()) {
      buffer_.append(text);
      text = buffer_;
    }
    WatchEvent event;
    Status decoded = Decode(text, event_at_, event);
    std::string().swap(buffer_);
    if (!decoded.ok()) return decoded;
    if (!on_event(std::move(event))) return Ok();
  }
  if (in_event_) {
    if (buffer_.size() + (chunk.size() - from) > max_event_bytes_) {
      return Fail("event at byte " + std::to_string(event_at_) + " is larger than " +
                      std::to_string(max_event_bytes_) + " bytes",
                  kErrorOverLimit);
    }
    buffer_.append(chunk.substr(from));
  }
  consumed_ += chunk.size();
  return Ok();
}

Status WatchStreamParser::Decode(std::string_view value, size_t offset, WatchEvent& event) {
  const std::string at = "event at byte " + std::to_string(offset);
  // Node events, nearly all of the stream, are read in one pass without a tree; the others (BOOKMARK, ERROR)
  // and anything malformed are decoded by jansson below, which words the errors.
  std::optional<NodeEvent> read;
  if (!filter_.records) read = ReadNodeEvent(value, filter_);  // mirror records: jansson (small, rare)
  if (read) {
    event.type = read->type == "ADDED"      ? WatchEventType::kAdded
                 : read->type == "MODIFIED" ? WatchEventType::kModified
                                            : WatchEventType::kDeleted;
    Result<NodeInfo>& node = *read->node;
    if (!node.ok())
      return Fail(at + " (" + read->type + "): " + node.error().message, node.error().code);
    event.node = std::move(node).value();
    event.resource_version = event.node.resource_version;
    return Ok();
  }
  Result<JsonPtr> loaded = LoadJson(value, JSON_DISABLE_EOF_CHECK | JSON_REJECT_DUPLICATES);
  if (!loaded.ok()) return Fail(at + ": " + loaded.error().message, loaded.error().code);
  const JsonPtr& root = *loaded;
  if (!json_is_object(root.get())) return Fail(at + ": not an object");
  auto type = JsonString(root.get(), "type");
  if (!type) return Fail(at + ": \"type\" is missing or not a string");
  const json_t* object = json_object_get(root.get(), "object");
  if (!json_is_object(object))
    return Fail(at + " (" + std::string(*type) + "): \"object\" is missing or not an object");

  if (*type == "ADDED" || *type == "MODIFIED" || *type == "DELETED") {
    event.type = *type == "ADDED"      ? WatchEventType::kAdded
                 : *type == "MODIFIED" ? WatchEventType::kModified
                                       : WatchEventType::kDeleted;
    Result<NodeInfo> node = ParseNode(object, filter_);
    if (!node.ok())
      return Fail(at + " (" + std::string(*type) + "): " + node.error().message, node.error().code);
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
  return Ok();
}

}  // namespace swg::k8s
