// libFuzzer target: the protobuf Node decoders (k8s/node_proto.h) must never crash, hang, leak or read
// outside their input on anything a server sends, and the list and watch stream parsers must give the same
// outcome however the bytes are cut into chunks. The seeds are bodies recorded from kube-apiserver
// (tests/k8s/data/proto).
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "k8s/node_proto.h"

using swg::k8s::AnnotationFilter;
using swg::k8s::NodeInfo;

namespace {

AnnotationFilter Filter() {
  AnnotationFilter f = AnnotationFilter::Only({"c1.wireguard.semaphore.uw.io/pubKey", "k"});
  f.condition_prefix = "Ready";
  return f;
}

struct ListOutcome {
  bool ok = true;
  std::string error;
  std::vector<NodeInfo> items;
  std::string resource_version, continue_token;
};

ListOutcome FeedList(std::string_view data, size_t piece) {
  ListOutcome out;
  swg::k8s::ProtoListStreamParser parser(Filter(), 1u << 16, [&out](NodeInfo node) {
    out.items.push_back(std::move(node));
    return swg::Ok();
  });
  for (size_t pos = 0; pos < data.size() && out.ok; pos += piece) {
    swg::Status s = parser.Feed(data.substr(pos, piece));
    if (!s.ok()) {
      out.ok = false;
      out.error = s.error().message;
    }
  }
  if (!out.ok) return out;
  auto page = parser.Finish();
  out.ok = page.ok();
  if (out.ok) {
    out.resource_version = page->resource_version;
    out.continue_token = page->continue_token;
  } else {
    out.error = page.error().message;
  }
  return out;
}

struct WatchOutcome {
  bool ok = true;
  std::string error;
  std::vector<swg::k8s::WatchEvent> events;
  size_t buffered = 0;
};

WatchOutcome FeedWatch(std::string_view data, size_t piece) {
  WatchOutcome out;
  swg::k8s::ProtoWatchStreamParser parser(Filter(), 1u << 16);
  for (size_t pos = 0; pos < data.size() && out.ok; pos += piece) {
    swg::Status s = parser.Feed(data.substr(pos, piece), out.events);
    if (!s.ok()) {
      out.ok = false;
      out.error = s.error().message;
    }
  }
  out.buffered = parser.buffered();
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  // The first byte picks the chunk size; the rest is the body.
  const size_t piece = 1 + data[0] % 61;
  const std::string body(reinterpret_cast<const char*>(data) + 1, size - 1);

  (void)swg::k8s::ReadNodeProto(body, Filter());
  (void)swg::k8s::ParseNodeProto(body, AnnotationFilter::All());
  (void)swg::k8s::ParseStatusProto(body);

  ListOutcome whole = FeedList(body, body.size() + 1), cut = FeedList(body, piece);
  if (whole.ok != cut.ok || whole.error != cut.error || whole.items != cut.items ||
      whole.resource_version != cut.resource_version || whole.continue_token != cut.continue_token)
    abort();

  WatchOutcome w1 = FeedWatch(body, body.size() + 1), w2 = FeedWatch(body, piece);
  if (w1.ok != w2.ok || w1.error != w2.error || w1.events.size() != w2.events.size() ||
      (w1.ok && w1.buffered != w2.buffered))
    abort();
  for (size_t i = 0; i < w1.events.size(); ++i) {
    const auto &a = w1.events[i], &b = w2.events[i];
    if (a.type != b.type || !(a.node == b.node) || a.resource_version != b.resource_version ||
        a.status.code != b.status.code || a.status.message != b.status.message)
      abort();
  }
  return 0;
}
