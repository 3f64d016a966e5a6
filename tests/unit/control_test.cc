// The control socket's bounds against clients that connect and say nothing, never read their reply, or send
// many request lines: `status` must keep working and the supervisor must not hold such clients forever.
#include "supervisor/control.h"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

#include "tests/unit/testutil.h"

using namespace std::chrono_literals;
using swg::test::ReadSome;

namespace {

// A non-blocking client connected to `path`; the loop runs in this thread, so nothing may block.
int Connect(const std::string& path) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  REQUIRE(fd >= 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  REQUIRE(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  return fd;
}

void Write(int fd, const std::string& s) { REQUIRE(write(fd, s.data(), s.size()) == static_cast<ssize_t>(s.size())); }

struct Server {
  swg::Loop loop;
  swg::test::TempDir dir;
  std::string path = dir.path() + "/control.sock";
  int requests = 0;
  std::string reply = "{\"ok\":true}";
  std::unique_ptr<swg::supervisor::ControlServer> server;

  explicit Server(const swg::supervisor::ControlLimits& limits) {
    auto s = swg::supervisor::ControlServer::Start(
        loop, path,
        [this](std::string_view, swg::supervisor::ControlServer::Reply answer) {
          ++requests;
          answer(reply);
        },
        limits);
    REQUIRE(s.ok());
    server = std::move(*s);
  }
};

}  // namespace

TEST_CASE("idle clients neither block status nor stay connected") {
  swg::supervisor::ControlLimits limits;
  limits.request_timeout = 2s;
  Server s(limits);
  std::vector<int> idle;
  for (size_t i = 0; i < limits.max_connections; ++i) idle.push_back(Connect(s.path));
  CHECK(s.loop.RunUntil([&] { return s.server->connections() == limits.max_connections; }, 60s));
  // Every slot holds a silent client; a real request still gets its answer at once, not after the timeout.
  int fd = Connect(s.path);
  Write(fd, "{\"command\":\"status\"}\n");
  std::string answer;
  CHECK(s.loop.RunUntil([&] { return !ReadSome(fd, &answer); }, 60s));  // answered, then closed
  CHECK(answer == s.reply + "\n");
  close(fd);
  // The silent clients are all closed by the server after the request timeout.
  CHECK(s.loop.RunUntil(
      [&] {
        size_t gone = 0;
        for (int c : idle) {
          std::string ignored;
          if (!ReadSome(c, &ignored)) ++gone;
        }
        return gone == idle.size();
      },
      60s));
  CHECK(s.loop.RunUntil([&] { return s.server->connections() == 0; }, 60s));
  for (int c : idle) close(c);
  // With no client left the sweeping stops (no wake-ups at idle); a new silent client starts it again.
  int late = Connect(s.path);
  CHECK(s.loop.RunUntil([&] { return s.server->connections() == 1; }, 60s));
  CHECK(s.loop.RunUntil([&] { return s.server->connections() == 0; }, 60s));
  std::string ignored;
  CHECK_FALSE(ReadSome(late, &ignored));
  close(late);
}

TEST_CASE("a client that never reads a large reply is dropped after the flush timeout") {
  swg::supervisor::ControlLimits limits;
  limits.flush_timeout = 500ms;
  Server s(limits);
  s.reply.assign(16 << 20, 'x');  // far more than the socket buffers hold
  int fd = Connect(s.path);
  Write(fd, "{\"command\":\"status\"}\n");
  CHECK(s.loop.RunUntil([&] { return s.requests == 1; }, 60s));
  CHECK(s.server->connections() == 1);
  CHECK(s.loop.RunUntil([&] { return s.server->connections() == 0; }, 60s));
  // What the client finds when it finally reads: part of the reply, then the end of the connection.
  std::string got;
  CHECK_FALSE(ReadSome(fd, &got));
  CHECK(got.size() < s.reply.size());
  close(fd);
}

TEST_CASE("several request lines on one connection are answered once") {
  Server s(swg::supervisor::ControlLimits{});
  int fd = Connect(s.path);
  std::string lines;
  for (int i = 0; i < 50; ++i) lines += "{\"command\":\"status\",\"verbose\":true}\n";
  Write(fd, lines);
  std::string answer;
  CHECK(s.loop.RunUntil([&] { return !ReadSome(fd, &answer); }, 60s));  // answered, then closed
  CHECK(answer == s.reply + "\n");
  CHECK(s.requests == 1);
  close(fd);
}
