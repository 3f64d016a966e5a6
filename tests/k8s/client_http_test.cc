// The client's response handling over real sockets, on hand-made answers a real apiserver cannot be made to
// give on demand: Retry-After, garbage, cut and slow streams, silence, a 401 that needs the token file
// re-read.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/stat.h>

#include <fstream>

#include "common/loop.h"
#include "k8s/client.h"
#include "k8s/informer.h"
#include "tests/k8s/fake_server.h"
#include "tests/unit/testutil.h"

using namespace std::chrono_literals;
using swg::Loop;
using swg::Result;
using swg::k8s::Client;
using swg::k8s::ClientOptions;
using swg::k8s::ClusterSource;
using swg::k8s::NodeInfo;
using swg::test::FakeConnection;
using swg::test::FakeServer;
using swg::test::HttpRequestSeen;

namespace {

const char* const kNode =
    R"({"kind":"Node","apiVersion":"v1","metadata":{"name":"n1","uid":"u1","resourceVersion":"5",
  "annotations":{"a":"b"}},"spec":{"podCIDR":"10.4.1.0/24"}})";
const char* const kTooMany =
    R"({"kind":"Status","status":"Failure","message":"slow down","reason":"TooManyRequests",
  "code":429})";

void WriteText(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::trunc) << text;
}

std::string Kubeconfig(const std::string& dir, const std::string& server, const std::string& user) {
  return swg::test::FakeKubeconfig(dir, server, user);
}

std::unique_ptr<Client> MakeClient(Loop& loop, const std::string& kubeconfig, ClientOptions options = {}) {
  return swg::test::FakeClient(loop, kubeconfig, std::move(options));
}

Result<NodeInfo> GetNode(Loop& loop, Client& client, const std::string& name = "n1") {
  std::optional<Result<NodeInfo>> out;
  client.GetNode(name, [&](Result<NodeInfo> r) { out = std::move(r); });
  REQUIRE(loop.RunUntil([&] { return out.has_value(); }, 10s));
  return std::move(*out);
}

}  // namespace

TEST_CASE("429 with Retry-After is retried after that delay; the observer sees every attempt") {
  int calls = 0;
  FakeServer s2([&calls](const HttpRequestSeen&, FakeConnection& c) {
    if (calls++ == 0) return c.Respond(429, kTooMany, "Retry-After: 1\r\n");
    c.Respond(200, kNode);
  });
  swg::test::TempDir dir;
  Loop loop;
  auto client = MakeClient(loop, Kubeconfig(dir.path(), s2.url(), "{token: abc}"));
  std::vector<std::string> seen;
  client->SetRequestObserver([&](std::string_view method, std::string_view host, int code) {
    seen.push_back(std::string(method) + " " + std::string(host) + " " + std::to_string(code));
  });
  auto start = std::chrono::steady_clock::now();
  auto node = GetNode(loop, *client);
  REQUIRE(node.ok());
  CHECK(std::chrono::steady_clock::now() - start >= 1s);
  CHECK(node->annotations.at("a") == "b");
  std::string host = s2.url().substr(7);
  CHECK(seen == std::vector<std::string>{"GET " + host + " 429", "GET " + host + " 200"});
  auto requests = s2.requests();
  REQUIRE(requests.size() == 2);
  CHECK(requests[0].target == "/api/v1/nodes/n1");
  CHECK(requests[0].headers.at("authorization") == "Bearer abc");
  // Nodes are asked for as protobuf with JSON as the fallback; this server answers JSON, which is read.
  CHECK(requests[0].headers.at("accept") == "application/vnd.kubernetes.protobuf, application/json");
  CHECK(client->node_reads().json == 1);
  CHECK(client->node_reads().protobuf == 0);
}

TEST_CASE("errors name the cluster, the request and the server's message, and never crash on garbage") {
  std::string body;
  int status = 200;
  std::string headers;
  FakeServer server([&](const HttpRequestSeen&, FakeConnection& c) { c.Respond(status, body, headers); });
  swg::test::TempDir dir;
  Loop loop;
  auto client = MakeClient(loop, Kubeconfig(dir.path(), server.url(), "{token: abc}"));
  auto error_of = [&](int s, std::string b, std::string h = "") {
    status = s;
    body = std::move(b);
    headers = std::move(h);
    auto r = GetNode(loop, *client);
    REQUIRE_FALSE(r.ok());
    return std::make_pair(r.error().message, r.error().code);
  };
  CHECK(error_of(429, kTooMany) ==  // no Retry-After: not retried
        std::make_pair(std::string("t: GET /api/v1/nodes/n1: HTTP 429 TooManyRequests: slow down"), 429));
  CHECK(error_of(500, "<html>oops</html>") ==
        std::make_pair(std::string("t: GET /api/v1/nodes/n1: HTTP 500: <html>oops</html>"), 500));
  CHECK(error_of(503, "") ==
        std::make_pair(std::string("t: GET /api/v1/nodes/n1: HTTP 503 (empty body)"), 503));
  CHECK(error_of(401, R"({"kind":"Status","message":"Unauthorized","reason":"Unauthorized","code":401})") ==
        std::make_pair(std::string("t: GET /api/v1/nodes/n1: HTTP 401 Unauthorized: Unauthorized"), 401));
  auto garbage = error_of(200, "{\"kind\":\"Node\",\"metadata\":{\"name\":");
  CHECK(garbage.first.find("t: GET /api/v1/nodes/n1: unexpected response: node: invalid JSON at byte") == 0);
  CHECK(garbage.second == 0);
  CHECK(error_of(200, R"({"kind":"Node","metadata":{"name":"n1","annotations":[]}})").first ==
        "t: GET /api/v1/nodes/n1: unexpected response: node \"n1\": metadata.annotations: expected an "
        "object, got "
        "array");
  CHECK(error_of(200, std::string("\xff\xfe\0\x01", 4)).first.find("unexpected response") !=
        std::string::npos);
}

TEST_CASE("every request has a timeout") {
  FakeServer server([](const HttpRequestSeen&, FakeConnection& c) { c.Sleep(5s); });
  swg::test::TempDir dir;
  Loop loop;
  ClientOptions options;
  options.request_timeout = 300ms;
  auto client = MakeClient(loop, Kubeconfig(dir.path(), server.url(), "{token: abc}"), options);
  auto start = std::chrono::steady_clock::now();
  auto r = GetNode(loop, *client);
  REQUIRE_FALSE(r.ok());
  CHECK(std::chrono::steady_clock::now() - start < 3s);
  CHECK(r.error().message.find("t: GET /api/v1/nodes/n1: timed out: ") == 0);
  CHECK(r.error().code == 0);
}

TEST_CASE("a 401 makes the token file be read again even when it looks unchanged on disk") {
  swg::test::TempDir dir;
  std::string token_path = dir.path() + "/token";
  WriteText(token_path, "old-token\n");
  struct stat before;
  REQUIRE(stat(token_path.c_str(), &before) == 0);
  FakeServer server([&](const HttpRequestSeen& req, FakeConnection& c) {
    if (req.headers.at("authorization") == "Bearer new-token") return c.Respond(200, kNode);
    // Rotate in place: same inode, same size, same mtime, so only the 401 can trigger a re-read.
    WriteText(token_path, "new-token\n");
    timespec times[2] = {before.st_atim, before.st_mtim};
    utimensat(AT_FDCWD, token_path.c_str(), times, 0);
    c.Respond(401, R"({"kind":"Status","message":"Unauthorized","reason":"Unauthorized","code":401})");
  });
  Loop loop;
  auto client = MakeClient(loop, Kubeconfig(dir.path(), server.url(), "{tokenFile: token}"));
  auto node = GetNode(loop, *client);
  REQUIRE(node.ok());
  auto requests = server.requests();
  REQUIRE(requests.size() == 2);
  CHECK(requests[0].headers.at("authorization") == "Bearer old-token");
  CHECK(requests[1].headers.at("authorization") == "Bearer new-token");
}

TEST_CASE("watch streams: events split across chunks and packed into one, in order; clean end") {
  const std::string a = R"({"type":"ADDED","object":{"metadata":{"name":"a","resourceVersion":"11"}}})";
  const std::string b = R"({"type":"MODIFIED","object":{"metadata":{"name":"b","resourceVersion":"12"}}})";
  const std::string bm = R"({"type":"BOOKMARK","object":{"metadata":{"resourceVersion":"13"}}})";
  FakeServer server([&](const HttpRequestSeen&, FakeConnection& c) {
    c.StartChunked();
    c.Chunk(a.substr(0, 20));
    c.Sleep(50ms);
    c.Chunk(a.substr(20) + "\n" + b + "\n" + bm.substr(0, 5));
    c.Sleep(50ms);
    c.Chunk(bm.substr(5) + "\n");
    c.EndChunked();
  });
  swg::test::TempDir dir;
  Loop loop;
  auto client = MakeClient(loop, Kubeconfig(dir.path(), server.url(), "{token: abc}"));
  std::vector<std::string> events;
  std::optional<swg::Status> end;
  swg::k8s::WatchOptions opts;
  opts.resource_version = "10";
  opts.timeout_seconds = 30;
  auto watch = client->WatchNodes(
      opts, swg::k8s::AnnotationFilter::All(),
      [&](swg::k8s::WatchEvent e) {
        events.push_back(std::string(WatchEventTypeName(e.type)) + " " + e.node.name + " " +
                         e.resource_version);
      },
      [&](swg::Status s) { end = s; });
  REQUIRE(loop.RunUntil([&] { return end.has_value(); }, 10s));
  CHECK(end->ok());
  CHECK(events == std::vector<std::string>{"ADDED a 11", "MODIFIED b 12", "BOOKMARK  13"});
  REQUIRE(server.requests().size() == 1);
  CHECK(server.requests()[0].target ==
        "/api/v1/nodes?watch=1&allowWatchBookmarks=true&resourceVersion=10&timeoutSeconds=30");
}

TEST_CASE("watch streams that go wrong end with an error naming the request") {
  std::string mode;
  FakeServer server([&](const HttpRequestSeen&, FakeConnection& c) {
    if (mode == "410") {
      return c.Respond(
          410, R"json({"kind":"Status","message":"too old resource version: 1 (40)","reason":"Expired",
        "code":410})json");
    }
    c.StartChunked();
    if (mode == "garbage")
      c.Chunk("{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"a\"}}}\nHTTP/1.1 500\n");
    if (mode == "cut") c.Chunk("{\"type\":\"ADDED\",\"obj");
    c.EndChunked();
  });
  swg::test::TempDir dir;
  Loop loop;
  auto client = MakeClient(loop, Kubeconfig(dir.path(), server.url(), "{token: abc}"));
  auto run = [&](std::string m) {
    mode = std::move(m);
    int events = 0;
    std::optional<swg::Status> end;
    swg::k8s::WatchOptions opts;
    opts.resource_version = "1";
    opts.timeout_seconds = 30;
    auto watch = client->WatchNodes(
        opts, swg::k8s::AnnotationFilter::All(), [&](swg::k8s::WatchEvent) { ++events; },
        [&](swg::Status s) { end = s; });
    REQUIRE(loop.RunUntil([&] { return end.has_value(); }, 10s));
    REQUIRE_FALSE(end->ok());
    return std::make_tuple(end->error().message, end->error().code, events);
  };
  const std::string request =
      "t: GET /api/v1/nodes?watch=1&allowWatchBookmarks=true&resourceVersion=1&timeoutSeconds=30";
  CHECK(run("410") ==
        std::make_tuple(request + ": HTTP 410 Expired: too old resource version: 1 (40)", 410, 0));
  CHECK(run("garbage") ==
        std::make_tuple(request + ": watch stream: expected '{' at byte 52, got \"HTTP/1.1 500\\n\"", 0, 1));
  CHECK(run("cut") == std::make_tuple(request + ": the stream ended inside an event (20 bytes)", 0, 0));
}

TEST_CASE("a watch that goes silent is dropped and counted as a failure") {
  const std::string list =
      R"({"kind":"NodeList","metadata":{"resourceVersion":"20"},"items":[{"metadata":{"name":"a"}}]})";
  FakeServer server([&](const HttpRequestSeen& req, FakeConnection& c) {
    if (req.target.find("watch=1") == std::string::npos) return c.Respond(200, list);
    c.StartChunked();
    c.Chunk(R"({"type":"BOOKMARK","object":{"metadata":{"resourceVersion":"21"}}})"
            "\n");
    c.Sleep(10s);  // then nothing: no bytes, no end
  });
  swg::test::TempDir dir;
  Loop loop;
  auto client = MakeClient(loop, Kubeconfig(dir.path(), server.url(), "{token: abc}"));
  swg::k8s::InformerOptions options;
  options.silence_timeout = 300ms;
  options.backoff_initial = 10ms;
  swg::k8s::NodeInformer informer(*client, {}, {}, options);
  informer.Start();
  REQUIRE(loop.RunUntil([&] { return informer.status().watch_failures >= 2; }, 10s));
  auto status = informer.status();
  CHECK(status.synced);
  CHECK(status.bookmarks >= 2);
  CHECK(status.resource_version == "21");
  CHECK(status.last_error.find("t: watch: no data for ") == 0);
  CHECK(informer.nodes().size() == 1);
  informer.Stop();
  CHECK(informer.status().state == swg::k8s::InformerState::kStopped);
}

TEST_CASE("an HTTP 410 on a watch makes the informer relist and report the node that went away") {
  std::atomic<int> lists{0};
  FakeServer server([&](const HttpRequestSeen& req, FakeConnection& c) {
    if (req.target.find("watch=1") != std::string::npos) {
      return c.Respond(410, R"json({"kind":"Status","message":"too old resource version: 30 (41)","reason":"Expired",
        "code":410})json");
    }
    if (lists++ == 0) {
      return c.Respond(200, R"({"kind":"NodeList","metadata":{"resourceVersion":"30"},"items":[
        {"metadata":{"name":"a","resourceVersion":"1"}},{"metadata":{"name":"b","resourceVersion":"2"}}]})");
    }
    c.Respond(200, R"({"kind":"NodeList","metadata":{"resourceVersion":"41"},"items":[
      {"metadata":{"name":"a","resourceVersion":"1"}}]})");
  });
  swg::test::TempDir dir;
  Loop loop;
  auto client = MakeClient(loop, Kubeconfig(dir.path(), server.url(), "{token: abc}"));
  swg::k8s::InformerOptions options;
  options.backoff_initial = 10ms;
  std::vector<std::string> events;
  int synced = 0;
  swg::k8s::NodeInformer informer(*client, {},
                                  {[&](swg::k8s::EventType t, const NodeInfo& n) {
                                     events.push_back(std::to_string(static_cast<int>(t)) + n.name);
                                   },
                                   [&] { ++synced; }},
                                  options);
  informer.Start();
  REQUIRE(loop.RunUntil([&] { return synced >= 2; }, 10s));
  // kAdded = 0, kDeleted = 2: the second list no longer has b.
  CHECK(events == std::vector<std::string>{"0a", "0b", "2b"});
  auto status = informer.status();
  CHECK(status.relists >= 1);
  CHECK(status.watch_failures == 0);
  CHECK(status.list_failures == 0);
  CHECK(informer.nodes().size() == 1);
}
