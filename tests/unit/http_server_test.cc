// The HTTP server on a real loop with real sockets on 127.0.0.1: answers, keep-alive and pipelining, handlers
// that answer later (or after the client or the server is gone), and the limits that keep idle, slow or
// greedy clients from starving the probes.
#include "supervisor/http_server.h"

#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <string>
#include <vector>

#include "tests/unit/testutil.h"

using namespace std::chrono_literals;
using swg::supervisor::HttpLimits;
using swg::supervisor::HttpResponse;
using swg::supervisor::HttpServer;
using swg::test::ReadSome;

namespace {

struct Fixture {
  swg::Loop loop;
  std::vector<std::string> seen;             // "METHOD path" of each request handled
  std::vector<HttpServer::Respond> pending;  // answers held back when `later` is set
  bool later = false;
  std::string body_prefix = "hello ";
  std::unique_ptr<HttpServer> server;

  explicit Fixture(const HttpLimits& limits = {}) {
    signal(SIGPIPE, SIG_IGN);  // as the daemon does: some answers below go to clients that are gone
    auto s = HttpServer::Start(
        loop, "127.0.0.1:0",
        [this](const std::string& method, const std::string& path, HttpServer::Respond respond) {
          seen.push_back(method + " " + path);
          if (later) return pending.push_back(std::move(respond));
          respond({200, "text/plain; charset=utf-8", body_prefix + path});
        },
        limits);
    REQUIRE(s.ok());
    server = std::move(*s);
  }

  // A client connected to the server; non-blocking, as the loop runs in this thread.
  int Connect() {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd >= 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(server->port());
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    // The kernel completes the handshake into the listen queue: this does not wait for the loop.
    REQUIRE(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    fcntl(fd, F_SETFL, O_NONBLOCK);
    return fd;
  }
};

void Send(int fd, const std::string& s) {
  REQUIRE(write(fd, s.data(), s.size()) == static_cast<ssize_t>(s.size()));
}

// The length of the first complete answer in `s` (a HEAD answer has no body), or 0.
size_t AnswerSize(const std::string& s, bool head_only = false) {
  size_t end = s.find("\r\n\r\n");
  if (end == std::string::npos) return 0;
  size_t cl = s.find("Content-Length: ");
  if (cl == std::string::npos || cl > end) return 0;
  size_t size = end + 4 + (head_only ? 0 : std::stoul(s.substr(cl + 16)));
  return s.size() >= size ? size : 0;
}

// Runs the loop until `n` answers arrived on fd (or the server closed it); returns what was read.
std::string ReadAnswers(Fixture& f, int fd, int n = 1, bool head_only = false) {
  std::string got;
  bool open = true;
  auto complete = [&] {
    size_t at = 0;
    for (int i = 0; i < n; ++i) {
      size_t size = AnswerSize(got.substr(at), head_only);
      if (size == 0) return false;
      at += size;
    }
    return true;
  };
  f.loop.RunUntil([&] { return (open = ReadSome(fd, &got)), !open || complete(); }, 10s);
  return got;
}

// Runs the loop until the server closes fd; false if it is still open after `timeout`.
bool ClosedWithin(Fixture& f, int fd, std::chrono::milliseconds timeout) {
  std::string ignored;
  return f.loop.RunUntil([&] { return !ReadSome(fd, &ignored); }, timeout);
}

const char* kGet = "GET /livez HTTP/1.1\r\nHost: t\r\n\r\n";

}  // namespace

TEST_CASE("GET and HEAD: the status, the headers, the body (none for HEAD)") {
  Fixture f;
  int fd = f.Connect();
  Send(fd, kGet);
  std::string got = ReadAnswers(f, fd);
  CHECK(got.rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
  CHECK(got.find("\r\nContent-Type: text/plain; charset=utf-8\r\n") != std::string::npos);
  CHECK(got.find("\r\nContent-Length: 12\r\n") != std::string::npos);
  CHECK(got.find("\r\nCache-Control: no-store\r\n") != std::string::npos);
  CHECK(got.find("\r\nConnection: close\r\n") == std::string::npos);
  CHECK(got.substr(got.size() - 16) == "\r\n\r\nhello /livez");
  // HEAD: the GET's Content-Length, no body: the next answer on the connection follows the head at once.
  Send(fd, "HEAD /livez HTTP/1.1\r\nHost: t\r\n\r\n" + std::string(kGet));
  got = ReadAnswers(f, fd, 2, true);
  size_t head = AnswerSize(got, true);
  REQUIRE(head > 0);
  CHECK(got.find("\r\nContent-Length: 12\r\n") < head);
  CHECK(got.substr(head).rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
  CHECK(f.seen == std::vector<std::string>{"GET /livez", "HEAD /livez", "GET /livez"});
  close(fd);
}

TEST_CASE("keep-alive: requests one after the other and pipelined, in order; Connection: close closes") {
  Fixture f;
  int fd = f.Connect();
  Send(fd, "GET /a HTTP/1.1\r\nHost: t\r\n\r\n");
  CHECK(ReadAnswers(f, fd).find("hello /a") != std::string::npos);
  Send(fd, "GET /b HTTP/1.1\r\nHost: t\r\n\r\n");
  CHECK(ReadAnswers(f, fd).find("hello /b") != std::string::npos);
  // Three in one write, a body to skip in the first; the last one asks to close.
  Send(fd,
       "POST /c HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n\r\nbodyGET /d HTTP/1.1\r\nHost: t\r\n\r\n"
       "GET /e HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
  std::string got = ReadAnswers(f, fd, 3);
  size_t c = got.find("hello /c"), d = got.find("hello /d"), e = got.find("hello /e");
  CHECK(c < d);
  CHECK(d < e);
  CHECK(e != std::string::npos);
  CHECK(got.find("Connection: close") < e);
  CHECK(ClosedWithin(f, fd, 10s));
  CHECK(f.seen == std::vector<std::string>{"GET /a", "GET /b", "POST /c", "GET /d", "GET /e"});
  close(fd);
  // HTTP/1.0 closes unless asked to keep the connection.
  fd = f.Connect();
  Send(fd, "GET /f HTTP/1.0\r\n\r\n");
  CHECK(ReadAnswers(f, fd).find("\r\nConnection: close\r\n") != std::string::npos);
  CHECK(ClosedWithin(f, fd, 10s));
  close(fd);
}

TEST_CASE("a malformed request gets its error status and the connection is closed") {
  Fixture f;
  int fd = f.Connect();
  Send(fd, "GET / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n");
  std::string got = ReadAnswers(f, fd);
  CHECK(got.rfind("HTTP/1.1 501 Not Implemented\r\n", 0) == 0);
  CHECK(got.find("\r\nConnection: close\r\n") != std::string::npos);
  CHECK(ClosedWithin(f, fd, 10s));
  close(fd);
  fd = f.Connect();
  Send(fd, "GET / HTTP/1.1\r\nHost: t\r\nX: " + std::string(9000, 'x'));  // no end in sight
  CHECK(ReadAnswers(f, fd).rfind("HTTP/1.1 431 ", 0) == 0);
  CHECK(ClosedWithin(f, fd, 10s));
  close(fd);
  CHECK(f.seen.empty());
}

TEST_CASE("a handler may answer later, once; an answer after the client or the server is gone does nothing") {
  Fixture f;
  f.later = true;
  int fd = f.Connect();
  Send(fd, kGet);
  CHECK(f.loop.RunUntil([&] { return f.pending.size() == 1; }, 10s));
  std::string got;
  f.loop.RunUntil([] { return false; }, 300ms);
  CHECK(ReadSome(fd, &got));
  CHECK(got.empty());  // nothing before the answer, and the connection is not idle meanwhile
  f.pending[0]({503, "text/plain; charset=utf-8", "later\n"});
  f.pending[0]({200, "text/plain; charset=utf-8", "twice\n"});  // ignored
  got = ReadAnswers(f, fd);
  CHECK(got.rfind("HTTP/1.1 503 Service Unavailable\r\n", 0) == 0);
  f.loop.RunUntil([] { return false; }, 300ms);
  ReadSome(fd, &got);
  CHECK(got.find("twice") == std::string::npos);
  // The client goes away before the answer.
  Send(fd, kGet);
  CHECK(f.loop.RunUntil([&] { return f.pending.size() == 2; }, 10s));
  close(fd);
  f.loop.RunUntil([] { return false; }, 300ms);
  f.pending[1]({200, "text/plain; charset=utf-8", "too late\n"});
  CHECK(f.loop.RunUntil([&] { return f.server->connections() == 0; }, 10s));
  // The server goes away before the answer.
  fd = f.Connect();
  Send(fd, kGet);
  CHECK(f.loop.RunUntil([&] { return f.pending.size() == 3; }, 10s));
  f.server.reset();
  f.pending[2]({200, "text/plain; charset=utf-8", "no server\n"});
  CHECK(ClosedWithin(f, fd, 10s));
  close(fd);
}

TEST_CASE("at most 16 connections per client address: the 17th is closed at once, the 16 are served") {
  Fixture f;
  std::vector<int> fds;
  for (int i = 0; i < 17; ++i) fds.push_back(f.Connect());
  CHECK(ClosedWithin(f, fds[16], 10s));
  CHECK(f.server->connections() == 16);
  for (int i = 0; i < 16; ++i) {
    Send(fds[i], kGet);
    CHECK(ReadAnswers(f, fds[i]).rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
  }
  // Room for a new one once one has gone.
  close(fds[0]);
  CHECK(f.loop.RunUntil([&] { return f.server->connections() == 15; }, 10s));
  fds[0] = f.Connect();
  Send(fds[0], kGet);
  CHECK(ReadAnswers(f, fds[0]).rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
  for (int fd : fds) close(fd);
}

TEST_CASE("at the total limit, a new connection waits in the listen queue and is served once there is room") {
  HttpLimits limits;
  limits.total = 4;
  Fixture f(limits);
  std::vector<int> fds;
  for (int i = 0; i < 4; ++i) fds.push_back(f.Connect());
  CHECK(f.loop.RunUntil([&] { return f.server->connections() == 4; }, 10s));
  int waiting = f.Connect();
  Send(waiting, kGet);
  std::string got;
  f.loop.RunUntil([] { return false; }, 500ms);
  CHECK(ReadSome(waiting, &got));
  CHECK(got.empty());
  CHECK(f.seen.empty());
  close(fds[0]);
  CHECK(ReadAnswers(f, waiting).rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
  CHECK(f.server->connections() == 4);
  for (int fd : fds) close(fd);
  close(waiting);
}

TEST_CASE("idle connections and slow request heads are closed after the timeout") {
  HttpLimits limits;
  limits.idle_timeout = 1s;
  Fixture f(limits);
  auto start = std::chrono::steady_clock::now();
  int silent = f.Connect(), kept = f.Connect(), slow = f.Connect();
  Send(kept, kGet);
  CHECK(ReadAnswers(f, kept).find("hello /livez") != std::string::npos);
  auto answered = std::chrono::steady_clock::now();
  // The slow one sends a byte of its head every 300 ms: it is busy all along, but its head is never complete.
  const std::string head = kGet;
  size_t sent = 0;
  std::vector<int> fds = {silent, kept, slow};
  std::vector<std::chrono::steady_clock::duration> closed_after(3, 0s);  // from `start`
  f.loop.RunUntil(
      [&] {
        auto now = std::chrono::steady_clock::now();
        for (size_t i = 0; i < fds.size(); ++i) {
          std::string ignored;
          if (closed_after[i] == 0s && !ReadSome(fds[i], &ignored)) closed_after[i] = now - start;
        }
        auto due = static_cast<size_t>((now - start) / 300ms) + 1;
        for (; closed_after[2] == 0s && sent < due && sent < head.size() - 1; ++sent)
          Send(slow, head.substr(sent, 1));
        return closed_after[0] != 0s && closed_after[1] != 0s && closed_after[2] != 0s;
      },
      10s);
  for (auto after : closed_after) {
    CHECK(after >= 900ms);  // not at once
    CHECK(after < 5s);      // (0 if never)
  }
  CHECK(closed_after[1] >= (answered - start) + 900ms);  // idle from its answer on
  CHECK(sent < head.size() - 1);
  CHECK(f.server->connections() == 0);
  for (int fd : fds) close(fd);
}

TEST_CASE("an answer not written within the answer timeout (a client that does not read it) is dropped") {
  HttpLimits limits;
  limits.answer_timeout = 1s;
  Fixture f(limits);
  f.body_prefix = std::string(32 << 20, 'x');  // far more than the socket buffers hold
  int fd = f.Connect();
  Send(fd, kGet);
  CHECK(f.loop.RunUntil([&] { return f.seen.size() == 1; }, 10s));
  CHECK(f.loop.RunUntil([&] { return f.server->connections() == 0; }, 10s));
  close(fd);
  // Nor does a handler that never answers hold the connection.
  f.later = true;
  fd = f.Connect();
  Send(fd, kGet);
  CHECK(f.loop.RunUntil([&] { return f.pending.size() == 1; }, 10s));
  CHECK(ClosedWithin(f, fd, 10s));
  CHECK(f.server->connections() == 0);
  close(fd);
}
