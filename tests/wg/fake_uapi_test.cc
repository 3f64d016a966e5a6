// The userspace backend against a scripted UAPI peer on the real socket path, to see the exact requests:
// listen_port is sent only when it changes, and malformed or failed replies become clear errors.
#include <doctest/doctest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <functional>
#include <mutex>
#include <thread>

#include "tests/wg/nstest.h"
#include "worker/wg/backends.h"

namespace swg::wg::test {
namespace {

// Serves /var/run/wireguard/<name>.sock: records each request, answers with `reply(request)`.
class FakeUapi {
 public:
  FakeUapi(const std::string& name, std::function<std::string(const std::string&)> reply)
      : reply_(std::move(reply)) {
    path_ = "/var/run/wireguard/" + name + ".sock";
    fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    REQUIRE(path_.size() < sizeof addr.sun_path);
    std::memcpy(addr.sun_path, path_.data(), path_.size());
    REQUIRE(bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    REQUIRE(listen(fd_, 8) == 0);
    thread_ = std::thread([this] { Loop(); });
  }
  ~FakeUapi() {
    shutdown(fd_, SHUT_RDWR);
    thread_.join();
    close(fd_);
    unlink(path_.c_str());
  }
  std::string last() {
    std::lock_guard<std::mutex> lock(mu_);
    return requests_.empty() ? "" : requests_.back();
  }

 private:
  void Loop() {
    for (;;) {
      int c = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) return;
      std::string request;
      char buf[4096];
      while (request.size() < 2 || request.substr(request.size() - 2) != "\n\n") {
        ssize_t n = read(c, buf, sizeof buf);
        if (n <= 0) break;
        request.append(buf, static_cast<size_t>(n));
      }
      std::string answer = reply_(request);
      {
        std::lock_guard<std::mutex> lock(mu_);
        requests_.push_back(request);
      }
      (void)!write(c, answer.data(), answer.size());
      close(c);
    }
  }

  std::function<std::string(const std::string&)> reply_;
  std::string path_;
  int fd_ = -1;
  std::thread thread_;
  std::mutex mu_;
  std::vector<std::string> requests_;
};

bool HasPort(const std::string& request) { return request.find("\nlisten_port=") != std::string::npos; }

TEST_CASE("userspace: listen_port is sent only when it changes on the same link" *
          doctest::test_suite("userspace")) {
  Sandbox box;
  Sh("ip tuntap add wg-fake mode tun");  // a link, so the backend sees an ifindex
  std::string set_reply = "errno=0\n\n";
  FakeUapi fake("wg-fake", [&](const std::string& req) {
    return req == "get=1\n\n" ? std::string("listen_port=51820\nerrno=0\n\n") : set_reply;
  });
  auto backend = MakeUserspaceBackend();
  DeviceChange c;
  c.listen_port = 51820;
  c.peers.push_back(PeerChange{});
  c.peers[0].public_key = RandomKey();
  c.peers[0].allowed_ips = {*Cidr::Parse("10.1.0.0/24")};

  REQUIRE(backend->Apply("wg-fake", c));  // nothing known yet: sent
  CHECK(HasPort(fake.last()));
  REQUIRE(backend->Apply("wg-fake", c));  // applied a moment ago: left out, the peer still goes
  CHECK_FALSE(HasPort(fake.last()));
  CHECK(fake.last().find("public_key=") != std::string::npos);
  c.listen_port = 51821;
  REQUIRE(backend->Apply("wg-fake", c));
  CHECK(fake.last().find("\nlisten_port=51821\n") != std::string::npos);
  REQUIRE(backend->GetDevice("wg-fake")->listen_port == 51820);  // a read updates what is known
  REQUIRE(backend->Apply("wg-fake", c));
  CHECK(HasPort(fake.last()));
  REQUIRE(backend->Apply("wg-fake", c));
  CHECK_FALSE(HasPort(fake.last()));
  c.rebind = true;  // the device reports the port but has no socket on it: sent anyway
  REQUIRE(backend->Apply("wg-fake", c));
  CHECK(fake.last().find("\nlisten_port=51821\n") != std::string::npos);
  c.rebind = false;

  // A new link of the same name (wireguard-go restarted): its port is unknown, so it is sent.
  Sh("ip link del wg-fake && ip tuntap add wg-fake mode tun");
  REQUIRE(backend->Apply("wg-fake", c));
  CHECK(HasPort(fake.last()));

  // A failed set forgets the port, and names interface and errno.
  set_reply = "errno=-22\n\n";
  Status bad = backend->Apply("wg-fake", c);
  REQUIRE_FALSE(bad);
  CHECK(bad.error().message == "wg-fake: set device: Invalid argument (errno 22)");
  CHECK(bad.error().code == EINVAL);
  CHECK_FALSE(HasPort(fake.last()));  // known before the failure
  set_reply = "errno=0\n\n";
  REQUIRE(backend->Apply("wg-fake", c));
  CHECK(HasPort(fake.last()));
}

TEST_CASE("userspace: malformed and truncated replies are errors" * doctest::test_suite("userspace")) {
  Sandbox box;
  std::string reply;
  FakeUapi fake("wg-bad", [&](const std::string&) { return reply; });
  auto backend = MakeUserspaceBackend();

  reply = "listen_port=x\nerrno=0\n\n";
  auto r = backend->GetDevice("wg-bad");
  REQUIRE_FALSE(r);
  CHECK(r.error().message ==
        "wg-bad: get device: malformed reply: line 1: bad listen_port \"x\": Protocol error (errno 71)");

  reply = "listen_port=1\n";  // then the connection closes
  r = backend->GetDevice("wg-bad");
  REQUIRE_FALSE(r);
  CHECK(
      r.error().message ==
      "wg-bad: get device: connection to /var/run/wireguard/wg-bad.sock closed before the end of the reply: "
      "Protocol error (errno 71)");

  reply = "errno=-19\n\n";
  r = backend->GetDevice("wg-bad");
  REQUIRE_FALSE(r);
  CHECK(r.error().message == "wg-bad: get device: No such device (errno 19)");
  CHECK(r.error().code == ENODEV);
}

}  // namespace
}  // namespace swg::wg::test
