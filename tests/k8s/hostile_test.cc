// A hostile remote apiserver against the node informer, configured as a worker configures it: a list that
// never ends, a page far larger than asked for, pages dribbled out, a cache grown without end, gzip bombs.
// Each must end in a failure with code kErrorOverLimit that says which bound was hit, and the process's peak
// memory must stay within the 64 MiB the README promises.
#include "tests/k8s/hostile.h"

#include <doctest/doctest.h>
#include <zlib.h>

#include <atomic>
#include <thread>

#include "common/loop.h"
#include "k8s/client.h"
#include "k8s/informer.h"
#include "tests/k8s/fake_server.h"
#include "tests/k8s/memory.h"
#include "tests/unit/testutil.h"

using namespace std::chrono_literals;
using swg::Loop;
using swg::k8s::InformerOptions;
using swg::k8s::InformerStatus;
using swg::k8s::kErrorOverLimit;
using swg::k8s::NodeInformer;
using swg::test::FakeConnection;
using swg::test::FakeServer;
using swg::test::HttpRequestSeen;
using swg::test::Item;
using swg::test::PageOf;
using swg::test::RssPeak;
using swg::test::SendPage;

namespace {

constexpr size_t kMemoryBound = 64u << 20;
const std::string kPubKey = swg::test::kHostilePubKey;
const std::string kEndpoint = swg::test::kHostileEndpoint;

// The informer as a worker sets it up, against the fake server, until `done` or a minute.
struct Run {
  InformerStatus status;
  size_t nodes = 0;
  size_t growth = 0;
  std::chrono::milliseconds took{0};
};

Run RunInformer(FakeServer& server, InformerOptions options,
                const std::function<bool(const InformerStatus&)>& done) {
  swg::test::TempDir dir;
  Loop loop;
  auto client = swg::test::FakeClient(loop, swg::test::FakeKubeconfig(dir.path(), server.url()));
  swg::k8s::NodeFilter filter;
  filter.annotation_keys = {kPubKey, kEndpoint};
  filter.only_annotated = true;
  filter.keep_addresses = false;
  filter.max_annotation_bytes = 256;
  options.backoff_initial = 60s;  // one attempt in these tests
  RssPeak peak;
  auto start = std::chrono::steady_clock::now();
  NodeInformer informer(*client, filter, {}, options);
  informer.Start();
  bool finished = loop.RunUntil([&] { return done(informer.status()); }, 60s);
  Run run;
  run.took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
  run.status = informer.status();
  run.nodes = informer.nodes().size();
  run.growth = peak.growth_bytes();
  informer.Stop();
  MESSAGE("took ", run.took.count(), " ms, peak memory +", run.growth >> 10, " KiB, ", run.nodes,
          " nodes kept, ", run.status.lists, " lists, last error: ", run.status.last_error);
  CHECK(finished);
  return run;
}

bool Failed(const InformerStatus& s) { return s.list_failures + s.watch_failures > 0 || s.synced; }

}  // namespace

TEST_CASE("a list whose pages carry continue tokens forever stops at the pages bound") {
  std::atomic<size_t> requests{0};
  FakeServer server([&](const HttpRequestSeen& req, FakeConnection& c) {
    ++requests;
    size_t page = PageOf(req);
    // Empty pages that always go on (a last page after 5,000 only so that a client without the bound ends).
    SendPage(c, page < 5000 ? "c" + std::to_string(page + 1) : "", 0, 0, nullptr);
  });
  Run run = RunInformer(server, {}, Failed);
  CHECK_FALSE(run.status.synced);
  CHECK(run.status.list_failures == 1);
  CHECK(run.status.last_error_code == kErrorOverLimit);
  CHECK(run.status.last_error == "t: list: more than 1000 pages (0 nodes)");
  CHECK(requests == 1000);
  swg::test::CheckGrowthBelow(run.growth, kMemoryBound);
}

TEST_CASE("a list of full pages without end stops at the items bound, keeping nothing unannotated") {
  std::atomic<size_t> requests{0};
  FakeServer server([&](const HttpRequestSeen& req, FakeConnection& c) {
    ++requests;
    size_t page = PageOf(req);
    SendPage(c, page < 400 ? "c" + std::to_string(page + 1) : "", page * 500, 500,
             [](size_t i) { return Item(i, false); });
  });
  Run run = RunInformer(server, {}, Failed);
  CHECK_FALSE(run.status.synced);
  CHECK(run.status.last_error_code == kErrorOverLimit);
  CHECK(run.status.last_error.find("more than 50000 nodes") != std::string::npos);
  CHECK(requests == 101);
  swg::test::CheckGrowthBelow(run.growth, kMemoryBound);
}

TEST_CASE("a page with 100 times the items asked for is refused at the first item too many") {
  std::atomic<bool> gave_up{false};
  FakeServer server([&](const HttpRequestSeen& req, FakeConnection& c) {
    size_t page = PageOf(req);
    // 50,000 annotated nodes (25 MB) where 500 were asked for, with a continue token.
    SendPage(c, page == 0 ? "c1" : "", 0, page == 0 ? 50000 : 1, [](size_t i) { return Item(i, true); });
    if (c.closed()) gave_up = true;
  });
  Run run = RunInformer(server, {}, Failed);
  CHECK_FALSE(run.status.synced);
  CHECK(run.status.list_failures == 1);
  CHECK(run.status.last_error_code == kErrorOverLimit);
  CHECK(run.status.last_error ==
        "t: GET /api/v1/nodes?limit=500: the page holds more than the 500 items asked for");
  CHECK(run.nodes == 0);
  swg::test::CheckGrowthBelow(run.growth, kMemoryBound);
  // The client stopped reading: the server could not send the rest.
  for (int i = 0; i < 1000 && !gave_up; ++i) std::this_thread::sleep_for(10ms);
  CHECK(gave_up);
}

TEST_CASE("a server that ignores limit may send a whole cluster in one page") {
  FakeServer server([&](const HttpRequestSeen&, FakeConnection& c) {
    if (c.closed()) return;
    SendPage(c, "", 0, 5000, [](size_t i) { return Item(i, i % 2 == 0); });
  });
  Run run = RunInformer(server, {}, [](const InformerStatus& s) { return s.synced || s.list_failures > 0; });
  CHECK(run.status.synced);
  CHECK(run.status.list_failures == 0);
  CHECK(run.nodes == 2500);  // only the annotated half is kept
  swg::test::CheckGrowthBelow(run.growth, kMemoryBound);
}

TEST_CASE("pages dribbled out slowly run into the list's time bound") {
  FakeServer server([&](const HttpRequestSeen& req, FakeConnection& c) {
    size_t page = PageOf(req);
    // Each page takes about a second (ten items, 100 ms apart); 30 pages, then a last one.
    SendPage(
        c, page < 30 ? "c" + std::to_string(page + 1) : "", page * 10, 10,
        [](size_t i) { return Item(i, true); }, 100ms);
  });
  InformerOptions options;
  options.list_timeout = 3s;
  Run run = RunInformer(server, options, Failed);
  CHECK_FALSE(run.status.synced);
  CHECK(run.status.last_error_code == kErrorOverLimit);
  CHECK(run.status.last_error.find("t: list: not complete after 3s (") == 0);
  CHECK(run.took < 6s);
  swg::test::CheckGrowthBelow(run.growth, kMemoryBound);
}

TEST_CASE("the nodes kept are bounded in bytes, in a list and in a watch") {
  SUBCASE("list") {
    FakeServer server([&](const HttpRequestSeen&, FakeConnection& c) {
      // 60 annotated nodes with 300 KB names (apiservers allow 253 bytes): 36 MB to keep.
      SendPage(c, "", 0, 60, [](size_t i) { return Item(i, true, 300000); });
    });
    Run run = RunInformer(server, {}, Failed);
    CHECK_FALSE(run.status.synced);
    CHECK(run.status.last_error_code == kErrorOverLimit);
    CHECK(run.status.last_error.find(
              "t: GET /api/v1/nodes?limit=500: the nodes to keep take more than 16 MiB (") == 0);
    swg::test::CheckGrowthBelow(run.growth, kMemoryBound);
  }
  SUBCASE("watch") {
    FakeServer server([&](const HttpRequestSeen& req, FakeConnection& c) {
      if (req.target.find("watch=1") == std::string::npos) return SendPage(c, "", 0, 0, nullptr);
      c.StartChunked();
      for (size_t i = 0; i < 60 && !c.closed(); ++i) {
        c.Chunk(R"({"type":"ADDED","object":)" + Item(i, true, 300000) + "}\n");
      }
      c.Sleep(20s);
    });
    Run run = RunInformer(server, {}, [](const InformerStatus& s) { return s.watch_failures > 0; });
    CHECK(run.status.synced);
    CHECK(run.status.last_error_code == kErrorOverLimit);
    CHECK(run.status.last_error.find("t: watch: the nodes kept would take more than 16 MiB (") == 0);
    CHECK(run.status.cache_bytes <= (16u << 20));
    swg::test::CheckGrowthBelow(run.growth, kMemoryBound);
  }
}

namespace {

// `body` in gzip, after 256 MiB of JSON whitespace (legal before a value): about 250 KB.
std::string GzipBomb(std::string_view body) {
  std::string bomb;
  z_stream z{};
  REQUIRE(deflateInit2(&z, 9, Z_DEFLATED, 16 + 15, 9, Z_DEFAULT_STRATEGY) == Z_OK);
  std::string spaces(1u << 20, ' ');
  char out[1 << 16];
  for (int i = 0; i <= 257; ++i) {
    std::string_view in = i < 256 ? std::string_view(spaces) : i == 256 ? body : "";
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
    z.avail_in = static_cast<uInt>(in.size());
    do {
      z.next_out = reinterpret_cast<Bytef*>(out);
      z.avail_out = sizeof out;
      deflate(&z, i == 257 ? Z_FINISH : Z_NO_FLUSH);
      bomb.append(out, sizeof out - z.avail_out);
    } while (z.avail_out == 0);
  }
  deflateEnd(&z);
  MESSAGE("gzip bomb: ", bomb.size(), " bytes for 256 MiB");
  return bomb;
}

std::string GzipResponse(const std::string& body) {
  return "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
}

}  // namespace

// Lists ask for gzip (apiservers compress large pages): a page that inflates a thousandfold is read at the pace
// it is parsed, and refused at the bound on what surrounds the items.
TEST_CASE("a gzip bomb in a list page is refused at a bound, in bounded memory") {
  const std::string bomb = GzipBomb(R"({"kind":"NodeList","metadata":{"resourceVersion":"51"},"items":[]})");
  FakeServer server([&](const HttpRequestSeen& req, FakeConnection& c) {
    CHECK(req.headers.count("accept-encoding"));
    c.Write(GzipResponse(bomb));
  });
  Run run = RunInformer(server, {}, Failed);
  CHECK(run.status.lists == 0);
  CHECK(run.status.list_failures == 1);
  CHECK(run.status.last_error.find("more than 1 MiB outside the items") != std::string::npos);
  swg::test::CheckGrowthBelow(run.growth, kMemoryBound);
}

// A watch asks for no encoding (apiservers send watch events as they are): one that comes compressed anyway is
// refused with a message that says so, without inflating a byte of it.
TEST_CASE("a watch compressed though the request did not accept it fails, saying so, in bounded memory") {
  const std::string bomb = GzipBomb(R"({"type":"BOOKMARK","object":{"metadata":{"resourceVersion":"52"}}})");
  FakeServer server([&](const HttpRequestSeen& req, FakeConnection& c) {
    if (req.target.find("watch=1") == std::string::npos) return SendPage(c, "", 0, 0, nullptr);
    CHECK(req.headers.count("accept-encoding") == 0);
    c.Write(GzipResponse(bomb));
    c.Sleep(20s);
  });
  Run run = RunInformer(server, {}, [](const InformerStatus& s) { return s.watch_failures > 0; });
  CHECK(run.status.bookmarks == 0);
  CHECK(run.status.watch_failures == 1);
  CHECK(run.status.last_error.find("Content-Encoding \"gzip\", which the request did not accept") !=
        std::string::npos);
  CHECK(run.status.last_error.find("watch=1") != std::string::npos);
  swg::test::CheckGrowthBelow(run.growth, kMemoryBound);
}
