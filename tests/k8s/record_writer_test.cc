// The mirror's RecordWriter over loopback sockets, against a small in-memory WireGuardPeer API with the
// apiserver's optimistic concurrency, for what a real apiserver cannot be made to do on demand: fail every
// write of one record, answer slowly (to see how many requests are in flight), lose a record behind the
// writer's back. The real apiserver is in records_it.cc.
#include "k8s/record_writer.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <mutex>
#include <set>

#include "common/json.h"
#include "common/loop.h"
#include "k8s/client.h"
#include "k8s/peer_record.h"
#include "tests/k8s/fake_server.h"
#include "tests/unit/testutil.h"

using namespace std::chrono_literals;
using swg::JsonPtr;
using swg::Loop;
using swg::k8s::RecordContent;
using swg::k8s::RecordWriter;
using swg::test::FakeConnection;
using swg::test::HttpRequestSeen;

namespace {

const std::string kCollection = "/apis/wireguard.semaphore.uw.io/v1alpha1/namespaces/ns/wireguardpeers";

std::string StatusJson(int code, const std::string& reason) {
  return R"({"kind":"Status","apiVersion":"v1","status":"Failure","message":")" + reason + R"(","reason":")" +
         reason + R"(","code":)" + std::to_string(code) + "}";
}

// The records of namespace ns, by name; lists filter on the remote label, 2 items a page.
class FakeRecords {
 public:
  void Handle(const HttpRequestSeen& r, FakeConnection& c) {
    int now = ++in_flight_;
    max_in_flight_ = std::max(max_in_flight_.load(), now);
    c.Sleep(delay_);
    --in_flight_;  // before answering: the client may send its next request as soon as it has the answer
    Answer(r, c);
  }

  void Answer(const HttpRequestSeen& r, FakeConnection& c) {
    std::lock_guard<std::mutex> lock(mu_);
    log_.push_back(r.method + " " + r.target);
    if (r.method == "GET" && r.target.starts_with(kCollection + "?")) return List(r.target, c);
    const bool one = r.target.starts_with(kCollection + "/");
    const std::string name = one ? r.target.substr(kCollection.size() + 1) : "";
    if (failing_.contains(name) || (r.method == "POST" && failing_.contains(NameOf(r.body)))) {
      return c.Respond(500, StatusJson(500, "InternalError"));
    }
    // An object the apiserver refuses (in a real one, say, a field of a wrong type).
    if (r.method == "POST" && NameOf(r.body).find("invalid") != std::string::npos) {
      return c.Respond(422, StatusJson(422, "Invalid"));
    }
    if (r.method == "POST" && r.target == kCollection) {
      JsonPtr obj(json_loads(r.body.c_str(), 0, nullptr));
      const std::string n = NameOf(r.body);
      if (objects_.contains(n)) return c.Respond(409, StatusJson(409, "AlreadyExists"));
      return Store(n, std::move(obj), 201, c);
    }
    auto it = objects_.find(name);
    if (!one || it == objects_.end()) return c.Respond(404, StatusJson(404, "NotFound"));
    if (r.method == "GET") return c.Respond(200, swg::JsonDump(it->second.get()));
    if (r.method == "DELETE") {
      objects_.erase(it);
      return c.Respond(200, StatusJson(200, "Success"));
    }
    if (r.method == "PUT") {
      JsonPtr obj(json_loads(r.body.c_str(), 0, nullptr));
      if (Version(obj.get()) != Version(it->second.get())) return c.Respond(409, StatusJson(409, "Conflict"));
      return Store(name, std::move(obj), 200, c);
    }
    c.Respond(400, StatusJson(400, "BadRequest"));
  }

  // Behind the writer's back.
  void Touch(const std::string& name) {  // a write that changes only the resourceVersion
    std::lock_guard<std::mutex> lock(mu_);
    SetVersion(objects_.at(name).get());
  }
  void Remove(const std::string& name) {
    std::lock_guard<std::mutex> lock(mu_);
    objects_.erase(name);
  }
  void Fail(const std::string& name) {
    std::lock_guard<std::mutex> lock(mu_);
    failing_.insert(name);
  }
  void Delay(std::chrono::milliseconds d) { delay_ = d; }
  std::set<std::string> names() const {
    std::lock_guard<std::mutex> lock(mu_);
    std::set<std::string> out;
    for (const auto& [n, o] : objects_) out.insert(n);
    return out;
  }
  std::string spec(const std::string& name) const {
    std::lock_guard<std::mutex> lock(mu_);
    return swg::JsonDump(json_object_get(objects_.at(name).get(), "spec"), false, true);
  }
  size_t Count(const std::string& method) const {
    std::lock_guard<std::mutex> lock(mu_);
    return static_cast<size_t>(std::count_if(
        log_.begin(), log_.end(), [&](const std::string& l) { return l.starts_with(method + " "); }));
  }
  void ClearLog() {
    std::lock_guard<std::mutex> lock(mu_);
    log_.clear();
  }
  int max_in_flight() const { return max_in_flight_; }

 private:
  static std::string NameOf(const std::string& body) {
    JsonPtr obj(json_loads(body.c_str(), 0, nullptr));
    return std::string(swg::JsonString(json_object_get(obj.get(), "metadata"), "name").value_or(""));
  }
  static std::string Version(const json_t* obj) {
    return std::string(swg::JsonString(json_object_get(obj, "metadata"), "resourceVersion").value_or(""));
  }
  void SetVersion(json_t* obj) {
    json_object_set_new(json_object_get(obj, "metadata"), "resourceVersion",
                        json_string(std::to_string(++rv_).c_str()));
  }
  void Store(const std::string& name, JsonPtr obj, int status, FakeConnection& c) {
    SetVersion(obj.get());
    c.Respond(status, swg::JsonDump(obj.get()));
    objects_[name] = std::move(obj);
  }
  void List(const std::string& target, FakeConnection& c) {
    // Only the label selector the writer sends, and "continue" as the name to start from.
    REQUIRE(target.find("labelSelector=wireguard.semaphore.uw.io%2Fremote%3Dc2") != std::string::npos);
    std::string from;
    if (auto p = target.find("&continue="); p != std::string::npos) from = target.substr(p + 10);
    JsonPtr items(json_array());
    std::string next;
    for (auto it = objects_.lower_bound(from); it != objects_.end(); ++it) {
      if (json_array_size(items.get()) == 2) {
        next = it->first;
        break;
      }
      json_array_append(items.get(), it->second.get());
    }
    JsonPtr list(json_pack("{s:s, s:{s:s, s:s}, s:O}", "kind", "WireGuardPeerList", "metadata",
                           "resourceVersion", std::to_string(rv_).c_str(), "continue", next.c_str(), "items",
                           items.get()));
    c.Respond(200, swg::JsonDump(list.get()));
  }

  mutable std::mutex mu_;
  std::map<std::string, JsonPtr> objects_;
  std::set<std::string> failing_;
  std::vector<std::string> log_;
  int rv_ = 100;
  std::atomic<int> in_flight_{0}, max_in_flight_{0};
  std::atomic<std::chrono::milliseconds> delay_{0ms};
};

RecordContent Content(const std::string& node, const std::string& endpoint = "10.0.0.1:51820") {
  RecordContent c;
  c.node_name = node;
  c.public_key = "key-" + node;
  c.endpoint = endpoint;
  c.pod_cidrs = {"10.4.1.0/24"};
  c.node_creation_timestamp = "2026-01-02T03:04:05Z";
  return c;
}

std::map<std::string, RecordContent> Nodes(int n) {
  std::map<std::string, RecordContent> out;
  for (int i = 0; i < n; ++i) out["n" + std::to_string(i)] = Content("n" + std::to_string(i));
  return out;
}

struct Fixture {
  Fixture() {
    client = swg::test::FakeClient(loop, swg::test::FakeKubeconfig(dir.path(), server.url()));
    swg::k8s::RecordWriterOptions o;
    o.namespace_name = "ns";
    o.remote = "c2";
    o.max_attempts = 3;
    o.backoff_initial = 20ms;
    writer = std::make_unique<RecordWriter>(*client, o);
  }
  // Runs one step to its end.
  swg::Status Run(const std::function<void(RecordWriter::Done)>& step) {
    std::optional<swg::Status> out;
    step([&out](swg::Status s) { out = std::move(s); });
    REQUIRE(loop.RunUntil([&] { return out.has_value(); }, 30s));
    return std::move(*out);
  }
  swg::Status Apply(std::map<std::string, RecordContent> desired, bool complete) {
    return Run([&](RecordWriter::Done d) { writer->Apply(std::move(desired), complete, std::move(d)); });
  }

  FakeRecords records;
  swg::test::FakeServer server{[this](const HttpRequestSeen& r, FakeConnection& c) { records.Handle(r, c); }};
  swg::test::TempDir dir;
  Loop loop;
  std::unique_ptr<swg::k8s::Client> client;
  std::unique_ptr<RecordWriter> writer;
};

}  // namespace

TEST_CASE("RecordWriter: creates with bounded concurrency, then writes only what changed") {
  Fixture f;
  f.records.Delay(30ms);
  REQUIRE(f.Run([&](RecordWriter::Done d) { f.writer->Start(std::move(d)); }).ok());
  REQUIRE(f.Apply(Nodes(30), true).ok());
  CHECK(f.records.names().size() == 30);
  CHECK(f.records.Count("POST") == 30);
  CHECK(f.records.max_in_flight() <= 8);
  CHECK(f.records.max_in_flight() >= 2);
  CHECK(f.records.spec("c2.n7") ==
        R"({"endpoint":"10.0.0.1:51820","nodeCreationTimestamp":"2026-01-02T03:04:05Z","nodeName":"n7",)"
        R"("podCIDRs":["10.4.1.0/24"],"publicKey":"key-n7"})");

  f.records.ClearLog();
  auto nodes = Nodes(30);
  REQUIRE(f.Apply(nodes, true).ok());
  CHECK(f.server.request_count() == 31);  // the list; nothing after
  CHECK(f.writer->counters().unchanged == 30);

  SUBCASE("a restarted writer lists the records (in pages) and has nothing to write either") {
    swg::k8s::RecordWriterOptions o{"ns", "c2"};
    f.writer = std::make_unique<RecordWriter>(*f.client, o);
    REQUIRE(f.Run([&](RecordWriter::Done d) { f.writer->Start(std::move(d)); }).ok());
    CHECK(f.writer->records().size() == 30);
    CHECK(f.records.Count("GET") == 15);
    REQUIRE(f.Apply(nodes, true).ok());
    CHECK(f.records.Count("GET") + f.records.Count("PUT") + f.records.Count("POST") == 15);
  }
  SUBCASE("a change behind the writer's back: the update conflicts, is read again, and written") {
    f.records.Touch("c2.n3");
    nodes["n3"].endpoint = "10.0.0.3:51820";
    REQUIRE(f.Apply(nodes, true).ok());
    CHECK(f.records.Count("PUT") == 2);
    CHECK(f.records.Count("GET") == 1);
    CHECK(f.writer->counters().conflicts == 1);
    CHECK(f.writer->counters().updates == 1);
    CHECK(f.records.spec("c2.n3").find("10.0.0.3:51820") != std::string::npos);
  }
  SUBCASE("a record deleted behind the writer's back is created again by the next update") {
    f.records.Remove("c2.n3");
    nodes["n3"].endpoint = "10.0.0.3:51820";
    REQUIRE(f.Apply(nodes, true).ok());
    CHECK(f.records.Count("PUT") == 1);
    CHECK(f.records.Count("POST") == 1);
    CHECK(f.records.names().contains("c2.n3"));
  }
  SUBCASE("deletes only after a complete list; a record already gone is done") {
    for (int i = 0; i < 5; ++i) nodes.erase("n" + std::to_string(i));
    REQUIRE(f.Apply(nodes, false).ok());
    CHECK(f.records.Count("DELETE") == 0);
    f.records.Remove("c2.n0");
    REQUIRE(f.Apply(nodes, true).ok());
    CHECK(f.records.Count("DELETE") == 5);
    CHECK(f.writer->counters().deletes == 4);
    CHECK(f.records.names().size() == 25);
  }
  SUBCASE("the marker, then DeleteAll: nothing of the remote is left") {
    REQUIRE(f.Run([&](RecordWriter::Done d) { f.writer->WriteMarker(false, "me", 30, std::move(d)); }).ok());
    REQUIRE(f.Run([&](RecordWriter::Done d) { f.writer->WriteMarker(true, "me", 30, std::move(d)); }).ok());
    CHECK(f.records.Count("POST") == 1);
    CHECK(f.records.Count("PUT") == 1);
    CHECK(f.records.spec("c2").find(R"("complete":true)") != std::string::npos);
    REQUIRE(f.Run([&](RecordWriter::Done d) { f.writer->DeleteAll(std::move(d)); }).ok());
    CHECK(f.records.names().empty());
    CHECK(f.records.Count("DELETE") == 31);
  }
  SUBCASE("DeleteAll keeps the marker while a record cannot be deleted") {
    REQUIRE(f.Run([&](RecordWriter::Done d) { f.writer->WriteMarker(true, "me", 30, std::move(d)); }).ok());
    f.records.Fail("c2.n4");
    swg::Status s = f.Run([&](RecordWriter::Done d) { f.writer->DeleteAll(std::move(d)); });
    REQUIRE_FALSE(s.ok());
    CHECK(s.error().message.find("c2: 1 of 30 record writes failed; first: t: DELETE " + kCollection +
                                 "/c2.n4: HTTP 500") == 0);
    CHECK(f.records.names() == std::set<std::string>{"c2", "c2.n4"});
  }
}

TEST_CASE("RecordWriter: a record that cannot be written is retried, then reported; the others are written") {
  Fixture f;
  f.records.Fail("c2.n2");
  REQUIRE(f.Run([&](RecordWriter::Done d) { f.writer->Start(std::move(d)); }).ok());
  swg::Status s = f.Apply(Nodes(5), true);
  REQUIRE_FALSE(s.ok());
  CHECK(s.error().message.find("c2: 1 of 5 record writes failed; first: t: POST " + kCollection +
                               ": HTTP 500") == 0);
  CHECK(f.records.Count("POST") == 4 + 3);  // max_attempts 3
  CHECK(f.writer->counters().errors == 3);
  CHECK(f.records.names().size() == 4);

  SUBCASE("an object the apiserver refuses (422) is not tried again in the same step") {
    auto nodes = Nodes(5);
    nodes["invalid-node"] = Content("invalid-node");
    f.records.ClearLog();
    s = f.Apply(nodes, true);
    REQUIRE_FALSE(s.ok());
    CHECK(s.error().message.find("c2: 2 of 2 record writes failed") == 0);
    CHECK(f.records.Count("POST") == 3 + 1);
  }
}

TEST_CASE("RecordWriter: destroyed with requests in flight, no callback runs") {
  Fixture f;
  REQUIRE(f.Run([&](RecordWriter::Done d) { f.writer->Start(std::move(d)); }).ok());
  f.records.Delay(300ms);
  bool called = false;
  f.writer->Apply(Nodes(20), true, [&called](swg::Status) { called = true; });
  f.writer->WriteMarker(true, "me", 20, [&called](swg::Status) { called = true; });
  f.loop.RunUntil([] { return false; }, 100ms);
  f.writer.reset();
  f.loop.RunUntil([] { return false; }, 500ms);
  CHECK_FALSE(called);
  CHECK(f.records.names().size() <= 8);
}

TEST_CASE("RecordWriter: a step's done may destroy the writer") {
  Fixture f;
  bool second = false;
  f.writer->Start([&f](swg::Status) { f.writer.reset(); });
  f.writer->Apply(Nodes(2), true, [&second](swg::Status) { second = true; });
  REQUIRE(f.loop.RunUntil([&] { return f.writer == nullptr; }, 10s));
  f.loop.RunUntil([] { return false; }, 200ms);
  CHECK_FALSE(second);
  CHECK(f.records.names().empty());
}
