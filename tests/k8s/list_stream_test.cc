// The streaming NodeList parser: the same result as the whole-document parser however the body is cut, and
// the bounds (item size, parse memory, what lies outside the items) on hand-made hostile bodies.
#include "k8s/list_stream.h"

#include <doctest/doctest.h>

#include "common/files.h"
#include "k8s/json_load.h"
#include "tests/k8s/memory.h"

using swg::Ok;
using swg::Status;
using swg::k8s::AnnotationFilter;
using swg::k8s::kErrorOverLimit;
using swg::k8s::NodeInfo;
using swg::k8s::NodeListPage;
using swg::k8s::NodeListStreamParser;

namespace {

std::string Data(const std::string& name) {
  auto text = swg::ReadFile(std::string(SWG_K8S_TEST_DATA) + "/" + name);
  REQUIRE(text.ok());
  return *text;
}

struct Outcome {
  std::vector<NodeInfo> items;
  swg::Result<NodeListPage> page = swg::Error{"not run"};
  std::string error;  // from Feed
  int code = 0;
};

// Feeds `body` in pieces of `piece` bytes (0: whole).
Outcome Run(std::string_view body, size_t piece = 0, size_t max_item = 1u << 20) {
  Outcome out;
  NodeListStreamParser parser(AnnotationFilter::All(), max_item, [&](NodeInfo node) -> Status {
    out.items.push_back(std::move(node));
    return Ok();
  });
  if (piece == 0) piece = std::max<size_t>(body.size(), 1);
  for (size_t pos = 0; pos < body.size(); pos += piece) {
    Status s = parser.Feed(body.substr(pos, piece));
    if (!s.ok()) {
      out.error = s.error().message;
      out.code = s.error().code;
      return out;
    }
  }
  out.page = parser.Finish();
  if (!out.page.ok()) {
    out.error = out.page.error().message;
    out.code = out.page.error().code;
  }
  return out;
}

std::string Page(const std::string& items, const std::string& meta = R"({"resourceVersion":"9"})") {
  return R"({"kind":"NodeList","apiVersion":"v1","metadata":)" + meta + R"(,"items":[)" + items + "]}";
}

}  // namespace

TEST_CASE("a recorded page cut anywhere gives what the whole-document parser gives") {
  const std::string body = Data("node_list_page.json");
  auto whole = swg::k8s::ParseNodeList(body, AnnotationFilter::All());
  REQUIRE(whole.ok());
  for (size_t piece : {size_t{0}, size_t{1}, size_t{2}, size_t{3}, size_t{7}, size_t{64}, size_t{1000}}) {
    Outcome o = Run(body, piece);
    INFO("piece ", piece, ": ", o.error);
    REQUIRE(o.page.ok());
    CHECK(o.items == whole->items);
    CHECK(o.page->items.empty());
    CHECK(o.page->resource_version == whole->resource_version);
    CHECK(o.page->continue_token == whole->continue_token);
  }
}

TEST_CASE("the continue token is known before the items when metadata comes first, as apiservers send it") {
  std::optional<std::string> seen_at_first_item;
  NodeListStreamParser* self = nullptr;
  NodeListStreamParser parser(AnnotationFilter::All(), 1u << 20, [&](NodeInfo) -> Status {
    if (!seen_at_first_item) seen_at_first_item = self->continue_token().value_or("(unknown)");
    return Ok();
  });
  self = &parser;
  REQUIRE(
      parser.Feed(Page(R"({"metadata":{"name":"a"}})", R"({"resourceVersion":"9","continue":"c1"})")).ok());
  CHECK(seen_at_first_item == "c1");
  auto page = parser.Finish();
  REQUIRE(page.ok());
  CHECK(page->continue_token == "c1");
  CHECK(parser.items() == 1);

  // Metadata after the items: known only at the end, and still right.
  Outcome late =
      Run(R"({"items":[{"metadata":{"name":"a"}}],"metadata":{"resourceVersion":"9","continue":"c2"}})");
  REQUIRE(late.page.ok());
  CHECK(late.page->continue_token == "c2");
  CHECK(late.items.size() == 1);
}

TEST_CASE("an empty or null items list, and strings that look like structure, parse") {
  CHECK(Run(Page("")).items.empty());
  CHECK(Run(R"({"metadata":{"resourceVersion":"9"},"items":null})").page.ok());
  Outcome tricky = Run(Page(R"({"metadata":{"name":"a]},{","annotations":{"items":"[{\"]"}}})"), 1);
  REQUIRE(tricky.page.ok());
  REQUIRE(tricky.items.size() == 1);
  CHECK(tricky.items[0].name == "a]},{");
  CHECK(tricky.items[0].annotations.at("items") == "[{\"]");
}

TEST_CASE("malformed bodies are errors that say what, and no item is delivered after one") {
  CHECK(Run(Page(R"({"metadata":{"name":"a"}} {"metadata":{"name":"b"}})")).error ==
        "node list: items: expected ',' or ']' at byte 107");
  CHECK(Run(Page(R"({"metadata":{"name":"a"}},)")).error == "node list: items: ']' after ',' at byte 107");
  CHECK(Run(Page(R"(,{"metadata":{"name":"a"}})")).error == "node list: items: unexpected ',' at byte 81");
  CHECK(Run(Page(R"({"metadata":{"name":"a"}},7)")).error ==
        "node list: items[1] at byte 107: expected an object");
  CHECK(Run(Page(R"({"metadata":{}})")).error ==
        "node list: items[0]: node: metadata.name is missing or empty");
  CHECK(Run(Page(R"({"metadata":{"name":"a"}})").substr(0, 70)).error ==
        "node list: the body ended after 70 bytes, before the list was complete");
  CHECK(Run(R"({"kind":"PodList","metadata":{"resourceVersion":"9"},"items":[]})").error ==
        "node list: expected kind \"NodeList\", got \"PodList\"");
  CHECK(Run(Page("") + "x").error.find("node list: invalid JSON at byte") == 0);
  CHECK(Run(R"({"metadata":{"resourceVersion":"9"},"items":[],"items":[]})")
            .error.find("node list: invalid JSON") == 0);
  CHECK(Run(R"({"metadata":{"resourceVersion":"9"},"it\u0065ms":[{"metadata":{"name":"a"}}]})").error ==
        "node list: items outside the top-level \"items\" array");
  Outcome bad = Run(Page(R"({"metadata":{"name":"a"}},{"metadata":{"name":7}},{"metadata":{"name":"c"}})"));
  CHECK(bad.items.size() == 1);
  CHECK(bad.code == 0);
}

TEST_CASE("an item over the size bound, or over the parse memory bound, is refused with kErrorOverLimit") {
  const std::string big = R"({"metadata":{"name":"big","labels":{"x":")" + std::string(5000, 'x') + "\"}}}";
  for (size_t piece : {size_t{0}, size_t{100}}) {
    Outcome o = Run(Page(R"({"metadata":{"name":"a"}},)" + big), piece, 4096);
    CHECK(o.error == "node list: items[1] (at byte 107) is larger than 4 KiB");
    CHECK(o.code == kErrorOverLimit);
    CHECK(o.items.size() == 1);
  }
  // 1 MiB of empty objects would take about 80 MiB as jansson's tree: jansson refuses it at the memory bound.
  // Items are read without a tree (node_reader.h), in memory of the size of what they keep, so it is read.
  std::string objects = R"({"metadata":{"name":"o","labels":{"x":"y"}},"spec":{"taints":[)";
  while (objects.size() < (1u << 20)) objects += "{},";
  objects += "{}]}}";
  auto tree = swg::k8s::ParseNodeJsonTree(objects, AnnotationFilter::All());
  REQUIRE_FALSE(tree.ok());
  CHECK(tree.error().message.find("node: needs more than 16 MiB of memory to parse (") == 0);
  CHECK(tree.error().code == kErrorOverLimit);
  std::string page = Page(objects);
  swg::test::RssPeak peak;
  Outcome o = Run(page, 0, 4u << 20);
  swg::test::CheckGrowthBelow(peak.growth_bytes(), 4u << 20);
  CHECK(o.error == "");
  REQUIRE(o.items.size() == 1);
  CHECK(o.items[0].name == "o");
  // What an item keeps is bounded the same: 1.6 MB of annotations would take more than 16 MiB as NodeInfo.
  std::string many = R"({"metadata":{"name":"m","annotations":{)";
  for (int i = 0; many.size() < 1600000; ++i) many += "\"k" + std::to_string(i) + "\":\"\",";
  many += R"("last":""}}})";
  o = Run(Page(many), 0, 4u << 20);
  CHECK(o.error.find("node list: items[0]: node: needs more than 16 MiB of memory to parse (") == 0);
  CHECK(o.code == kErrorOverLimit);
}

TEST_CASE("more than 1 MiB outside the items is refused") {
  std::string meta = R"({"resourceVersion":"9","padding":")" + std::string(1u << 20, 'p') + "\"}";
  Outcome o = Run(Page("", meta), 4096);
  CHECK(o.error == "node list: more than 1 MiB outside the items");
  CHECK(o.code == kErrorOverLimit);
}

TEST_CASE("an error from the item callback stops the parser and comes back as it is") {
  int calls = 0;
  NodeListStreamParser parser(AnnotationFilter::All(), 1u << 20, [&](NodeInfo) -> Status {
    if (++calls == 2) return swg::Error{"enough", 42};
    return Ok();
  });
  Status s =
      parser.Feed(Page(R"({"metadata":{"name":"a"}},{"metadata":{"name":"b"}},{"metadata":{"name":"c"}})"));
  REQUIRE_FALSE(s.ok());
  CHECK(s.error().message == "enough");
  CHECK(s.error().code == 42);
  CHECK(calls == 2);
  CHECK_FALSE(parser.Feed("]}").ok());
}

TEST_CASE("the bounded JSON loader counts only its own tree and leaves other parses alone") {
  std::string objects = "[";
  for (int i = 0; i < 100000; ++i) objects += "{},";
  objects += "{}]";
  auto small = swg::k8s::LoadJson(objects, 0, 1u << 20);
  REQUIRE_FALSE(small.ok());
  CHECK(small.error().code == kErrorOverLimit);
  CHECK(small.error().message == "needs more than 1 MiB of memory to parse (300004 bytes of JSON)");
  auto enough = swg::k8s::LoadJson(objects, 0, 64u << 20);
  REQUIRE(enough.ok());
  CHECK(json_array_size(enough->get()) == 100001);
  // A tree loaded earlier, freed while another bounded load runs, does not disturb the count.
  auto next = swg::k8s::LoadJson(R"({"a":[1,2,3]})", 0, 4096);
  enough->reset();
  REQUIRE(next.ok());
  CHECK(swg::k8s::LoadJson("[1,", 0).error().message ==
        "invalid JSON at byte 3: ']' expected near end of file");
}
