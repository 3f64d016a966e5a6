#include "common/channel.h"

#include <doctest/doctest.h>
#include <sys/socket.h>
#include <csignal>
#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

using namespace std::chrono_literals;

TEST_CASE("messages cross a socketpair intact, in order, split or packed") {
  swg::Loop loop;
  int sv[2];
  REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
  std::vector<std::string> got_a, got_b;
  std::string closed_a;
  swg::Channel a(loop, sv[0], [&](std::string_view m) { got_a.emplace_back(m); },
                 [&](const std::string& r) { closed_a = r; });
  auto b = std::make_unique<swg::Channel>(loop, sv[1], [&](std::string_view m) { got_b.emplace_back(m); },
                                          [](const std::string&) {});
  std::string big(3 << 20, 'x');  // larger than one socket buffer: arrives in many reads
  CHECK(a.Send("{\"n\":1}"));
  CHECK(a.Send(big));
  CHECK(a.Send("{\"n\":3}"));
  CHECK(b->Send("pong"));
  CHECK(loop.RunUntil([&] { return got_b.size() == 3 && got_a.size() == 1; }, 5s));
  CHECK(got_b[0] == "{\"n\":1}");
  CHECK(got_b[1] == big);
  CHECK(got_b[2] == "{\"n\":3}");
  CHECK(got_a[0] == "pong");
  // The peer going away is reported once, with a reason.
  b->Send("last words");
  b.reset();
  CHECK(loop.RunUntil([&] { return !closed_a.empty(); }, 5s));
  CHECK(got_a.back() == "last words");
  CHECK(closed_a == "closed by peer");
  CHECK_FALSE(a.open());
  CHECK_FALSE(a.Send("nobody listens"));
}

TEST_CASE("a message over the limit closes the channel; a channel may be destroyed from its callback") {
  swg::Loop loop;
  int sv[2];
  REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
  std::string reason;
  swg::Channel small(loop, sv[0], [](std::string_view) {}, [&](const std::string& r) { reason = r; }, 1024);
  std::unique_ptr<swg::Channel> sender;
  int received = 0;
  sender = std::make_unique<swg::Channel>(loop, sv[1], [&](std::string_view) {
    ++received;
    sender.reset();  // destroying the channel from its own message callback is allowed
  }, [](const std::string&) {});
  CHECK(small.Send("one"));
  CHECK(small.Send("two"));
  CHECK(loop.RunUntil([&] { return !sender && received == 1; }, 5s));
  int sv2[2];
  REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv2) == 0);
  swg::Channel limited(loop, sv2[0], [](std::string_view) {}, [&](const std::string& r) { reason = r; }, 1024);
  std::string junk(4096, 'y');
  REQUIRE(write(sv2[1], junk.data(), junk.size()) == static_cast<ssize_t>(junk.size()));
  CHECK(loop.RunUntil([&] { return !reason.empty(); }, 5s));
  CHECK(reason == "message larger than the limit of 1024 bytes");
  close(sv2[1]);
}

TEST_CASE("a long line is scanned once however many reads it takes; the default cap is 8 MiB") {
  signal(SIGPIPE, SIG_IGN);  // as the supervisor and workers do: the writer below writes to a closed socket
  swg::Loop loop;
  int sv[2];
  REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
  std::vector<std::string> got;
  std::string reason;
  swg::Channel reader(loop, sv[0], [&](std::string_view m) { got.emplace_back(m); },
                      [&](const std::string& r) { reason = r; });
  swg::Channel writer(loop, sv[1], [](std::string_view) {}, [](const std::string&) {});
  std::string line(6 << 20, 'z');  // under the cap, arrives in about a hundred reads
  REQUIRE(writer.Send(line));
  REQUIRE(writer.Send("after"));
  CHECK(loop.RunUntil([&] { return got.size() == 2 || !reason.empty(); }, 60s));
  REQUIRE(got.size() == 2);
  CHECK(got[0] == line);
  CHECK(got[1] == "after");
  // Rescanning the buffer from its start on every read would search hundreds of times the line's length.
  CHECK(reader.scanned_bytes() == line.size() + 1 + 6);
  // Over the default cap: the channel closes and says why.
  REQUIRE(writer.Send(std::string(9 << 20, 'q')));
  CHECK(loop.RunUntil([&] { return !reason.empty(); }, 60s));
  CHECK(reason == "message larger than the limit of 8388608 bytes");
  CHECK(got.size() == 2);
  // The writer's pending write fails once the reader is gone; let it finish before the loop goes away.
  CHECK(loop.RunUntil([&] { return !writer.open(); }, 60s));
}
