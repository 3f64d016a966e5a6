// The one-pass Node reader against jansson's tree and ParseNode, on realistic Nodes (recorded from
// kube-apiserver, made by scripts/bench.d/nodes.py) and on every mutation of them that a test can enumerate:
// each value replaced by one of each JSON type, each object given a duplicate key, every truncation, bad
// escapes, bad UTF-8, numbers at the edges of what jansson takes, deep nesting.
#include "k8s/node_reader.h"

#include <doctest/doctest.h>

#include <functional>
#include <string>
#include <vector>

#include "common/files.h"
#include "common/json.h"
#include "common/strings.h"
#include "k8s/json_load.h"
#include "k8s/json_reader.h"
#include "k8s/watch_stream.h"
#include "tests/k8s/node_reader_diff.h"

using swg::k8s::AnnotationFilter;
using swg::k8s::NodeInfo;

namespace swg::test {

bool CheckSameAsJansson(std::string_view json, const AnnotationFilter& filter) {
  Result<NodeInfo> tree = k8s::ParseNodeJsonTree(json, filter);
  bool malformed = false;
  Result<NodeInfo> read = k8s::ReadNode(json, filter, &malformed);
  Result<NodeInfo> full = k8s::ParseNodeJson(json, filter);
  INFO("input: ", json.substr(0, 200), std::string_view(json.size() > 200 ? "..." : ""));
  INFO("jansson: ", tree.ok() ? "ok" : tree.error().message);
  INFO("reader: ", read.ok() ? "ok" : read.error().message);
  // What callers get is jansson's outcome exactly.
  REQUIRE(full.ok() == tree.ok());
  if (tree.ok()) {
    CHECK(*full == *tree);
  } else {
    CHECK(full.error().message == tree.error().message);
    CHECK(full.error().code == tree.error().code);
  }
  // The reader alone: its own words for bad text, jansson's for bad fields.
  const bool text_error = !tree.ok() && (tree.error().message.starts_with("node: invalid JSON at byte ") ||
                                         tree.error().code == k8s::kErrorOverLimit);
  if (!read.ok() && read.error().message.find("nested deeper than") != std::string::npos) {
    CHECK(malformed);  // deeper than the reader goes; jansson reads it (above) up to its own bound
  } else if (!tree.ok() && tree.error().code == k8s::kErrorOverLimit && read.ok()) {
    // jansson's tree of it is too large; the reader keeps little of it
  } else {
    REQUIRE(read.ok() == tree.ok());
    if (tree.ok()) {
      CHECK(*read == *tree);
    } else if (text_error) {
      CHECK((malformed || read.error().code == k8s::kErrorOverLimit));
    } else {
      CHECK_FALSE(malformed);
      CHECK(read.error().message == tree.error().message);
    }
  }

  // As a watch event's object: the outcome of jansson's decoding of the event, then ParseNode.
  const std::string event = R"({"type":"MODIFIED","object":)" + std::string(json) + "}";
  std::string old_error;
  std::optional<NodeInfo> old_node;
  Result<JsonPtr> root = k8s::LoadJson(event, JSON_DISABLE_EOF_CHECK | JSON_REJECT_DUPLICATES);
  if (!root.ok()) {
    old_error = "bad text";
  } else if (const json_t* object = json_object_get(root->get(), "object"); !json_is_object(object)) {
    old_error = "watch stream: event at byte 0 (MODIFIED): \"object\" is missing or not an object";
  } else if (Result<NodeInfo> node = k8s::ParseNode(object, filter); !node.ok()) {
    old_error = "watch stream: event at byte 0 (MODIFIED): " + node.error().message;
  } else {
    old_node = std::move(node).value();
  }
  k8s::WatchStreamParser parser(filter);
  std::vector<k8s::WatchEvent> events;
  Status fed = parser.Feed(event, events);
  if (old_node) {
    CHECK(fed.ok() == tree.ok());  // (else bytes after the object, an error once the event is decoded)
    REQUIRE(events.size() == 1);
    CHECK(events[0].type == k8s::WatchEventType::kModified);
    CHECK(events[0].node == *old_node);
    CHECK(events[0].resource_version == old_node->resource_version);
  } else if (old_error == "bad text") {
    CHECK((!fed.ok() || events.empty()));  // an error, or (cut) no whole event yet
  } else {
    REQUIRE_FALSE(fed.ok());
    CHECK(fed.error().message == old_error);
  }
  return tree.ok();
}

}  // namespace swg::test

namespace {

using swg::test::CheckSameAsJansson;

std::string Data(const std::string& name) {
  auto text = swg::ReadFile(std::string(SWG_K8S_TEST_DATA) + "/" + name);
  REQUIRE(text.ok());
  return *text;
}

std::vector<AnnotationFilter> Filters() {
  AnnotationFilter ready = AnnotationFilter::All();
  ready.condition_prefix = "Re";
  AnnotationFilter some = AnnotationFilter::Only({"c1.wireguard.semaphore.uw.io/pubKey", "k2", "node.alpha.kubernetes.io/ttl"});
  some.condition_prefix = "N";
  return {AnnotationFilter::All(), ready, some};
}

// With each filter; true when jansson took it.
bool Same(std::string_view json) {
  bool ok = true;
  for (const AnnotationFilter& f : Filters()) ok = CheckSameAsJansson(json, f) && ok;
  return ok;
}

// Realistic Nodes: the recorded ones (list page and watch events) and those of the bench.
std::vector<std::string> RealNodes() {
  std::vector<std::string> out;
  for (const char* list : {"node_list_page.json", "bench_nodes.json"}) {
    auto root = swg::k8s::LoadJson(Data(list), 0);
    REQUIRE(root.ok());
    size_t i;
    json_t* item;
    json_array_foreach(json_object_get(root->get(), "items"), i, item) out.push_back(swg::JsonDump(item));
  }
  const std::string events = Data("watch_nodes.jsonl");
  for (std::string_view line : swg::Split(events, '\n')) {
    if (line.empty()) continue;
    auto root = swg::k8s::LoadJson(line, 0);
    REQUIRE(root.ok());
    if (swg::JsonString(root->get(), "type") == "BOOKMARK") continue;  // not a whole Node
    out.push_back(swg::JsonDump(json_object_get(root->get(), "object")));
  }
  return out;
}

// Every value of the tree under `v`, replaced in turn by `replace(old)`'s values, as text of the whole `root`.
void EachReplacement(json_t* root, json_t* v, const std::function<void(const std::string&)>& check) {
  static const char* const kValues[] = {"7", "-1.5", "true", "null", "\"\"", "\"s\"", "[]", "{}", "[\"x\",3]",
                                        "{\"type\":1,\"address\":null}"};
  auto each_value = [&](const std::function<void(json_t*)>& set, json_t* old) {
    for (const char* text : kValues) {
      json_error_t err;
      json_t* value = json_loads(text, JSON_DECODE_ANY, &err);
      set(value);
      check(swg::JsonDump(root));
    }
    set(json_incref(old));
  };
  if (json_is_object(v)) {
    const char* key;
    json_t* member;
    void* tmp;
    json_object_foreach_safe(v, tmp, key, member) {
      json_t* old = json_incref(member);
      std::string k = key;
      each_value([&](json_t* value) { json_object_set_new(v, k.c_str(), value); }, old);
      json_decref(old);
      EachReplacement(root, json_object_get(v, k.c_str()), check);
    }
  } else if (json_is_array(v)) {
    for (size_t i = 0; i < json_array_size(v); ++i) {
      json_t* old = json_incref(json_array_get(v, i));
      each_value([&](json_t* value) { json_array_set_new(v, i, value); }, old);
      json_decref(old);
      EachReplacement(root, json_array_get(v, i), check);
    }
  }
}

// Every object under `v` given its first key a second time.
void EachDuplicate(json_t* root, json_t* v, const std::function<void(const std::string&)>& check) {
  if (json_is_object(v) && json_object_size(v) > 0) {
    std::string first = json_object_iter_key(json_object_iter(v));
    json_object_set_new(v, "zz-dup-zz", json_integer(0));
    std::string text = swg::JsonDump(root);
    json_object_del(v, "zz-dup-zz");
    size_t at = text.find("\"zz-dup-zz\"");
    REQUIRE(at != std::string::npos);
    text.replace(at, 11, "\"" + first + "\"");
    check(text);
  }
  if (json_is_object(v)) {
    const char* key;
    json_t* member;
    json_object_foreach(v, key, member) EachDuplicate(root, member, check);
  } else if (json_is_array(v)) {
    for (size_t i = 0; i < json_array_size(v); ++i) EachDuplicate(root, json_array_get(v, i), check);
  }
}

// A small Node with every field the reader reads.
const std::string kSmall = R"({"kind":"Node","apiVersion":"v1","metadata":{"name":"n1","uid":"u-1",
 "resourceVersion":"42","creationTimestamp":"2026-01-02T03:04:05.5+01:00","labels":{"a":"b"},
 "annotations":{"c1.wireguard.semaphore.uw.io/pubKey":"K=","k2":"v\u00e9\n","x":""}},
 "spec":{"podCIDR":"10.0.0.0/24","podCIDRs":["10.0.0.0/24","fd00::/64"],"taints":[{"key":"t","effect":"NoSchedule"}]},
 "status":{"capacity":{"cpu":"8"},"addresses":[{"type":"InternalIP","address":"10.1.1.1"},{"type":"Hostname",
 "address":"n1","x":[1,2.5e3,-0,true,false,null]}],"conditions":[{"type":"Ready","status":"True",
 "reason":"KubeletReady","message":"ok","lastHeartbeatTime":"2026-12-03T15:00:00Z"},{"type":"NetworkUnavailable",
 "status":"False"}],"images":[{"names":["a@sha256:00","a:1"],"sizeBytes":123456789}]}})";

}  // namespace

TEST_CASE("the reader reads realistic Nodes exactly as jansson and ParseNode do") {
  std::vector<std::string> nodes = RealNodes();
  REQUIRE(nodes.size() >= 8);
  for (const std::string& node : nodes) CHECK(Same(node));
  CHECK(Same(kSmall));
  // And their pretty-printed forms (other whitespace).
  auto root = swg::k8s::LoadJson(kSmall, 0);
  REQUIRE(root.ok());
  CHECK(Same(swg::JsonDump(root->get(), true)));
  auto node = swg::k8s::ReadNode(kSmall, Filters()[1]);
  REQUIRE(node.ok());
  CHECK(node->name == "n1");
  CHECK(node->annotations.at("k2") == "v\xc3\xa9\n");
  CHECK(node->conditions.size() == 1);
  CHECK(node->creation_timestamp == 1767319445);
}

TEST_CASE("every value replaced by each JSON type: the same result or the same error naming the field") {
  size_t inputs = 0, refused = 0;
  auto check = [&](const std::string& text) {
    ++inputs;
    refused += Same(text) ? 0 : 1;
  };
  for (const std::string& base : {kSmall, RealNodes().back()}) {
    auto root = swg::k8s::LoadJson(base, 0);
    REQUIRE(root.ok());
    EachReplacement(root->get(), root->get(), check);
    EachDuplicate(root->get(), root->get(), check);
  }
  MESSAGE(inputs, " inputs, ", refused, " refused by jansson and ParseNode");
  CHECK(refused > 100);  // the mutations reach the fields that are checked
}

TEST_CASE("malformed text: every truncation, bad escapes, bad UTF-8, numbers, literals, duplicates, nesting") {
  for (size_t n = 0; n < kSmall.size(); ++n) CHECK_FALSE(Same(kSmall.substr(0, n)));
  const std::string before = R"({"metadata":{"name":"n","annotations":{"k2":")";
  const std::string after = R"("}},"status":{"images":[{"names":["x"]}]}})";
  for (const std::string& s : std::vector<std::string>{"\\x", "\\u12", "\\u12g4", "\\ud800", "\\ud800\\u0041", "\\udc00", "\\u0000", "\\u00e9", "\\ud83d\\ude00",
        "\\/\\b\\f\\r\\t\\\"", "\\", "\x80", "\xc0\x80", "\xc1\xbf", "\xc2\xa9", "\xe0\x80\x80", "\xe2\x82",
        "\xe2\x82\xac", "\xed\xa0\x80", "\xef\xbf\xbf", "\xf0\x9f\x98\x80", "\xf4\x90\x80\x80", "\xf5\x80\x80\x80",
        "\xff", std::string("a\0b", 3), "\x1f", "\x7f", "\t"}) {
    Same(before + s + after);
    Same(R"({"metadata":{"name":"n","labels":{")" + s + R"(":1}}})");  // in a key
  }
  for (const char* number :
       {"0", "-0", "01", "-01", "1.", ".5", "1e", "1e+", "1E-2", "2.5e3", "-", "+1", "9223372036854775807",
        "9223372036854775808", "-9223372036854775808", "-9223372036854775809", "1e308", "1e309", "-1e400",
        "1e-400", "123456789012345678901234567890", "1.5e99999999999999999999", "0x10", "1_000", "NaN",
        "Infinity", "tru", "nul", "true1", "falsey", "nulll", "[1,]", "[,1]", "{\"a\":1,}", "{,}", "{\"a\"}",
        "{\"a\" 1}", "{1:2}", "[1 2]", "{\"a\":1 \"b\":2}"}) {
    Same(std::string(R"({"metadata":{"name":"n"},"status":{"allocatable":)") + number + "}}");
    Same(std::string(R"({"metadata":{"name":"n","uid":)") + number + "}}");
  }
  for (const char* whole : {"", " ", "[]", "[{}]", "{}", "null", "7", "\"n\"", "{} {}", "{}x", "{}\n\t \r",
                            "\xef\xbb\xbf{}", R"({"metadata":{"name":"n"}} )", R"({"metadata":{"name":"n"}}})"}) {
    Same(whole);
  }
  // Nesting around the reader's bound (512) and jansson's (2048), in a skipped field and at the top.
  for (size_t depth : {10, 509, 510, 511, 512, 513, 2040, 2046, 2047, 2048, 2049, 100000}) {
    std::string deep = R"({"metadata":{"name":"n"},"status":{"x":)" + std::string(depth, '[') + std::string(depth, ']') + "}}";
    Same(deep);
    Same(std::string(depth, '[') + std::string(depth, ']'));
    Same(R"({"metadata":{"name":"n"},"status":{"x":)" + std::string(depth, '['));
  }
  std::string objects = R"({"metadata":{"name":"n"},"x":)";
  for (int i = 0; i < 600; ++i) objects += R"({"a":)";
  objects += "1";
  for (int i = 0; i < 600; ++i) objects += "}";
  Same(objects + "}");
}

TEST_CASE("errors in several fields: the first in ParseNode's order, whatever the document's order") {
  for (const char* text : {
           R"({"status":{"addresses":7},"spec":{"podCIDRs":[1]},"metadata":{"uid":1,"name":"n"}})",
           R"({"status":{"addresses":[{"type":1},{"address":2}]},"metadata":{"name":"n"}})",
           R"({"metadata":{"annotations":{"a":1,"b":[],"c":null},"name":"n"}})",
           R"({"metadata":{"annotations":{"b":[],"a":1},"name":"n","creationTimestamp":"yesterday"}})",
           R"({"metadata":{"name":7},"kind":"Pod"})",
           R"({"kind":7,"metadata":{"name":""}})",
           R"({"metadata":null,"spec":7})",
           R"({"metadata":{"name":"n"},"spec":{"podCIDR":7,"podCIDRs":["a",null]}})",
           R"({"metadata":{"name":"n"},"status":{"conditions":[{"type":"Ready","message":1,"status":2},7]}})",
           R"({"metadata":{"name":"n"},"status":{"conditions":[null]},"spec":[]})",
           R"({"metadata":{"name":"n\"q\u0001"},"spec":{"podCIDRs":{}}})",
           R"({"metadata":{"name":"n","annotations":{"k\"\\\n":1}}})",
       }) {
    CHECK_FALSE(Same(text));
  }
  CHECK(Same(R"({"metadata":{"name":"n"},"spec":{"podCIDR":"","podCIDRs":null}})"));
}

TEST_CASE("the JSON reader on its own: kinds, keys with escapes, duplicates told apart after decoding") {
  swg::k8s::JsonReader in(R"({"a\u0062":[1,2.0,"x",true,null,{}],"ab":0})");
  REQUIRE(in.BeginObject());
  std::string_view key;
  REQUIRE(in.NextKey(&key));
  CHECK(key == "ab");
  swg::k8s::JsonKind kind;
  REQUIRE(in.SkipValue(&kind));
  CHECK(kind == swg::k8s::JsonKind::kArray);
  REQUIRE(in.NextKey(&key));
  REQUIRE(in.SkipValue(&kind));
  CHECK(kind == swg::k8s::JsonKind::kInteger);
  CHECK_FALSE(in.NextKey(&key));
  CHECK(in.error() == "invalid JSON at byte 42: duplicate object key");
}
