#include "worker/node_report.h"

#include <doctest/doctest.h>
#include <jansson.h>

#include <string>

using swg::worker::BuildNodeReport;
using swg::worker::ConditionPatch;
using swg::worker::ConditionType;
using swg::worker::NodeReport;
using swg::worker::ReportInput;

namespace {

ReportInput Healthy() {
  ReportInput in;
  in.remote = "c2";
  in.local = "c1";
  in.synced = true;
  in.peers = 3;
  in.fresh = 3;
  in.last_full_sync = 1796310000;  // 2026-12-03T15:00:00Z
  return in;
}

// The annotation parsed back, as a reader would.
struct Parsed {
  json_t* j;
  explicit Parsed(const std::string& text) : j(json_loads(text.c_str(), 0, nullptr)) {
    REQUIRE(j != nullptr);
  }
  ~Parsed() { json_decref(j); }
  json_t* operator[](const char* key) const { return json_object_get(j, key); }
};

}  // namespace

TEST_CASE("node report: the condition type is the remote's name in CamelCase") {
  CHECK(ConditionType("c2") == "WireGuardC2Ready");
  CHECK(ConditionType("eu-west") == "WireGuardEuWestReady");
  CHECK(ConditionType("prod.eu-west-1") == "WireGuardProdEuWest1Ready");
  CHECK(ConditionType("a--b") == "WireGuardABReady");
  CHECK(ConditionType("Merit") == "WireGuardMeritReady");
}

TEST_CASE("node report: a healthy pairing") {
  NodeReport r = BuildNodeReport(Healthy());
  CHECK(r.ready);
  CHECK(r.reason == "PairingReady");
  CHECK(r.message == "3 peers, 3 with a fresh handshake");
  CHECK(r.annotation_key == "c2.wireguard.semaphore.uw.io/report");
  CHECK(r.annotation ==
        R"({"v":1,"local":"c1","ready":true,"reason":"PairingReady","peers":3,"fresh":3,"rejected":{},)"
        R"("stale":[],"more":0,"sync":"2026-12-03T15:00:00Z"})");
  CHECK(r.compared.find("sync") == std::string::npos);
}

TEST_CASE("node report: reasons") {
  ReportInput in = Healthy();
  SUBCASE("before the first sync") {
    in.synced = false;
    in.last_full_sync = 0;
    NodeReport r = BuildNodeReport(in);
    CHECK_FALSE(r.ready);
    CHECK(r.reason == "Starting");
    CHECK(r.annotation.find("sync") == std::string::npos);
  }
  SUBCASE("a problem wins, with its reason and the error as the message") {
    in.problem = "remote watch: c2: GET /api/v1/nodes/n1: HTTP 403 Forbidden: nodes \"n1\" is forbidden";
    in.problem_reason = "RemoteWatchFailing";
    NodeReport r = BuildNodeReport(in);
    CHECK_FALSE(r.ready);
    CHECK(r.reason == "RemoteWatchFailing");
    CHECK(r.message == in.problem);
  }
  SUBCASE("the message leaves out request queries, which change from one attempt to the next") {
    in.problem =
        "remote watch: c2: GET /api/v1/nodes?watch=1&resourceVersion=222&timeoutSeconds=311: Failed to "
        "connect to 192.168.142.1 port 23298 after 0 ms: Couldn't connect to server";
    in.problem_reason = "RemoteWatchFailing";
    NodeReport a = BuildNodeReport(in);
    CHECK(a.message ==
          "remote watch: c2: GET /api/v1/nodes: Failed to connect to 192.168.142.1 port 23298 after 0 ms: "
          "Couldn't "
          "connect to server");
    in.problem =
        "remote watch: c2: GET /api/v1/nodes?watch=1&resourceVersion=222&timeoutSeconds=510: Failed to "
        "connect to 192.168.142.1 port 23298 after 0 ms: Couldn't connect to server";
    CHECK(a.SameAs(BuildNodeReport(in)));
    in.problem = "c2: GET /api/v1/nodes/n1/status: HTTP 404 NotFound: nodes \"n1\" not found";
    CHECK(BuildNodeReport(in).message == in.problem);
    in.problem = "c2: PATCH /api/v1/nodes/n1?x=1";
    CHECK(BuildNodeReport(in).message == "c2: PATCH /api/v1/nodes/n1");
  }
  SUBCASE("a problem without a reason is Degraded") {
    in.problem = "something";
    CHECK(BuildNodeReport(in).reason == "Degraded");
  }
  SUBCASE("peers but no fresh handshake") {
    in.fresh = 0;
    in.stale = {"c2n2", "c2n1", "c2n3"};
    NodeReport r = BuildNodeReport(in);
    CHECK_FALSE(r.ready);
    CHECK(r.reason == "NoHandshakes");
    CHECK(r.annotation.find(R"("stale":["c2n1","c2n2","c2n3"])") != std::string::npos);
  }
  SUBCASE("no peers at all is ready: nothing to shake hands with") {
    in.peers = 0;
    in.fresh = 0;
    CHECK(BuildNodeReport(in).ready);
  }
  SUBCASE("a long message is cut on a character boundary") {
    in.problem = std::string(255, 'x') + "\xc3\xa9" + std::string(100, 'y');
    in.problem_reason = "InterfaceDown";
    NodeReport r = BuildNodeReport(in);
    CHECK(r.message == std::string(255, 'x'));
    CHECK(ConditionPatch(r, 0, 0).find(r.message) != std::string::npos);  // still valid UTF-8 for jansson
  }
}

TEST_CASE("node report: rejected nodes with their reasons, the first 32 by name") {
  ReportInput in = Healthy();
  in.rejected = {{"c2n9", "bad_key"}, {"c2n3", "own_key"}};
  NodeReport r = BuildNodeReport(in);
  CHECK(r.ready);  // rejections are reported; the pairing with the others works
  CHECK(r.message == "3 peers, 3 with a fresh handshake, 2 remote nodes rejected");
  CHECK(r.annotation.find(R"("rejected":{"c2n3":"own_key","c2n9":"bad_key"})") != std::string::npos);

  in.rejected.clear();
  for (int i = 0; i < 40; i++) in.rejected.emplace_back("n" + std::to_string(100 + i), "bad_key");
  for (int i = 0; i < 35; i++) in.stale.push_back("s" + std::to_string(100 + i));
  r = BuildNodeReport(in);
  Parsed p(r.annotation);
  CHECK(json_object_size(p["rejected"]) == 32);
  CHECK(json_object_get(p["rejected"], "n100") != nullptr);
  CHECK(json_object_get(p["rejected"], "n131") != nullptr);
  CHECK(json_object_get(p["rejected"], "n132") == nullptr);
  CHECK(json_array_size(p["stale"]) == 32);
  CHECK(json_integer_value(p["more"]) == 8 + 3);
}

TEST_CASE("node report: at most 4 KiB, whatever the names") {
  ReportInput in = Healthy();
  for (int i = 0; i < 32; i++)
    in.rejected.emplace_back(std::string(240, 'r') + std::to_string(100 + i), "bad_key");
  for (int i = 0; i < 32; i++) in.stale.push_back(std::string(240, 's') + std::to_string(100 + i));
  NodeReport r = BuildNodeReport(in);
  CHECK(r.annotation.size() <= 4096);
  Parsed p(r.annotation);
  size_t kept = json_object_size(p["rejected"]) + json_array_size(p["stale"]);
  CHECK(kept >= 10);
  CHECK(static_cast<size_t>(json_integer_value(p["more"])) == 64 - kept);
}

TEST_CASE("node report: change detection ignores the sync time only") {
  ReportInput in = Healthy();
  NodeReport a = BuildNodeReport(in);
  in.last_full_sync += 300;
  NodeReport b = BuildNodeReport(in);
  CHECK(a.annotation != b.annotation);
  CHECK(a.SameAs(b));
  in.fresh = 2;
  in.stale = {"c2n1"};
  CHECK_FALSE(a.SameAs(BuildNodeReport(in)));
  in = Healthy();
  in.rejected = {{"c2n3", "own_key"}};
  NodeReport c = BuildNodeReport(in);
  in.rejected = {{"c2n3", "bad_key"}};
  CHECK_FALSE(c.SameAs(BuildNodeReport(in)));
}

TEST_CASE("node report: the condition patch") {
  NodeReport r = BuildNodeReport(Healthy());
  CHECK(ConditionPatch(r, 1796310060, 1796310000) ==
        R"({"status":{"conditions":[{"type":"WireGuardC2Ready","status":"True","reason":"PairingReady",)"
        R"("message":"3 peers, 3 with a fresh handshake","lastHeartbeatTime":"2026-12-03T15:01:00Z",)"
        R"("lastTransitionTime":"2026-12-03T15:00:00Z"}]}})");
  ReportInput in = Healthy();
  in.problem = "interface wireguard.c2 is down";
  in.problem_reason = "InterfaceDown";
  CHECK(ConditionPatch(BuildNodeReport(in), 0, 0).find(R"("status":"False","reason":"InterfaceDown")") !=
        std::string::npos);
}
