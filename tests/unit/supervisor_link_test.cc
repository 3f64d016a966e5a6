#include "worker/supervisor_link.h"

#include <doctest/doctest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <vector>

using namespace std::chrono_literals;

// The worker's heartbeats as the supervisor reads them: the whole status when it changed since the last one
// sent (and first), a bare "alive" while it stays the same.
TEST_CASE("supervisor link: a heartbeat carries the status only when it changed") {
  int sv[2];
  REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
  swg::Loop loop;
  std::vector<std::string> got;  // what the supervisor's end received
  swg::Channel supervisor(
      loop, sv[0], [&](std::string_view m) { got.emplace_back(m); }, [](const std::string&) {});

  swg::WorkerStatus status;
  status.remote = "c2";
  status.state = "syncing";
  swg::worker::SupervisorLink::Handlers h;
  h.status = [&] { return status; };
  bool started = false;
  h.on_start = [&](swg::Config) { started = true; };
  swg::worker::SupervisorLink link(loop, sv[1], h);
  supervisor.Send(R"({"type":"start","config":{"local":{"name":"c1"},"remotes":[{"name":"c2",)"
                  R"("kubeConfigPath":"/k","podSubnet":"10.4.0.0/16"}]}})");
  REQUIRE(loop.RunUntil([&] { return started && got.size() == 1; }, 60s));
  CHECK(got[0].find(R"("type":"status")") != std::string::npos);
  CHECK(got[0].find(R"("state":"syncing")") != std::string::npos);

  // Unchanged: the next heartbeats (every second) are bare.
  REQUIRE(loop.RunUntil([&] { return got.size() == 3; }, 60s));
  CHECK(got[1] == swg::kAliveMessage);
  CHECK(got[2] == swg::kAliveMessage);

  // A change goes out whole, with the next heartbeat or at once when the worker asks.
  status.state = "ready";
  link.SendStatus();
  REQUIRE(loop.RunUntil([&] { return got.size() == 4; }, 60s));
  CHECK(got[3].find(R"("state":"ready")") != std::string::npos);
  REQUIRE(loop.RunUntil([&] { return got.size() == 5; }, 60s));
  CHECK(got[4] == swg::kAliveMessage);
}

TEST_CASE("heartbeat interval: a quarter of the supervisor's timeout, within 250 ms to 2.5 s") {
  CHECK(swg::HeartbeatInterval(10s) == 2500ms);  // the default timeout
  CHECK(swg::HeartbeatInterval(3s) == 750ms);
  CHECK(swg::HeartbeatInterval(1s) == 250ms);
  CHECK(swg::HeartbeatInterval(60s) == 2500ms);
}

// The start message's heartbeat_ms sets the interval: 100 ms here, so five heartbeats come long before the
// five seconds they would take at the former fixed second.
TEST_CASE("supervisor link: heartbeats follow the start message's heartbeat_ms") {
  int sv[2];
  REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
  swg::Loop loop;
  std::vector<std::string> got;
  swg::Channel supervisor(
      loop, sv[0], [&](std::string_view m) { got.emplace_back(m); }, [](const std::string&) {});
  swg::WorkerStatus status;
  status.remote = "c2";
  swg::worker::SupervisorLink::Handlers h;
  h.status = [&] { return status; };
  swg::worker::SupervisorLink link(loop, sv[1], h);
  supervisor.Send(R"({"type":"start","config":{"local":{"name":"c1"},"remotes":[{"name":"c2",)"
                  R"("kubeConfigPath":"/k","podSubnet":"10.4.0.0/16"}]},"heartbeat_ms":100})");
  REQUIRE(loop.RunUntil([&] { return got.size() == 1; }, 60s));
  auto start = std::chrono::steady_clock::now();
  REQUIRE(loop.RunUntil([&] { return got.size() == 6; }, 60s));
  CHECK(std::chrono::steady_clock::now() - start < 4500ms);
  for (size_t i = 1; i < got.size(); ++i) CHECK(got[i] == swg::kAliveMessage);
}
