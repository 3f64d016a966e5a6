// Node, NodeList and Status parsing on recorded apiserver output (kube-apiserver v1.36.3, tests/k8s/data) and
// on hand-made objects.
#include "k8s/parse.h"

#include <doctest/doctest.h>

#include "common/files.h"
#include "tests/k8s/node_reader_diff.h"

using swg::k8s::AnnotationFilter;
using swg::k8s::ParseNodeList;
using swg::k8s::ParseStatusJson;
using swg::k8s::ParseTimestamp;

namespace {

// Every Node these tests parse is also checked against jansson's tree (tests/k8s/node_reader_test.cc).
swg::Result<swg::k8s::NodeInfo> ParseChecked(std::string_view json, const AnnotationFilter& filter) {
  swg::test::CheckSameAsJansson(json, filter);
  return swg::k8s::ParseNodeJson(json, filter);
}

std::string Data(const std::string& name) {
  auto text = swg::ReadFile(std::string(SWG_K8S_TEST_DATA) + "/" + name);
  REQUIRE(text.ok());
  return *text;
}

std::string ErrorOf(std::string_view json) {
  auto node = ParseChecked(json, AnnotationFilter::All());
  REQUIRE_FALSE(node.ok());
  return node.error().message;
}

}  // namespace

TEST_CASE("a recorded node list page parses into the fields the agent keeps") {
  auto page = ParseNodeList(Data("node_list_page.json"), AnnotationFilter::All());
  REQUIRE(page.ok());
  CHECK(page->resource_version == "304");
  CHECK(page->continue_token.rfind("eyJ2Ijoi", 0) == 0);
  REQUIRE(page->items.size() == 2);
  const auto& n = page->items[0];
  CHECK(n.name == "rec-n1");
  CHECK(n.uid.size() == 36);
  CHECK_FALSE(n.resource_version.empty());
  CHECK(n.creation_timestamp > 1700000000);
  CHECK(n.pod_cidrs == std::vector<std::string>{"10.4.1.0/24"});  // spec.podCIDR when podCIDRs is absent
  REQUIRE(n.addresses.size() == 1);
  CHECK(n.addresses[0].type == "InternalIP");
  CHECK(n.addresses[0].address == "192.168.0.1");
  CHECK(page->items[1].name == "rec-n2");
}

TEST_CASE("only the annotations asked for are kept") {
  std::string node = R"({"kind":"Node","metadata":{"name":"n1","uid":"u","resourceVersion":"7",
    "creationTimestamp":"2026-01-02T03:04:05Z","annotations":{"c1.wireguard.semaphore.uw.io/pubKey":"K","noise":"x"}},
    "spec":{"podCIDR":"10.0.0.0/24","podCIDRs":["10.0.0.0/24","fd00::/64"]},
    "status":{"addresses":[{"type":"Hostname","address":"n1"},{"type":"InternalIP","address":"10.1.1.1"}]}})";
  auto all = ParseChecked(node, AnnotationFilter::All());
  REQUIRE(all.ok());
  CHECK(all->annotations.size() == 2);
  auto some = ParseChecked(node, AnnotationFilter::Only({"c1.wireguard.semaphore.uw.io/pubKey", "absent"}));
  REQUIRE(some.ok());
  CHECK(some->annotations ==
        std::map<std::string, std::string>{{"c1.wireguard.semaphore.uw.io/pubKey", "K"}});
  CHECK(some->pod_cidrs == std::vector<std::string>{"10.0.0.0/24", "fd00::/64"});  // podCIDRs wins
  CHECK(some->creation_timestamp == 1767323045);
  CHECK(some->addresses.size() == 2);
  CHECK(some->addresses[1].address == "10.1.1.1");
}

TEST_CASE("conditions are kept only when asked for, by type prefix") {
  std::string node = R"({"kind":"Node","metadata":{"name":"n1"},"status":{"conditions":[
    {"type":"Ready","status":"True","reason":"KubeletReady"},
    {"type":"WireGuardC2Ready","status":"False","reason":"NoHandshakes","message":"2 peers, 0 fresh",
     "lastHeartbeatTime":"2026-12-03T15:00:00Z"}]}})";
  CHECK(ParseChecked(node, AnnotationFilter::All())->conditions.empty());  // the agent's informers
  AnnotationFilter wg = AnnotationFilter::All();
  wg.condition_prefix = "WireGuard";
  auto parsed = ParseChecked(node, wg);
  REQUIRE(parsed.ok());
  CHECK(parsed->conditions == std::vector<swg::k8s::NodeCondition>{
                                  {"WireGuardC2Ready", "False", "NoHandshakes", "2 peers, 0 fresh"}});
  auto bad = ParseChecked(R"({"metadata":{"name":"n1"},"status":{"conditions":[{"type":3}]}})", wg);
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().message == "node \"n1\": status.conditions[0].type: expected a string, got integer");
}

TEST_CASE("malformed nodes are errors that name the node and the field") {
  CHECK(ErrorOf(R"({"metadata":{}})") == "node: metadata.name is missing or empty");
  CHECK(ErrorOf(R"({"metadata":{"name":"n1","annotations":{"a":1}}})") ==
        "node \"n1\": metadata.annotations[\"a\"]: expected a string, got integer");
  CHECK(ErrorOf(R"({"metadata":{"name":"n1"},"spec":{"podCIDRs":"10.0.0.0/24"}})") ==
        "node \"n1\": spec.podCIDRs: expected an array, got string");
  CHECK(ErrorOf(R"({"metadata":{"name":"n1"},"spec":{"podCIDRs":["a",2]}})") ==
        "node \"n1\": spec.podCIDRs[1]: expected a string, got integer");
  CHECK(ErrorOf(R"({"metadata":{"name":"n1"},"status":{"addresses":[{"type":"x","address":{}}]}})") ==
        "node \"n1\": status.addresses[0].address: expected a string, got object");
  CHECK(ErrorOf(R"({"metadata":{"name":"n1","creationTimestamp":"yesterday"}})") ==
        "node \"n1\": metadata.creationTimestamp: not an RFC 3339 time: \"yesterday\"");
  CHECK(ErrorOf(R"({"kind":"Pod","metadata":{"name":"n1"}})") == "expected a Node, got kind \"Pod\"");
  // A metadata-only watch's object (kNodeMetadataAccept) reads as a Node without spec and status.
  auto meta = ParseChecked(R"({"kind":"PartialObjectMetadata","metadata":{"name":"n1"}})", AnnotationFilter::All());
  REQUIRE(meta.ok());
  CHECK(meta->name == "n1");
  CHECK(ErrorOf(R"([1,2])") == "node: object: expected an object, got array");
  CHECK(ErrorOf(R"({"metadata":{"name":"n1"},"metadata":{"name":"n2"}})").find("invalid JSON") !=
        std::string::npos);
  CHECK(ErrorOf("{\"metadata\":{\"name\":\"n1\"}").find("node: invalid JSON at byte") == 0);
  // null is as good as absent, as in Go's decoder.
  CHECK(ParseChecked(R"({"metadata":{"name":"n1","annotations":null},"spec":null})", AnnotationFilter::All())
            .ok());
}

TEST_CASE("node list errors name the item") {
  auto bad = ParseNodeList(
      R"({"kind":"NodeList","metadata":{"resourceVersion":"5"},"items":[{"metadata":{"name":"a"}},
    {"metadata":{"name":"b","uid":7}}]})",
      AnnotationFilter::All());
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().message ==
        "node list: items[1]: node \"b\": metadata.uid: expected a string, got integer");
  auto no_rv = ParseNodeList(R"({"kind":"NodeList","metadata":{},"items":[]})", AnnotationFilter::All());
  REQUIRE_FALSE(no_rv.ok());
  CHECK(no_rv.error().message == "node list: metadata.resourceVersion is missing or not a string");
  auto status = ParseNodeList(Data("status_404.json"), AnnotationFilter::All());
  REQUIRE_FALSE(status.ok());
  CHECK(status.error().message == "node list: expected kind \"NodeList\", got \"Status\"");
  auto empty = ParseNodeList(R"({"kind":"NodeList","metadata":{"resourceVersion":"9"},"items":null})",
                             AnnotationFilter::All());
  REQUIRE(empty.ok());
  CHECK(empty->items.empty());
  CHECK(empty->continue_token.empty());
}

TEST_CASE("Status bodies give code, reason and message") {
  auto s = ParseStatusJson(Data("status_404.json"));
  REQUIRE(s);
  CHECK(s->code == 404);
  CHECK(s->reason == "NotFound");
  CHECK(s->message == "nodes \"absent\" not found");
  CHECK_FALSE(ParseStatusJson(R"({"kind":"Node"})"));
  CHECK_FALSE(ParseStatusJson("<html>bad gateway</html>"));
}

TEST_CASE("RFC 3339 timestamps") {
  CHECK(ParseTimestamp("1970-01-01T00:00:00Z") == 0);
  CHECK(ParseTimestamp("2026-11-27T22:02:17Z") == 1795816937);
  CHECK(ParseTimestamp("2026-11-27T22:02:17.123456Z") == 1795816937);
  CHECK(ParseTimestamp("2026-11-27T23:02:17+01:00") == 1795816937);
  CHECK(ParseTimestamp("2000-02-29T00:00:00Z") == 951782400);
  CHECK_FALSE(ParseTimestamp("2026-11-27 22:02:17Z"));
  CHECK_FALSE(ParseTimestamp("2026-13-01T00:00:00Z"));
  CHECK_FALSE(ParseTimestamp("2026-11-27T22:02:17"));
  CHECK_FALSE(ParseTimestamp("2026-11-27T22:02:17Zjunk"));
  CHECK_FALSE(ParseTimestamp(""));
}
