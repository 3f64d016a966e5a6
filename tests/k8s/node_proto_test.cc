// Protobuf Nodes: the wire reader on hand-built messages, and the decoders against the JSON readers on what a
// real kube-apiserver sent both ways (data/proto, recorded by data/proto/record.sh): the same list, node and
// watch must give the same NodeInfo, however the bodies are cut into chunks.
#include "k8s/node_proto.h"

#include <doctest/doctest.h>

#include <set>
#include <string>
#include <vector>

#include "common/files.h"
#include "k8s/list_stream.h"
#include "k8s/proto_reader.h"
#include "k8s/watch_stream.h"

using swg::Result;
using swg::k8s::AnnotationFilter;
using swg::k8s::NodeInfo;
using swg::k8s::ProtoField;
using swg::k8s::ProtoReader;
using swg::k8s::WireType;

namespace {

std::string Data(const std::string& name) {
  auto text = swg::ReadFile(std::string(SWG_K8S_TEST_DATA) + "/proto/" + name);
  REQUIRE(text.ok());
  return *text;
}

// A tiny protobuf encoder for hand-built messages.
std::string Varint(uint64_t v) {
  std::string out;
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
  return out;
}
std::string Tag(uint32_t field, unsigned wire) { return Varint((uint64_t{field} << 3) | wire); }
std::string Len(uint32_t field, std::string_view value) {
  return Tag(field, 2) + Varint(value.size()) + std::string(value);
}
std::string Int(uint32_t field, uint64_t value) { return Tag(field, 0) + Varint(value); }
std::string Envelope(std::string_view kind, std::string_view raw) {
  return std::string("k8s\0", 4) + Len(1, Len(1, "v1") + Len(2, kind)) + Len(2, raw);
}
std::string Frame(std::string_view event) {
  const auto n = static_cast<uint32_t>(event.size());
  std::string out{static_cast<char>(n >> 24), static_cast<char>(n >> 16), static_cast<char>(n >> 8),
                  static_cast<char>(n)};
  return out + std::string(event);
}
// A Node with a name, an annotation and an address, with unknown fields of every wire type around them.
std::string HandNode(std::string_view name) {
  std::string meta = Len(1, name) + Int(7, 3) + Len(6, "42") + Len(12, Len(1, "k") + Len(2, "v")) +
                     Len(8, Int(1, 1700000000) + Int(2, 5));
  std::string unknown = Int(99, 1) + Tag(98, 1) + std::string(8, 'x') + Tag(97, 5) + std::string(4, 'y') +
                        Len(96, std::string(300, 'z'));
  return unknown + Len(1, meta) + Len(3, Len(5, Len(1, "InternalIP") + Len(2, "10.0.0.1")) + unknown);
}

std::vector<ProtoField> ReadAll(std::string_view data, std::string* error) {
  ProtoReader in(data);
  std::vector<ProtoField> out;
  ProtoField f;
  while (in.Next(&f)) out.push_back(f);
  *error = in.error();
  return out;
}

AnnotationFilter Agent() {
  AnnotationFilter f = AnnotationFilter::Only(
      {"c1.wireguard.semaphore.uw.io/pubKey", "c1.wireguard.semaphore.uw.io/endpoint", "absent/key"});
  f.condition_prefix = "Ready";
  return f;
}

}  // namespace

TEST_CASE("proto reader: every wire type, unknown fields skipped by their length") {
  std::string error;
  std::string msg = Int(1, 300) + Tag(2, 1) + std::string("\x01\0\0\0\0\0\0\x80", 8) + Len(3, "abc") +
                    Tag(4, 5) + std::string("\x02\0\0\0", 4) + Int(536870911, ~uint64_t{0});
  auto fields = ReadAll(msg, &error);
  CHECK(error.empty());
  REQUIRE(fields.size() == 5);
  CHECK(fields[0].varint == 300);
  CHECK(fields[1].type == WireType::kFixed64);
  CHECK(fields[1].varint == 0x8000000000000001ull);
  CHECK(fields[2].bytes == "abc");
  CHECK(fields[3].varint == 2);
  CHECK(fields[4].number == 536870911);
  CHECK(fields[4].varint == ~uint64_t{0});

  Result<NodeInfo> node = swg::k8s::ReadNodeProto(HandNode("n1"), AnnotationFilter::All());
  REQUIRE(node.ok());
  CHECK(node->name == "n1");
  CHECK(node->resource_version == "42");
  CHECK(node->creation_timestamp == 1700000000);
  CHECK(node->annotations == std::map<std::string, std::string>{{"k", "v"}});
  CHECK(node->addresses == std::vector<swg::k8s::NodeAddress>{{"InternalIP", "10.0.0.1"}});
}

TEST_CASE("proto reader: truncation, bad lengths, overlong varints, groups, bad wire types are errors") {
  std::string error;
  // A truncated message fails unless it was cut between two top-level fields (protobuf has no end mark):
  // then it reads as the fields before the cut. Nothing is read past the cut.
  const std::string msg = HandNode("n1");
  std::set<size_t> boundaries;
  {
    ProtoReader in(msg);
    ProtoField f;
    while (in.Next(&f)) boundaries.insert(in.pos());
  }
  size_t failed = 0;
  for (size_t n = 0; n < msg.size(); ++n) {
    CAPTURE(n);
    std::string cut = msg.substr(0, n);  // its own buffer: ASan catches any overread
    ReadAll(cut, &error);
    CHECK(error.empty() == (n == 0 || boundaries.count(n) > 0));
    Result<NodeInfo> node = swg::k8s::ReadNodeProto(cut, AnnotationFilter::All());
    if (!node.ok()) ++failed;
    if (node.ok()) CHECK(boundaries.count(n));
  }
  CHECK(failed > msg.size() - boundaries.size() - 1);
  ReadAll(Tag(3, 2) + Varint(10) + "abc", &error);
  CHECK(error == "protobuf at byte 2: field 3: length 10 past the end (3 bytes left)");
  ReadAll(Tag(3, 2) + Varint(~uint64_t{0}) + "abc", &error);
  CHECK(error.find("length 18446744073709551615 past the end") != std::string::npos);
  ReadAll(Tag(1, 0) + std::string(10, '\xff') + "\x01", &error);
  CHECK(error == "protobuf at byte 1: varint longer than 10 bytes");
  ReadAll(Tag(1, 0) + std::string(9, '\xff') + "\x02", &error);  // 10 bytes, but over 64 bits
  CHECK(error == "protobuf at byte 1: varint longer than 10 bytes");
  ReadAll(Tag(1, 0) + "\x80\x80", &error);
  CHECK(error == "protobuf at byte 1: truncated varint");
  ReadAll(Int(1, 1) + Tag(5, 3) + Tag(5, 4), &error);
  CHECK(error == "protobuf at byte 2: field 5: group wire type 3 is not supported");
  ReadAll(Tag(5, 6), &error);
  CHECK(error == "protobuf at byte 0: field 5: invalid wire type 6");
  ReadAll(Tag(0, 0) + Varint(1), &error);
  CHECK(error == "protobuf at byte 0: invalid field number 0");
  ReadAll(Tag(2, 1) + "1234567", &error);
  CHECK(error == "protobuf at byte 1: field 2: 8-byte value past the end");

  // A known field of the wrong type, and nesting past the bound, name what is wrong.
  Result<NodeInfo> node = swg::k8s::ReadNodeProto(Int(1, 5), AnnotationFilter::All());
  REQUIRE_FALSE(node.ok());
  CHECK(node.error().message ==
        "node: protobuf at byte 0: metadata (field 1): expected length-delimited, got varint");
  std::string deep = Len(1, "x");
  for (int i = 0; i < 40; ++i) deep = Len(1, deep);
  ProtoReader in(deep);
  ProtoField f;
  std::vector<ProtoReader> stack{in};
  for (int i = 0; i < 40 && stack.back().Next(&f) && f.type == WireType::kBytes; ++i)
    stack.push_back(stack.back().Nested(f));
  CHECK(stack.back().error().find("nested deeper than 32 messages") != std::string::npos);
  CHECK(stack.size() == 34);

  // A message without metadata or name.
  CHECK(swg::k8s::ReadNodeProto(Len(2, ""), AnnotationFilter::All()).error().message ==
        "node: metadata is missing");
  CHECK(swg::k8s::ReadNodeProto(Len(1, Len(5, "u")), AnnotationFilter::All()).error().message ==
        "node: metadata.name is missing or empty");
}

TEST_CASE("a Node from the real apiserver reads the same from protobuf and from JSON") {
  const std::string pb = Data("node.pb"), json = Data("node.json");
  CHECK(pb.size() < json.size());
  for (const AnnotationFilter& filter : {AnnotationFilter::All(), Agent()}) {
    Result<NodeInfo> from_pb = swg::k8s::ParseNodeProto(pb, filter);
    Result<NodeInfo> from_json = swg::k8s::ParseNodeJson(json, filter);
    REQUIRE(from_pb.ok());
    REQUIRE(from_json.ok());
    CHECK(*from_pb == *from_json);
    CHECK(from_pb->name == "r00000");
    CHECK(from_pb->creation_timestamp > 1700000000);
    CHECK_FALSE(from_pb->addresses.empty());
  }
  Result<NodeInfo> agent = swg::k8s::ParseNodeProto(pb, Agent());
  CHECK(agent->annotations.size() == 2);
  CHECK(agent->conditions.size() == 1);
  // Not a Node: the envelope's kind says so.
  CHECK(swg::k8s::ParseNodeProto(Data("status_404.pb"), Agent()).error().message ==
        "expected a Node, got kind \"Status\"");
  CHECK(swg::k8s::ParseNodeProto(json, Agent())
            .error()
            .message.starts_with("node: protobuf: the body does not"));
}

TEST_CASE("a Status error body in protobuf") {
  std::optional<swg::k8s::ApiStatus> status = swg::k8s::ParseStatusProto(Data("status_404.pb"));
  REQUIRE(status);
  CHECK(status->code == 404);
  CHECK(status->reason == "NotFound");
  CHECK(status->message == "nodes \"nope\" not found");
  CHECK_FALSE(swg::k8s::ParseStatusProto(Data("node.pb")));
  CHECK_FALSE(swg::k8s::ParseStatusProto("k8s"));
}

namespace {

struct ListOutcome {
  std::vector<NodeInfo> items;
  swg::Result<swg::k8s::NodeListPage> page = swg::Error{"not run"};
};

template <typename Parser>
ListOutcome ReadList(std::string_view body, size_t chunk, const AnnotationFilter& filter,
                     size_t max_item = 4u << 20) {
  ListOutcome out;
  Parser parser(filter, max_item, [&out](NodeInfo n) {
    out.items.push_back(std::move(n));
    return swg::Ok();
  });
  for (size_t i = 0; i < body.size(); i += chunk) {
    swg::Status s = parser.Feed(body.substr(i, chunk));
    if (!s.ok()) {
      out.page = s.error();
      return out;
    }
  }
  out.page = parser.Finish();
  return out;
}

}  // namespace

TEST_CASE("a NodeList from the real apiserver reads the same from protobuf and from JSON, in any chunks") {
  const std::string pb = Data("node_list.pb"), json = Data("node_list.json");
  for (const AnnotationFilter& filter : {AnnotationFilter::All(), Agent()}) {
    ListOutcome want = ReadList<swg::k8s::NodeListStreamParser>(json, json.size(), filter);
    REQUIRE(want.page.ok());
    REQUIRE(want.items.size() == 3);
    for (size_t chunk : {size_t{1}, size_t{3}, size_t{7}, size_t{4096}, pb.size()}) {
      CAPTURE(chunk);
      ListOutcome got = ReadList<swg::k8s::ProtoListStreamParser>(pb, chunk, filter);
      REQUIRE(got.page.ok());
      CHECK(got.items == want.items);
      CHECK(got.page->resource_version == want.page->resource_version);
      CHECK(got.page->continue_token == want.page->continue_token);
    }
  }
  // Every truncation is an error (the list ends where the body ends).
  for (size_t n = 0; n < pb.size(); n += 97) {
    ListOutcome cut = ReadList<swg::k8s::ProtoListStreamParser>(pb.substr(0, n), 512, Agent());
    CHECK_FALSE(cut.page.ok());
  }
  // An item over the bound is refused from its length, before its bytes arrive.
  ListOutcome big = ReadList<swg::k8s::ProtoListStreamParser>(pb.substr(0, 200), 200, Agent(), 1000);
  REQUIRE_FALSE(big.page.ok());
  CHECK(big.page.error().code == swg::k8s::kErrorOverLimit);
  CHECK(big.page.error().message.starts_with("node list: items[0] (at byte "));
  // The continue token, read from the list's metadata before the items.
  std::string list = Len(1, Len(2, "77") + Len(3, "tok")) + Len(2, HandNode("a")) + Len(2, HandNode("b"));
  ListOutcome hand = ReadList<swg::k8s::ProtoListStreamParser>(Envelope("NodeList", list), 5, Agent());
  REQUIRE(hand.page.ok());
  CHECK(hand.items.size() == 2);
  CHECK(hand.page->continue_token == "tok");
  CHECK(hand.page->resource_version == "77");
  ListOutcome varint_items = ReadList<swg::k8s::ProtoListStreamParser>(
      Envelope("NodeList", Len(1, Len(2, "1")) + Int(2, 5)), 5, Agent());
  CHECK(varint_items.page.error().message ==
        "node list: protobuf at byte 27: field 2: expected length-delimited, got wire type 0");
  ListOutcome wrong = ReadList<swg::k8s::ProtoListStreamParser>(Envelope("PodList", list), 5, Agent());
  CHECK(wrong.page.error().message == "node list: expected kind \"NodeList\", got \"PodList\"");
}

namespace {

template <typename Parser>
std::vector<swg::k8s::WatchEvent> ReadWatch(std::string_view body, size_t chunk,
                                            const AnnotationFilter& filter, std::string* error) {
  Parser parser(filter);
  std::vector<swg::k8s::WatchEvent> out;
  for (size_t i = 0; i < body.size(); i += chunk) {
    swg::Status s = parser.Feed(body.substr(i, chunk), out);
    if (!s.ok()) {
      *error = s.error().message;
      return out;
    }
  }
  if (parser.buffered() > 0) *error = "ended inside an event";
  return out;
}

}  // namespace

TEST_CASE("a watch from the real apiserver reads the same from protobuf and from JSON, in any chunks") {
  const std::string pb = Data("watch.pb"), json = Data("watch.jsonl");
  for (const AnnotationFilter& filter : {AnnotationFilter::All(), Agent()}) {
    std::string error;
    auto want = ReadWatch<swg::k8s::WatchStreamParser>(json, json.size(), filter, &error);
    REQUIRE(error.empty());
    REQUIRE(want.size() == 4);
    CHECK(want.back().type == swg::k8s::WatchEventType::kBookmark);
    for (size_t chunk : {size_t{1}, size_t{5}, size_t{1000}, pb.size()}) {
      CAPTURE(chunk);
      auto got = ReadWatch<swg::k8s::ProtoWatchStreamParser>(pb, chunk, filter, &error);
      REQUIRE(error.empty());
      REQUIRE(got.size() == want.size());
      for (size_t i = 0; i < got.size(); ++i) {
        CHECK(got[i].type == want[i].type);
        CHECK(got[i].node == want[i].node);
        CHECK(got[i].resource_version == want[i].resource_version);
      }
    }
  }
}

TEST_CASE("protobuf watch frames: ERROR with a Status, enveloped frames, bounds and garbage") {
  const std::string status_body = Data("status_404.pb");  // the envelope's views point into it
  auto envelope = swg::k8s::ReadProtoEnvelope(status_body);
  REQUIRE(envelope.ok());
  const std::string status_raw(envelope->raw);
  std::string error;
  // ERROR, its Status enveloped (as the apiserver embeds objects) or bare.
  auto events = ReadWatch<swg::k8s::ProtoWatchStreamParser>(
      Frame(Len(1, "ERROR") + Len(2, Len(1, Data("status_404.pb")))) +
          Frame(Len(1, "ERROR") + Len(2, Len(1, status_raw))),
      3, Agent(), &error);
  REQUIRE(error.empty());
  REQUIRE(events.size() == 2);
  for (const auto& e : events) {
    CHECK(e.type == swg::k8s::WatchEventType::kError);
    CHECK(e.status.code == 404);
    CHECK(e.status.message == "nodes \"nope\" not found");
  }
  // A frame itself in the envelope, and a bare Node object.
  events = ReadWatch<swg::k8s::ProtoWatchStreamParser>(
      Frame(Envelope("WatchEvent", Len(1, "ADDED") + Len(2, Len(1, HandNode("n2"))))), 2, Agent(), &error);
  REQUIRE(error.empty());
  REQUIRE(events.size() == 1);
  CHECK(events[0].node.name == "n2");
  CHECK(events[0].resource_version == "42");
  // A metadata-only watch (kNodeMetadataAccept): PartialObjectMetadata, whose field 1 is the Node's metadata.
  events = ReadWatch<swg::k8s::ProtoWatchStreamParser>(
      Frame(Len(1, "MODIFIED") + Len(2, Len(1, Envelope("PartialObjectMetadata", HandNode("n3"))))), 2, Agent(),
      &error);
  REQUIRE(error.empty());
  REQUIRE(events.size() == 1);
  CHECK(events[0].node.name == "n3");

  auto fails = [](std::string_view body, size_t max = 1u << 20) {
    swg::k8s::ProtoWatchStreamParser parser(Agent(), max);
    std::vector<swg::k8s::WatchEvent> out;
    swg::Status s = parser.Feed(body, out);
    return s.ok() ? std::string() : s.error().message;
  };
  CHECK(fails(std::string("\0\x10\0\0", 4), 1000) ==
        "watch stream: event at byte 0 is larger than 1000 bytes");
  CHECK(fails(Frame(Len(1, "EXPLODED") + Len(2, Len(1, HandNode("n"))))) ==
        "watch stream: event at byte 0: unknown event type \"EXPLODED\"");
  CHECK(fails(Frame(Len(1, "ADDED"))) ==
        "watch stream: event at byte 0 (ADDED): \"object\" is missing or not an object");
  CHECK(fails(Frame(Len(1, "ADDED") + Len(2, Len(1, Envelope("Pod", HandNode("n")))))) ==
        "watch stream: event at byte 0 (ADDED): expected a Node, got kind \"Pod\"");
  CHECK(fails(Frame(Len(1, "BOOKMARK") + Len(2, Len(1, Len(1, ""))))) ==
        "watch stream: event at byte 0 (BOOKMARK): metadata.resourceVersion is missing");
  CHECK(fails(Frame("\xff\xff")).starts_with("watch stream: event at byte 0: protobuf at byte 4: "));
}
