#include "k8s/list_stream.h"

#include "common/json.h"
#include "k8s/json_load.h"

namespace swg::k8s {
namespace {

using Step = JsonNesting::Step;

// The item buffer keeps its capacity between items unless one was unusually large.
constexpr size_t kKeptItemCapacity = 256u << 10;

}  // namespace

NodeListStreamParser::NodeListStreamParser(AnnotationFilter filter, size_t max_item_bytes,
                                           ItemCallback on_item)
    : filter_(std::move(filter)), max_item_bytes_(max_item_bytes), on_item_(std::move(on_item)) {}

Status NodeListStreamParser::Fail(std::string message, int code) {
  failed_ = true;
  return Error{"node list: " + std::move(message), code};
}

Status NodeListStreamParser::Feed(std::string_view chunk) {
  if (failed_) return Error{"node list: already failed"};
  size_t from = 0;  // where the open item's bytes start in this chunk
  for (size_t i = 0; i < chunk.size(); ++i) {
    if (in_item_) {  // only its end matters here: the item is parsed whole
      i = nesting_.SkipInert(chunk, i);
      if (i == chunk.size()) break;
    }
    const char c = chunk[i];
    const int depth_before = nesting_.depth();
    const Step step = nesting_.Feed(c);
    if (in_item_) {
      if (step == Step::kClose && nesting_.depth() == 2) {
        if (Status s = EndItem(chunk.substr(from, i + 1 - from)); !s.ok()) return s;
      }
      continue;
    }
    if (in_items_) {
      if (Status s = OnArrayByte(c, step, consumed_ + i); !s.ok()) return s;
      if (in_item_) from = i;
      continue;
    }
    OnSkeletonByte(c, step, depth_before);
    if (skeleton_.size() > kMaxOutsideItemsBytes) {
      return Fail("more than " + SizeText(kMaxOutsideItemsBytes) + " outside the items", kErrorOverLimit);
    }
  }
  if (in_item_) {
    if (item_.size() + (chunk.size() - from) > max_item_bytes_) {
      return Fail("items[" + std::to_string(items_) + "] (at byte " + std::to_string(item_at_) +
                      ") is larger than " + SizeText(max_item_bytes_),
                  kErrorOverLimit);
    }
    item_.append(chunk.substr(from));
  }
  consumed_ += chunk.size();
  return Ok();
}

// A byte directly inside the items array: an item starts, a separator, or the end of the array.
Status NodeListStreamParser::OnArrayByte(char c, Step step, size_t at) {
  const std::string where = " at byte " + std::to_string(at);
  if (step == Step::kOpen && c == '{') {
    if (!want_item_) return Fail("items: expected ',' or ']'" + where);
    in_item_ = true;
    item_at_ = at;
    item_.clear();
    return Ok();
  }
  if (step == Step::kClose && c == ']') {
    if (after_comma_) return Fail("items: ']' after ','" + where);
    in_items_ = false;
    skeleton_.push_back(']');
    last_sig_ = ']';
    return Ok();
  }
  if (c == ',') {
    if (want_item_) return Fail("items: unexpected ','" + where);
    want_item_ = after_comma_ = true;
    return Ok();
  }
  if (IsJsonSpace(c)) return Ok();
  return Fail("items[" + std::to_string(items_) + "]" + where + ": expected an object");
}

Status NodeListStreamParser::EndItem(std::string_view tail) {
  in_item_ = false;
  want_item_ = after_comma_ = false;
  const size_t index = items_++;
  if (item_.size() + tail.size() > max_item_bytes_) {
    return Fail("items[" + std::to_string(index) + "] (at byte " + std::to_string(item_at_) +
                    ") is larger than " + SizeText(max_item_bytes_),
                kErrorOverLimit);
  }
  std::string_view text = tail;
  if (!item_.empty()) {
    item_.append(tail);
    text = item_;
  }
  Result<NodeInfo> node = ParseNodeJson(text, filter_);
  if (item_.capacity() > kKeptItemCapacity) {
    std::string().swap(item_);
  } else {
    item_.clear();
  }
  if (!node.ok())
    return Fail("items[" + std::to_string(index) + "]: " + node.error().message, node.error().code);
  Status s = on_item_(std::move(node).value());
  if (!s.ok()) failed_ = true;
  return s;
}

// A byte outside the items: kept in the skeleton; member names at the top level are followed to find the
// items array and metadata.
void NodeListStreamParser::OnSkeletonByte(char c, Step step, int depth_before) {
  skeleton_.push_back(c);
  const int depth = nesting_.depth();
  if (step == Step::kOpen && depth == 1) {
    last_sig_ = c;
    return;
  }
  if (step == Step::kClose && depth == 0) {
    done_ = true;
    return;
  }
  if (depth_before != 1 && depth != 1) return;
  switch (step) {
    case Step::kStringStart:
      in_key_ = last_sig_ == '{' || last_sig_ == ',';
      key_.clear();
      break;
    case Step::kInString:
      if (in_key_ && key_.size() < 16) key_.push_back(c);
      break;
    case Step::kStringEnd:
      if (in_key_) last_key_ = key_;
      in_key_ = false;
      last_sig_ = '"';
      break;
    case Step::kOpen:  // a member's value opens
      if (last_sig_ == ':' && c == '[' && last_key_ == "items") {
        in_items_ = want_item_ = true;
        after_comma_ = false;
      } else if (last_sig_ == ':' && c == '{' && last_key_ == "metadata") {
        metadata_at_ = skeleton_.size() - 1;
      }
      last_sig_ = c;
      break;
    case Step::kClose:  // a member's value closes
      if (metadata_at_ != std::string::npos) {
        Result<JsonPtr> meta =
            LoadJson(std::string_view(skeleton_).substr(metadata_at_), JSON_REJECT_DUPLICATES);
        if (meta.ok()) {
          const json_t* cont = json_object_get(meta->get(), "continue");
          if (!cont || json_is_null(cont)) continue_ = "";
          if (json_is_string(cont))
            continue_ = std::string(json_string_value(cont), json_string_length(cont));
        }
        metadata_at_ = std::string::npos;
      }
      last_sig_ = c;
      break;
    case Step::kOther:
      if (!IsJsonSpace(c)) last_sig_ = c;
      break;
  }
}

Result<NodeListPage> NodeListStreamParser::Finish() {
  if (failed_) return Error{"node list: already failed"};
  if (!done_) {
    return Error{"node list: the body ended after " + std::to_string(consumed_) +
                 " bytes, before the list was complete"};
  }
  Result<NodeListPage> page = ParseNodeList(skeleton_, filter_);
  if (!page.ok()) return page.error();
  if (!page->items.empty()) return Error{"node list: items outside the top-level \"items\" array"};
  return page;
}

}  // namespace swg::k8s
