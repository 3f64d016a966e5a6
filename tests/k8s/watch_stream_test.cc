// The watch stream parser on a recorded stream (kube-apiserver v1.36.3: ADDED, MODIFIED, DELETED, BOOKMARK,
// and an ERROR 410 from a compacted resourceVersion) cut every possible way, and on hand-made and broken
// streams.
#include "k8s/watch_stream.h"

#include <doctest/doctest.h>

#include <random>

#include "common/files.h"

using swg::k8s::AnnotationFilter;
using swg::k8s::WatchEvent;
using swg::k8s::WatchEventType;
using swg::k8s::WatchStreamParser;

namespace {

const char* const kPubKey = "c2.wireguard.semaphore.uw.io/pubKey";
const char* const kEndpoint = "c2.wireguard.semaphore.uw.io/endpoint";

std::string Data(const std::string& name) {
  auto text = swg::ReadFile(std::string(SWG_K8S_TEST_DATA) + "/" + name);
  REQUIRE(text.ok());
  return *text;
}

WatchStreamParser Parser() { return WatchStreamParser(AnnotationFilter::Only({kPubKey, kEndpoint})); }

std::vector<WatchEvent> FeedInPieces(const std::string& stream, const std::vector<size_t>& cuts) {
  WatchStreamParser p = Parser();
  std::vector<WatchEvent> out;
  size_t pos = 0;
  for (size_t cut : cuts) {
    REQUIRE(p.Feed(std::string_view(stream).substr(pos, cut - pos), out).ok());
    pos = cut;
  }
  REQUIRE(p.Feed(std::string_view(stream).substr(pos), out).ok());
  CHECK(p.buffered() == 0);
  return out;
}

void CheckRecorded(const std::vector<WatchEvent>& ev) {
  REQUIRE(ev.size() == 5);
  CHECK(ev[0].type == WatchEventType::kAdded);
  CHECK(ev[0].node.name == "rec-1");
  CHECK(ev[0].node.annotations == std::map<std::string, std::string>{{kPubKey, "k"}});
  CHECK(ev[0].node.pod_cidrs == std::vector<std::string>{"10.4.9.0/24", "fd00:4:9::/64"});
  CHECK(ev[0].node.addresses.size() == 2);
  CHECK(ev[1].type == WatchEventType::kModified);
  CHECK(ev[1].node.annotations.size() == 2);
  CHECK(ev[1].node.annotations.at(kEndpoint) == "192.168.9.1:51820");
  CHECK(ev[1].resource_version == "284");
  CHECK(ev[2].type == WatchEventType::kDeleted);
  CHECK(ev[2].node.name == "rec-1");
  CHECK(ev[3].type == WatchEventType::kBookmark);
  CHECK(ev[3].resource_version == "295");
  CHECK(ev[3].node.name.empty());
  CHECK(ev[4].type == WatchEventType::kBookmark);
}

}  // namespace

TEST_CASE("a recorded stream parses the same whole, byte by byte and in random pieces") {
  const std::string stream = Data("watch_nodes.jsonl");
  CheckRecorded(FeedInPieces(stream, {}));
  std::vector<size_t> every_byte;
  for (size_t i = 1; i < stream.size(); ++i) every_byte.push_back(i);
  CheckRecorded(FeedInPieces(stream, every_byte));
  std::mt19937 rng(7);
  for (int round = 0; round < 50; ++round) {
    std::vector<size_t> cuts;
    for (size_t pos = 0;;) {
      pos += std::uniform_int_distribution<size_t>(1, 700)(rng);
      if (pos >= stream.size()) break;
      cuts.push_back(pos);
    }
    CheckRecorded(FeedInPieces(stream, cuts));
  }
}

TEST_CASE("several events in one chunk, with or without newlines between them") {
  std::string a = R"({"type":"ADDED","object":{"metadata":{"name":"a","resourceVersion":"1"}}})";
  std::string b = R"({"type":"MODIFIED","object":{"metadata":{"name":"b","resourceVersion":"2"}}})";
  std::string c = R"({"type":"BOOKMARK","object":{"metadata":{"resourceVersion":"3"}}})";
  WatchStreamParser p = Parser();
  std::vector<WatchEvent> out;
  REQUIRE(p.Feed(a + b + "\r\n  " + c + "\n" + a.substr(0, 10), out).ok());
  REQUIRE(out.size() == 3);
  CHECK(out[0].node.name == "a");
  CHECK(out[1].node.name == "b");
  CHECK(out[2].resource_version == "3");
  CHECK(p.buffered() == 10);
  REQUIRE(p.Feed(a.substr(10) + "\n", out).ok());
  CHECK(out.size() == 4);
  CHECK(p.buffered() == 0);
}

TEST_CASE("braces, brackets and escaped quotes inside strings do not confuse the framing") {
  std::string e = R"({"type":"ADDED","object":{"metadata":{"name":"n","annotations":{")" +
                  std::string(kPubKey) + R"(":"}]\"{[\\\"x"}}}})";
  for (size_t cut = 1; cut < e.size(); ++cut) {
    WatchStreamParser p = Parser();
    std::vector<WatchEvent> out;
    REQUIRE(p.Feed(e.substr(0, cut), out).ok());
    REQUIRE(p.Feed(e.substr(cut), out).ok());
    REQUIRE(out.size() == 1);
    CHECK(out[0].node.annotations.at(kPubKey) == "}]\"{[\\\"x");
  }
}

TEST_CASE("an ERROR event carries the Status (recorded 410 Expired)") {
  WatchStreamParser p = Parser();
  std::vector<WatchEvent> out;
  REQUIRE(p.Feed(Data("watch_410.jsonl"), out).ok());
  REQUIRE(out.size() == 1);
  CHECK(out[0].type == WatchEventType::kError);
  CHECK(out[0].status.code == 410);
  CHECK(out[0].status.reason == "Expired");
  CHECK(out[0].status.message == "The resourceVersion for the provided watch is too old.");
  std::vector<WatchEvent> odd;
  REQUIRE(Parser().Feed(R"({"type":"ERROR","object":{"weird":true}})", odd).ok());
  REQUIRE(odd.size() == 1);
  CHECK(odd[0].status.code == 0);
  CHECK(odd[0].status.message == "ERROR event without a Status: {\"weird\":true}");
}

TEST_CASE("garbage is an error that says what and where, and the parser stays failed") {
  auto error_of = [](const std::string& stream) {
    WatchStreamParser p = Parser();
    std::vector<WatchEvent> out;
    auto s = p.Feed(stream, out);
    REQUIRE_FALSE(s.ok());
    CHECK_FALSE(p.Feed("{}", out).ok());
    return s.error().message;
  };
  CHECK(error_of("<html>502 Bad Gateway</html>") ==
        "watch stream: expected '{' at byte 0, got \"<html>502 Bad Ga\"");
  std::string good = R"({"type":"BOOKMARK","object":{"metadata":{"resourceVersion":"3"}}})";
  CHECK(error_of(good + "\n" + "]") ==
        "watch stream: expected '{' at byte " + std::to_string(good.size() + 1) + ", got \"]\"");
  CHECK(error_of(R"({"type":"ADDED","object":{"metadata":{"name":"a"]}})")
            .find("event at byte 0: invalid JSON") != std::string::npos);
  CHECK(error_of(R"({"type":"ADDED","object":{"metadata":{}}})") ==
        "watch stream: event at byte 0 (ADDED): node: metadata.name is missing or empty");
  CHECK(error_of(R"({"type":"ADDED"})") ==
        "watch stream: event at byte 0 (ADDED): \"object\" is missing or not an object");
  CHECK(error_of(R"({"object":{}})") == "watch stream: event at byte 0: \"type\" is missing or not a string");
  CHECK(error_of(R"({"type":"RENAMED","object":{}})") ==
        "watch stream: event at byte 0: unknown event type \"RENAMED\"");
  CHECK(error_of(R"({"type":"BOOKMARK","object":{"metadata":{}}})") ==
        "watch stream: event at byte 0 (BOOKMARK): metadata.resourceVersion is missing");
  // Events decoded before the error are kept.
  WatchStreamParser p = Parser();
  std::vector<WatchEvent> out;
  CHECK_FALSE(p.Feed(good + "x", out).ok());
  CHECK(out.size() == 1);
}

TEST_CASE("an event over the size limit is refused without buffering more") {
  WatchStreamParser p(AnnotationFilter::All(), 1000);
  std::vector<WatchEvent> out;
  std::string huge = R"({"type":"ADDED","object":{"metadata":{"name":")" + std::string(5000, 'x');
  auto s = p.Feed(huge, out);
  REQUIRE_FALSE(s.ok());
  CHECK(s.error().message == "watch stream: event at byte 0 is larger than 1000 bytes");
}
