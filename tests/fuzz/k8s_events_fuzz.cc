// libFuzzer target: the Kubernetes node/event parsers must never crash, hang or leak on anything a server
// sends. The watch stream and list stream parsers must also decode the same events and items however the
// bytes are cut into chunks. The one-pass Node reader must give what jansson's tree and ParseNode give.
#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <vector>

#include "k8s/list_stream.h"
#include "k8s/node_reader.h"
#include "k8s/parse.h"
#include "k8s/watch_stream.h"

using swg::k8s::AnnotationFilter;
using swg::k8s::NodeInfo;
using swg::k8s::NodeListStreamParser;
using swg::k8s::WatchEvent;
using swg::k8s::WatchStreamParser;

namespace {

std::vector<WatchEvent> Feed(std::string_view text, size_t piece, bool* ok) {
  WatchStreamParser parser(AnnotationFilter::Only({"c1.wireguard.semaphore.uw.io/pubKey"}), 1u << 16);
  std::vector<WatchEvent> events;
  *ok = true;
  for (size_t pos = 0; pos < text.size() && *ok; pos += piece) {
    *ok = parser.Feed(text.substr(pos, piece), events).ok();
  }
  return events;
}

struct ListOutcome {
  bool ok = true;
  std::vector<NodeInfo> items;
  std::string resource_version, continue_token;
};

ListOutcome FeedList(std::string_view text, size_t piece) {
  ListOutcome out;
  NodeListStreamParser parser(AnnotationFilter::Only({"a"}), 1u << 16, [&out](NodeInfo node) {
    out.items.push_back(std::move(node));
    return swg::Ok();
  });
  for (size_t pos = 0; pos < text.size() && out.ok; pos += piece)
    out.ok = parser.Feed(text.substr(pos, piece)).ok();
  if (!out.ok) return out;
  auto page = parser.Finish();
  out.ok = page.ok();
  if (out.ok) {
    out.resource_version = page->resource_version;
    out.continue_token = page->continue_token;
  }
  return out;
}

// ParseNodeJson (the reader, jansson for malformed text) is ParseNodeJsonTree exactly; the reader alone agrees
// on the result and on every error about a field (its words for bad text are its own).
void CompareNodeParsers(std::string_view text, const AnnotationFilter& filter) {
  swg::Result<NodeInfo> tree = swg::k8s::ParseNodeJsonTree(text, filter);
  swg::Result<NodeInfo> fast = swg::k8s::ParseNodeJson(text, filter);
  if (fast.ok() != tree.ok()) abort();
  if (tree.ok() && *fast != *tree) abort();
  if (!tree.ok() && (fast.error().message != tree.error().message || fast.error().code != tree.error().code))
    abort();
  bool malformed = false;
  swg::Result<NodeInfo> read = swg::k8s::ReadNode(text, filter, &malformed);
  if (malformed) {
    // Only text jansson refuses too, or nested deeper than the reader's bound.
    bool deep = read.error().message.find("nested deeper than") != std::string::npos;
    if (tree.ok() && !deep) abort();
    return;
  }
  if (!tree.ok() && tree.error().code == swg::k8s::kErrorOverLimit) return;  // jansson's tree, not the reader
  if (read.ok() != tree.ok()) abort();
  if (tree.ok() && *read != *tree) abort();
  if (!tree.ok() && read.error().message != tree.error().message) abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  AnnotationFilter conditions = AnnotationFilter::Only({"a", "c1.wireguard.semaphore.uw.io/pubKey"});
  conditions.condition_prefix = "Re";
  CompareNodeParsers(text, AnnotationFilter::All());
  CompareNodeParsers(text, conditions);
  (void)swg::k8s::ParseNodeList(text, AnnotationFilter::Only({"a"}));
  (void)swg::k8s::ParseStatusJson(text);

  bool whole_ok = false, split_ok = false;
  std::vector<WatchEvent> whole = Feed(text, size ? size : 1, &whole_ok);
  size_t piece = size ? 1 + data[0] % 7 : 1;
  std::vector<WatchEvent> split = Feed(text, piece, &split_ok);
  // Chunking must not change the outcome. (An oversized event fails both ways.)
  if (whole_ok != split_ok || whole.size() != split.size()) abort();
  for (size_t i = 0; i < whole.size(); ++i) {
    if (whole[i].type != split[i].type || whole[i].node != split[i].node ||
        whole[i].resource_version != split[i].resource_version ||
        whole[i].status.code != split[i].status.code) {
      abort();
    }
  }
  ListOutcome list_whole = FeedList(text, size ? size : 1);
  ListOutcome list_split = FeedList(text, piece);
  if (list_whole.ok != list_split.ok || list_whole.items != list_split.items ||
      list_whole.resource_version != list_split.resource_version ||
      list_whole.continue_token != list_split.continue_token) {
    abort();
  }
  return 0;
}
