// wireguard-go in trouble, for real: a stopped (hung) wireguard-go is found by the liveness probe within a
// second and replaced, requests to it fail after the idle timeout instead of blocking the worker, and a listen
// port that another process holds is not taken for wireguard-go's.
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cerrno>

#include "common/proc.h"
#include "tests/wg/nstest.h"
#include "worker/wg/wireguard_go.h"

namespace swg::wg::test {
namespace {

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

const Cidr kPods = *Cidr::Parse("10.2.0.0/16");

// SIGSTOP, and wait until it took effect (a signal is delivered asynchronously).
void Stop(pid_t pid) {
  REQUIRE(kill(pid, SIGSTOP) == 0);
  REQUIRE(WaitUntil([&] { return ProcessState(pid) == 'T'; }, 10s));
}

// A UDP socket of this process on 0.0.0.0:port (wireguard-go binds IPv4 first, so this makes its bind fail).
struct PortHolder {
  explicit PortHolder(uint16_t port) {
    fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd >= 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  }
  ~PortHolder() { Release(); }
  void Release() {
    if (fd >= 0) close(fd);
    fd = -1;
  }
  int fd = -1;
};

TEST_CASE("link-userspace: Check replaces a wireguard-go that stopped answering, and kills it" *
          doctest::test_suite("link-userspace")) {
  Sandbox box;
  auto iface = MustEnsure({"wireguard.hng", 1420, BackendChoice::kUserspace});
  REQUIRE(iface->EnsureRoute(kPods));
  const pid_t old_pid = iface->wireguard_go_pid();
  REQUIRE(old_pid > 0);
  Stop(old_pid);
  // It still accepts connections (the kernel queues them), so only a request tells.
  CHECK_FALSE(ProbeUapi(kUapiSocketDir, "wireguard.hng").answers);
  LogCapture logs;
  const auto t0 = Clock::now();
  auto report = iface->Check({kPods});
  const double took = SecondsSince(t0);
  INFO(ErrorOf(report));
  REQUIRE(report);
  CHECK(report->Describe() == "link recreated (wireguard-go does not answer), route restored");
  Measure("Check found a stopped wireguard-go and replaced it in " + std::to_string(took) + " s");
  // The worker's loop waits for the check: it must stay well below the supervisor's 10 s heartbeat timeout.
  CHECK(took < 5.0);
  CHECK(logs.Count("warn killing the wireguard-go that does not answer device=wireguard.hng pid=" +
                   std::to_string(old_pid)) == 1);
  CHECK(WaitUntil([&] { return ProcessGone(old_pid); }, 10s));
  CHECK(iface->wireguard_go_pid() > 0);
  CHECK(iface->wireguard_go_pid() != old_pid);
  REQUIRE(iface->backend().GetDevice("wireguard.hng"));
  auto again = iface->Check({kPods});
  REQUIRE(again);
  CHECK(again->Describe() == "");
}

TEST_CASE("link-userspace: a stopped wireguard-go found at start is replaced, not adopted" *
          doctest::test_suite("link-userspace")) {
  Sandbox box;
  auto first = MustEnsure({"wireguard.hng", 1420, BackendChoice::kUserspace});
  const pid_t old_pid = first->wireguard_go_pid();
  REQUIRE(old_pid > 0);
  first.reset();  // as a worker restart: the link and its wireguard-go stay
  Stop(old_pid);
  LogCapture logs;
  auto second = MustEnsure({"wireguard.hng", 1420, BackendChoice::kUserspace});
  CHECK(second->created());
  CHECK(second->wireguard_go_pid() != old_pid);
  CHECK(logs.Count("warn replacing the existing interface device=wireguard.hng reason=the wireguard-go on "
                   "/var/run/wireguard/wireguard.hng.sock (pid " +
                   std::to_string(old_pid) + ") does not answer: ") == 1);
  CHECK(WaitUntil([&] { return ProcessGone(old_pid); }, 10s));
  REQUIRE(second->backend().GetDevice("wireguard.hng"));
}

TEST_CASE("userspace: requests to a stopped wireguard-go fail after the idle timeout, then at once" *
          doctest::test_suite("userspace")) {
  Sandbox box;
  auto iface = MustEnsure({"wireguard.hng", 1420, BackendChoice::kUserspace});
  WgBackend& b = iface->backend();
  const pid_t pid = iface->wireguard_go_pid();
  REQUIRE(b.GetDevice("wireguard.hng"));
  Stop(pid);
  auto t0 = Clock::now();
  auto first = b.GetDevice("wireguard.hng");
  const double took = SecondsSince(t0);
  REQUIRE_FALSE(first);
  CHECK(first.error().code == ETIMEDOUT);
  CHECK(first.error().message ==
        "wireguard.hng: get device: no reply from /var/run/wireguard/wireguard.hng.sock (nothing for 2s): "
        "Connection timed out (errno 110)");
  Measure("a get from a stopped wireguard-go failed after " + std::to_string(took) + " s");
  CHECK(took >= 1.9);
  CHECK(took < 4.0);
  // More requests in a burst do not wait again: each would hold the worker's loop for another 2 s.
  t0 = Clock::now();
  auto second = b.GetDevice("wireguard.hng");
  DeviceChange c;
  c.private_key = RandomKey();
  Status third = b.Apply("wireguard.hng", c);
  CHECK(SecondsSince(t0) < 0.5);
  REQUIRE_FALSE(second);
  REQUIRE_FALSE(third);
  CHECK(second.error().code == ETIMEDOUT);
  CHECK(second.error().message.find("wireguard.hng: get device: not asked: its wireguard-go did not answer on "
                                    "/var/run/wireguard/wireguard.hng.sock ") == 0);
  CHECK(third.error().message.find("wireguard.hng: set device: not asked: ") == 0);
  // Once it runs again it is asked again (after the hold of a few seconds).
  REQUIRE(kill(pid, SIGCONT) == 0);
  CHECK(WaitUntil([&] { return b.GetDevice("wireguard.hng").ok(); }, 20s));
}

TEST_CASE("userspace: a listen port is bound only when wireguard-go's own socket is on it" *
          doctest::test_suite("userspace")) {
  Sandbox box;
  auto iface = MustEnsure({"wireguard.prt", 1420, BackendChoice::kUserspace});
  WgBackend& b = iface->backend();
  REQUIRE(iface->ListenPortBound(51830));
  CHECK_FALSE(*iface->ListenPortBound(51830));
  PortHolder holder(51830);
  DeviceChange c;
  c.listen_port = 51830;
  Status held = b.Apply("wireguard.prt", c);
  REQUIRE_FALSE(held);
  CHECK(held.error().code == EADDRINUSE);
  auto bound = iface->ListenPortBound(51830);
  REQUIRE(bound);
  CHECK_FALSE(*bound);  // a socket is on the port, but not wireguard-go's
  holder.Release();
  REQUIRE(b.Apply("wireguard.prt", c));
  CHECK(*iface->ListenPortBound(51830));
  CHECK_FALSE(*iface->ListenPortBound(51831));
}

}  // namespace
}  // namespace swg::wg::test
