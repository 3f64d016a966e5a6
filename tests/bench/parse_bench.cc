// swg_parse_bench NODES_DIR [ROUNDS]: time and allocations of parsing realistic Nodes (the List files of
// scripts/bench.d/nodes.py) with jansson's tree and ParseNode (as before) and with the one-pass reader, each
// Node alone (as list items) and as MODIFIED watch events. Not a test: it prints figures.
//   python3 scripts/bench.d/nodes.py 5000 /tmp/nodes && build/tests/bench/swg_parse_bench /tmp/nodes
// With NodeList bodies in protobuf (*.pb) in NODES_DIR, as tests/bench/proto_nodes.sh records them from a
// kube-apiserver with the same nodes in JSON, it also measures the protobuf readers: node, list, watch event.
#include <dirent.h>
#include <jansson.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "common/files.h"
#include "common/json.h"
#include "k8s/json_load.h"
#include "k8s/list_stream.h"
#include "k8s/node_proto.h"
#include "k8s/parse.h"
#include "k8s/proto_reader.h"
#include "k8s/watch_stream.h"

// Every allocation of the process (operator new, jansson, libc) is counted here.
extern "C" {
void* __libc_malloc(size_t);
void* __libc_calloc(size_t, size_t);
void* __libc_realloc(void*, size_t);
void __libc_free(void*);
}
static std::atomic<size_t> g_allocs{0};
extern "C" void* malloc(size_t n) {
  g_allocs.fetch_add(1, std::memory_order_relaxed);
  return __libc_malloc(n);
}
extern "C" void* calloc(size_t n, size_t m) {
  g_allocs.fetch_add(1, std::memory_order_relaxed);
  return __libc_calloc(n, m);
}
extern "C" void* realloc(void* p, size_t n) {
  g_allocs.fetch_add(1, std::memory_order_relaxed);
  return __libc_realloc(p, n);
}
extern "C" void free(void* p) { __libc_free(p); }

namespace {

using swg::k8s::AnnotationFilter;
using swg::k8s::NodeInfo;

struct Figure {
  double ns_per_node = 0;
  double allocs_per_node = 0;
};

template <typename F>
Figure Measure(size_t nodes, int rounds, F parse_all) {
  parse_all();  // warm up
  size_t allocs = g_allocs.load();
  auto start = std::chrono::steady_clock::now();
  for (int r = 0; r < rounds; ++r) parse_all();
  auto ns = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start).count();
  allocs = g_allocs.load() - allocs;
  const double n = static_cast<double>(nodes) * rounds;
  return {ns / n, static_cast<double>(allocs) / n};
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s NODES_DIR [ROUNDS]\n", argv[0]);
    return 2;
  }
  const int rounds = argc > 2 ? atoi(argv[2]) : 5;
  std::vector<std::string> nodes;
  DIR* dir = opendir(argv[1]);
  if (!dir) return perror(argv[1]), 1;
  std::vector<std::string> files, pb_files;
  while (dirent* e = readdir(dir)) {
    std::string name = e->d_name;
    const std::string path = std::string(argv[1]) + "/" + name;
    if (name.size() > 5 && name.substr(name.size() - 5) == ".json") files.push_back(path);
    if (name.size() > 3 && name.substr(name.size() - 3) == ".pb") pb_files.push_back(path);
  }
  closedir(dir);
  for (const std::string& file : files) {
    auto text = swg::ReadFile(file);
    if (!text.ok()) return fprintf(stderr, "%s\n", text.error().message.c_str()), 1;
    auto root = swg::k8s::LoadJson(*text, 0, size_t{1} << 34);
    if (!root.ok()) return fprintf(stderr, "%s: %s\n", file.c_str(), root.error().message.c_str()), 1;
    size_t i;
    json_t* item;
    json_array_foreach(json_object_get(root->get(), "items"), i, item) nodes.push_back(swg::JsonDump(item));
  }
  if (nodes.empty()) return fprintf(stderr, "no nodes in %s\n", argv[1]), 1;
  size_t bytes = 0;
  for (const std::string& n : nodes) bytes += n.size();
  std::vector<std::string> events;
  for (const std::string& n : nodes) events.push_back(R"({"type":"MODIFIED","object":)" + n + "}\n");

  // As the worker's informer: only the annotations of one cluster.
  const AnnotationFilter filter = AnnotationFilter::Only(
      {"c1.wireguard.semaphore.uw.io/pubKey", "c1.wireguard.semaphore.uw.io/endpoint"});
  size_t sink = 0;
  auto tree = Measure(nodes.size(), rounds, [&] {
    for (const std::string& n : nodes) sink += swg::k8s::ParseNodeJsonTree(n, filter)->addresses.size();
  });
  auto reader = Measure(nodes.size(), rounds, [&] {
    for (const std::string& n : nodes) sink += swg::k8s::ParseNodeJson(n, filter)->addresses.size();
  });
  // Watch events: jansson as the watch stream decoded them before (the event's tree, then ParseNode), and
  // the watch stream now.
  auto tree_events = Measure(nodes.size(), rounds, [&] {
    for (const std::string& e : events) {
      auto root = swg::k8s::LoadJson(e, JSON_DISABLE_EOF_CHECK | JSON_REJECT_DUPLICATES);
      sink += swg::k8s::ParseNode(json_object_get(root->get(), "object"), filter)->addresses.size();
    }
  });
  auto stream_events = Measure(nodes.size(), rounds, [&] {
    swg::k8s::WatchStreamParser parser(filter);
    for (const std::string& e : events) {
      (void)parser.Feed(e, [&](swg::k8s::WatchEvent&& ev) {
        sink += ev.node.addresses.size();
        return true;
      });
    }
  });
  const double per_node = static_cast<double>(bytes) / static_cast<double>(nodes.size());
  printf("%zu nodes, %.1f KiB of JSON each, %d rounds\n", nodes.size(), per_node / 1024, rounds);
  printf("%-34s %10s %12s %10s\n", "", "ns/node", "allocs/node", "MB/s");
  auto row = [&](const char* what, Figure f) {
    printf("%-34s %10.0f %12.1f %10.0f\n", what, f.ns_per_node, f.allocs_per_node,
           per_node / f.ns_per_node * 1e3);
  };
  row("node, jansson tree + ParseNode", tree);
  row("node, one-pass reader", reader);
  row("watch event, jansson (before)", tree_events);
  row("watch event, WatchStreamParser", stream_events);
  // A list page as the client reads it: the body fed in 16 KiB chunks.
  std::string json_list =
      R"({"kind":"NodeList","apiVersion":"v1","metadata":{"resourceVersion":"1"},"items":[)";
  for (size_t i = 0; i < nodes.size(); ++i) json_list += (i ? "," : "") + nodes[i];
  json_list += "]}";
  auto feed_list = [&](swg::k8s::ListBodyParser& parser, const std::string& body) {
    for (size_t pos = 0; pos < body.size(); pos += 16384)
      (void)parser.Feed(std::string_view(body).substr(pos, 16384));
    sink += parser.Finish().ok();
  };
  auto item = [&](NodeInfo n) {
    sink += n.addresses.size();
    return swg::Ok();
  };
  auto json_list_figure = Measure(nodes.size(), rounds, [&] {
    swg::k8s::NodeListStreamParser parser(filter, 4u << 20, item);
    feed_list(parser, json_list);
  });
  row("list item, NodeListStreamParser", json_list_figure);

  // Protobuf: the NodeList bodies' items, each alone, as watch frames and as the list.
  std::vector<std::string> pb_lists, pb_nodes, pb_events;
  for (const std::string& file : pb_files) {
    auto body = swg::ReadFile(file, size_t{1} << 34);
    if (!body.ok()) return fprintf(stderr, "%s\n", body.error().message.c_str()), 1;
    auto envelope = swg::k8s::ReadProtoEnvelope(*body);
    if (!envelope.ok()) return fprintf(stderr, "%s: %s\n", file.c_str(), envelope.error().message.c_str()), 1;
    swg::k8s::ProtoReader in(envelope->raw);
    swg::k8s::ProtoField f;
    while (in.Next(&f)) {
      if (f.number == 2 && f.type == swg::k8s::WireType::kBytes) pb_nodes.emplace_back(f.bytes);
    }
    pb_lists.push_back(*body);
  }
  if (pb_nodes.empty()) {
    printf("speed-up: nodes %.1fx, events %.1fx (checksum %zu)\n", tree.ns_per_node / reader.ns_per_node,
           tree_events.ns_per_node / stream_events.ns_per_node, sink);
    return 0;
  }
  auto varint = [](uint64_t v) {
    std::string out;
    for (; v >= 0x80; v >>= 7) out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    out.push_back(static_cast<char>(v));
    return out;
  };
  size_t pb_bytes = 0;
  for (const std::string& n : pb_nodes) {
    pb_bytes += n.size();
    // As the apiserver frames it: WatchEvent{type, object: RawExtension{raw: "k8s\0" + Unknown}}.
    std::string object =
        std::string("k8s\0", 4) + "\x0a\x0a\x0a\x02v1\x12\x04Node" + "\x12" + varint(n.size()) + n;
    std::string raw_ext = "\x0a" + varint(object.size()) + object;
    std::string event = std::string("\x0a\x08MODIFIED") + "\x12" + varint(raw_ext.size()) + raw_ext;
    const auto len = static_cast<uint32_t>(event.size());
    pb_events.push_back(std::string{static_cast<char>(len >> 24), static_cast<char>(len >> 16),
                                    static_cast<char>(len >> 8), static_cast<char>(len)} +
                        event);
  }
  auto pb_node = Measure(pb_nodes.size(), rounds, [&] {
    for (const std::string& n : pb_nodes) sink += swg::k8s::ReadNodeProto(n, filter)->addresses.size();
  });
  auto pb_stream = Measure(pb_nodes.size(), rounds, [&] {
    swg::k8s::ProtoWatchStreamParser parser(filter);
    for (const std::string& e : pb_events) {
      (void)parser.Feed(e, [&](swg::k8s::WatchEvent&& ev) {
        sink += ev.node.addresses.size();
        return true;
      });
    }
  });
  auto pb_list = Measure(pb_nodes.size(), rounds, [&] {
    for (const std::string& body : pb_lists) {
      swg::k8s::ProtoListStreamParser parser(filter, 4u << 20, item);
      feed_list(parser, body);
    }
  });
  const double pb_per_node = static_cast<double>(pb_bytes) / static_cast<double>(pb_nodes.size());
  printf("%zu nodes in protobuf, %.1f KiB each (JSON: %.1f KiB)\n", pb_nodes.size(), pb_per_node / 1024,
         per_node / 1024);
  auto pb_row = [&](const char* what, Figure f) {
    printf("%-34s %10.0f %12.1f %10.0f\n", what, f.ns_per_node, f.allocs_per_node,
           pb_per_node / f.ns_per_node * 1e3);
  };
  pb_row("node, protobuf", pb_node);
  pb_row("list item, ProtoListStreamParser", pb_list);
  pb_row("watch event, ProtoWatchStreamParser", pb_stream);
  printf("protobuf against the one-pass JSON reader: nodes %.1fx, list items %.1fx, events %.1fx "
         "(checksum %zu)\n",
         reader.ns_per_node / pb_node.ns_per_node, json_list_figure.ns_per_node / pb_list.ns_per_node,
         stream_events.ns_per_node / pb_stream.ns_per_node, sink);
  return 0;
}
