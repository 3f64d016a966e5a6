#pragma once
// The body of a NodeList response, parsed as it arrives. Each item is decoded on its own as soon as its last
// byte is there (its JSON at most max_item_bytes, its parse bounded as json_load.h says) and handed to the
// caller, so a page never sits whole in memory, however many items it holds. Everything else (kind,
// apiVersion, metadata: at most kMaxOutsideItemsBytes) is kept as a small document and checked at the end.
// Pure: no I/O, safe on any input, the same outcome however the body is cut into chunks.

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"
#include "k8s/json_scan.h"
#include "k8s/parse.h"

namespace swg::k8s {

// A NodeList body read as it arrives, in JSON (NodeListStreamParser) or protobuf (node_proto.h).
class ListBodyParser {
 public:
  virtual ~ListBodyParser() = default;
  virtual Status Feed(std::string_view chunk) = 0;
  virtual Result<NodeListPage> Finish() = 0;
  virtual size_t items() const = 0;
  virtual const std::optional<std::string>& continue_token() const = 0;
};

class NodeListStreamParser : public ListBodyParser {
 public:
  static constexpr size_t kMaxOutsideItemsBytes = 1u << 20;
  // An error the callback returns stops the parser and is returned by Feed as it is.
  using ItemCallback = std::function<Status(NodeInfo node)>;

  NodeListStreamParser(AnnotationFilter filter, size_t max_item_bytes, ItemCallback on_item);

  // Consumes a chunk, calling on_item for each item it completes. After an error the parser is unusable.
  Status Feed(std::string_view chunk) override;
  // After the last chunk: the page's resourceVersion and continue token (items stays empty), or why the body
  // is not a whole NodeList.
  Result<NodeListPage> Finish() override;

  size_t items() const override { return items_; }  // items decoded so far
  // metadata.continue once metadata has been read: an apiserver sends it before the items.
  const std::optional<std::string>& continue_token() const override { return continue_; }

 private:
  Status Fail(std::string message, int code = 0);
  Status OnArrayByte(char c, JsonNesting::Step step, size_t at);
  void OnSkeletonByte(char c, JsonNesting::Step step, int depth_before);
  Status EndItem(std::string_view tail);

  AnnotationFilter filter_;
  size_t max_item_bytes_;
  ItemCallback on_item_;
  JsonNesting nesting_;
  size_t consumed_ = 0;  // stream offset of the chunk being fed
  bool failed_ = false;
  bool done_ = false;  // the top-level value is closed

  std::string skeleton_;  // the body without the items: {"kind":..,"metadata":{..},"items":[]}
  char last_sig_ = 0;     // the last significant byte at the top level (inside the outermost braces)
  bool in_key_ = false;
  std::string key_, last_key_;              // the member name being read / the last one (cut at 16 bytes)
  size_t metadata_at_ = std::string::npos;  // where metadata's value starts in skeleton_, while it is read
  std::optional<std::string> continue_;

  bool in_items_ = false;   // inside the items array
  bool want_item_ = false;  // after '[' or ',': a node comes next
  bool after_comma_ = false;
  bool in_item_ = false;
  std::string item_;    // the item's bytes from earlier chunks
  size_t item_at_ = 0;  // stream offset where the item started
  size_t items_ = 0;
};

}  // namespace swg::k8s
