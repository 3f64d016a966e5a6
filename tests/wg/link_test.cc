// Links and routes in a namespace: creation, adoption, the repair check. The same cases for a kernel link
// (suite "link-kernel", in the VM) and a wireguard-go link (suite "link-userspace"), plus what is specific to
// each, and the automatic choice (suite "link-auto", run in both places).
#include <doctest/doctest.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstddef>
#include <sstream>

#include "tests/wg/nstest.h"

namespace swg::wg::test {
namespace {

#define LINK_CASE(title, body)                                                                           \
  TEST_CASE("link-kernel: " title* doctest::test_suite("link-kernel")) { body(BackendChoice::kKernel); } \
  TEST_CASE("link-userspace: " title* doctest::test_suite("link-userspace")) {                           \
    body(BackendChoice::kUserspace);                                                                     \
  }

const Cidr kPods = *Cidr::Parse("10.2.0.0/16");

// Whitespace collapsed, trimmed.
std::string Squeeze(const std::string& s) {
  std::istringstream in(s);
  std::string word, out;
  while (in >> word) out += (out.empty() ? "" : " ") + word;
  return out;
}

std::string Routes4() { return Squeeze(Sh("ip -4 -o route show proto 87")); }
std::string Routes6() { return Squeeze(Sh("ip -6 -o route show proto 87")); }
std::string Addresses(const std::string& dev) { return Squeeze(Sh("ip -o addr show dev " + dev)); }
std::string LinkLine(const std::string& dev) { return Sh("ip -d -o link show dev " + dev); }
bool LinkUp(const std::string& dev) { return LinkLine(dev).find(",UP") != std::string::npos; }
bool LinkExists(const std::string& dev) { return Run({"ip", "link", "show", "dev", dev}).status == 0; }
std::string KindOf(BackendChoice c) { return c == BackendChoice::kKernel ? "wireguard" : "tun"; }

void Describe(Interface& iface, const std::string& want) {
  auto r = iface.Check({kPods});
  INFO(ErrorOf(r));
  REQUIRE(r);
  CHECK(r->Describe() == want);
}

void Creates(BackendChoice choice) {
  Sandbox box;
  auto iface = MustEnsure({"wireguard.lnk", 1380, choice});
  CHECK(iface->created());
  CHECK(iface->kind() == KindOf(choice));
  CHECK(iface->ifindex() > 0);
  std::string line = LinkLine("wireguard.lnk");
  CHECK(line.find(" mtu 1380 ") != std::string::npos);
  CHECK(line.find(",UP") != std::string::npos);
  CHECK(line.find(" " + KindOf(choice) + " ") != std::string::npos);
  CHECK(Addresses("wireguard.lnk") == "");
  CHECK(Routes4() == "");

  REQUIRE(iface->EnsureRoute(*Cidr::Parse("10.2.3.4/16")));  // host bits: the route is the network
  REQUIRE(iface->EnsureRoute(*Cidr::Parse("fd00:2::/64")));
  REQUIRE(iface->EnsureRoute(kPods));  // replace: still one route
  CHECK(Routes4() == "10.2.0.0/16 dev wireguard.lnk scope link");
  CHECK(Routes6() == "fd00:2::/64 dev wireguard.lnk metric 1024 pref medium");
  Describe(*iface, "");
}
LINK_CASE("creates the link: kind, MTU, up, no addresses; routes via it", Creates)

void Adopts(BackendChoice choice) {
  Sandbox box;
  auto first = MustEnsure({"wireguard.lnk", 1420, choice});
  const int ifindex = first->ifindex();
  first.reset();  // the link (and a wireguard-go) stay
  Sh("ip addr add 10.5.0.1/24 dev wireguard.lnk && ip -6 addr add fd00:5::1/64 dev wireguard.lnk && "
     "ip link set wireguard.lnk mtu 1300 && ip link set wireguard.lnk down");
  CHECK(Addresses("wireguard.lnk") != "");
  auto second = MustEnsure({"wireguard.lnk", 1420, choice});
  CHECK_FALSE(second->created());
  CHECK(second->ifindex() == ifindex);
  CHECK(second->kind() == KindOf(choice));
  CHECK(Addresses("wireguard.lnk") == "");
  CHECK(LinkLine("wireguard.lnk").find(" mtu 1420 ") != std::string::npos);
  CHECK(LinkUp("wireguard.lnk"));
}
LINK_CASE("adopts an existing link: addresses flushed, MTU set, up", Adopts)

void RepairsRoute(BackendChoice choice) {
  Sandbox box;
  auto iface = MustEnsure({"wireguard.lnk", 1420, choice});
  REQUIRE(iface->EnsureRoute(kPods));
  Sh("ip route del 10.2.0.0/16 dev wireguard.lnk");
  CHECK(Routes4() == "");
  Describe(*iface, "route restored");
  CHECK(Routes4() == "10.2.0.0/16 dev wireguard.lnk scope link");
  Describe(*iface, "");
  // A route of ours that points elsewhere is not the route: replaced.
  Sh("ip link add dummy-peer type veth peer name dummy-end && ip link set dummy-peer up && "
     "ip route replace 10.2.0.0/16 dev dummy-peer proto 87 scope link");
  Describe(*iface, "route restored");
  CHECK(Routes4() == "10.2.0.0/16 dev wireguard.lnk scope link");
}
LINK_CASE("Check restores a deleted or redirected route", RepairsRoute)

void DualStackRoutes(BackendChoice choice) {
  Sandbox box;
  auto iface = MustEnsure({"wireguard.lnk", 1420, choice});
  const std::vector<Cidr> both = {kPods, *Cidr::Parse("fd00:2::/48")};
  REQUIRE(iface->EnsureRoutes(both));
  CHECK(Routes4() == "10.2.0.0/16 dev wireguard.lnk scope link");
  CHECK(Routes6() == "fd00:2::/48 dev wireguard.lnk metric 1024 pref medium");
  // The check looks at every route, not only the first.
  Sh("ip -6 route del fd00:2::/48 dev wireguard.lnk");
  auto r = iface->Check(both);
  REQUIRE(r);
  CHECK(r->Describe() == "route restored");
  CHECK(Routes6() == "fd00:2::/48 dev wireguard.lnk metric 1024 pref medium");
  // A subnet dropped from the configuration: its route goes; routes that are not ours (another protocol, or
  // ours via another link) stay.
  Sh("ip -6 route add fd00:9::/48 dev wireguard.lnk proto static && "
     "ip link add dummy-peer type veth peer name dummy-end && ip link set dummy-peer up && "
     "ip link set dummy-end up && ip route add 10.9.0.0/16 dev dummy-peer proto 87 scope link");
  REQUIRE(iface->EnsureRoutes({kPods}));
  CHECK(Routes4() == "10.2.0.0/16 dev wireguard.lnk scope link 10.9.0.0/16 dev dummy-peer scope link");
  CHECK(Routes6() == "");
  CHECK(Squeeze(Sh("ip -6 -o route show dev wireguard.lnk proto static")) == "fd00:9::/48 metric 1024 pref medium");
  r = iface->Check({kPods});
  REQUIRE(r);
  CHECK(r->Describe() == "");
  // And back: the IPv6 subnet configured again.
  REQUIRE(iface->EnsureRoutes(both));
  CHECK(Routes6() == "fd00:2::/48 dev wireguard.lnk metric 1024 pref medium");
}
LINK_CASE("EnsureRoutes: a route per subnet, a subnet no longer configured loses its route; Check checks each",
          DualStackRoutes)

void RepairsDown(BackendChoice choice) {
  Sandbox box;
  auto iface = MustEnsure({"wireguard.lnk", 1420, choice});
  REQUIRE(iface->EnsureRoute(kPods));
  Sh("ip link set wireguard.lnk down");
  CHECK(Routes4() == "");  // the kernel dropped it with the link
  Describe(*iface, "link set up, route restored");
  CHECK(LinkUp("wireguard.lnk"));
  CHECK(Routes4() == "10.2.0.0/16 dev wireguard.lnk scope link");
  Sh("ip link set wireguard.lnk mtu 1300");
  Describe(*iface, "MTU restored");
  CHECK(LinkLine("wireguard.lnk").find(" mtu 1420 ") != std::string::npos);
}
LINK_CASE("Check brings a down link up and restores its MTU and route", RepairsDown)

void RecreatesDeleted(BackendChoice choice) {
  Sandbox box;
  auto iface = MustEnsure({"wireguard.lnk", 1420, choice});
  REQUIRE(iface->EnsureRoute(kPods));
  Key key = RandomKey();
  DeviceChange c;
  c.private_key = key;
  REQUIRE(iface->backend().Apply("wireguard.lnk", c));
  const int old_index = iface->ifindex();
  const pid_t old_pid = iface->wireguard_go_pid();
  CHECK((choice == BackendChoice::kUserspace) == (old_pid > 0));
  Sh("ip link del wireguard.lnk");
  // wireguard-go exits when its TUN goes away.
  if (old_pid) REQUIRE(WaitUntil([&] { return ProcessGone(old_pid); }, 10s));
  Describe(*iface, choice == BackendChoice::kKernel ? "link recreated (link missing), route restored"
                                                    : "link recreated (wireguard-go exited), route restored");
  CHECK(iface->ifindex() != old_index);
  CHECK(LinkUp("wireguard.lnk"));
  CHECK(Routes4() == "10.2.0.0/16 dev wireguard.lnk scope link");
  auto d = iface->backend().GetDevice("wireguard.lnk");
  REQUIRE(d);
  CHECK_FALSE(d->private_key);  // a new interface: the caller applies its configuration again
  REQUIRE(iface->backend().Apply("wireguard.lnk", c));
  CHECK(iface->backend().GetDevice("wireguard.lnk")->private_key == key);
  Describe(*iface, "");
}
LINK_CASE("Check recreates a deleted link", RecreatesDeleted)

void LeavesForeignLink(BackendChoice choice) {
  Sandbox box;
  Sh("ip link add wireguard.vth type veth peer name vth-peer");
  auto r = Interface::Ensure({"wireguard.vth", 1420, choice});
  REQUIRE_FALSE(r);
  CHECK(r.error().message == "wireguard.vth: exists as a link of kind \"veth\", not wireguard or tun");
  CHECK(r.error().code == EEXIST);
  CHECK(LinkExists("wireguard.vth"));
}
LINK_CASE("an existing link of another kind is left alone", LeavesForeignLink)

// In a child whose seccomp filter refuses netlink sockets: the long name must fail with the name error, and a
// valid name with the filter's EPERM (which proves the filter would have caught a netlink request).
void RefusesLongName(BackendChoice choice) {
  Sandbox box;
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    sock_filter filter[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 0, 5),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_socket, 0, 3),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, args[0])),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AF_NETLINK, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    sock_fprog prog{static_cast<unsigned short>(sizeof filter / sizeof filter[0]), filter};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
        prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0) {
      _exit(10);
    }
    auto long_name = Interface::Ensure({"wireguard.abcdef", 1420, choice});
    if (long_name || long_name.error().code != EINVAL ||
        long_name.error().message !=
            "interface name \"wireguard.abcdef\" is 16 bytes long; Linux allows at most 15") {
      _exit(11);
    }
    auto valid = Interface::Ensure({"wireguard.ok", 1420, choice});
    if (valid ||
        valid.error().message != "wireguard.ok: netlink: cannot open socket: Operation not permitted") {
      _exit(12);
    }
    _exit(0);
  }
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  REQUIRE(WIFEXITED(status));
  // 10: seccomp not installed; 11: the long name was not refused as expected; 12: the filter did not bite.
  CHECK(WEXITSTATUS(status) == 0);
  CHECK_FALSE(LinkExists("wireguard.abcde"));
}
LINK_CASE("a 16-character name is refused before any netlink request", RefusesLongName)

TEST_CASE("link-userspace: Check starts wireguard-go again after it was killed" *
          doctest::test_suite("link-userspace")) {
  Sandbox box;
  auto iface = MustEnsure({"wireguard.lnk", 1420, BackendChoice::kUserspace});
  REQUIRE(iface->EnsureRoute(kPods));
  const pid_t old_pid = iface->wireguard_go_pid();
  REQUIRE(old_pid > 0);
  REQUIRE(kill(old_pid, SIGKILL) == 0);
  REQUIRE(WaitUntil([&] { return ProcessGone(old_pid) && !LinkExists("wireguard.lnk"); }, 10s));
  Describe(*iface, "link recreated (wireguard-go exited), route restored");
  CHECK(iface->wireguard_go_pid() > 0);
  CHECK(iface->wireguard_go_pid() != old_pid);
  CHECK(iface->kind() == "tun");
  REQUIRE(iface->backend().GetDevice("wireguard.lnk"));  // the stale socket was replaced
  Describe(*iface, "");
}

TEST_CASE("link-userspace: a tun without a live wireguard-go is replaced" *
          doctest::test_suite("link-userspace")) {
  Sandbox box;
  Sh("ip tuntap add wireguard.tun mode tun");
  LogCapture logs;
  auto iface = MustEnsure({"wireguard.tun", 1420, BackendChoice::kUserspace});
  CHECK(iface->created());
  CHECK(iface->wireguard_go_pid() > 0);
  CHECK(
      logs.Count("warn replacing the existing interface device=wireguard.tun reason=no wireguard-go answers "
                 "on /var/run/wireguard/wireguard.tun.sock") == 1);
  REQUIRE(iface->backend().GetDevice("wireguard.tun"));
}

TEST_CASE("link-kernel: an explicit backend replaces a link of the other kind" *
          doctest::test_suite("link-kernel")) {
  Sandbox box;
  auto kernel = MustEnsure({"wireguard.swp", 1420, BackendChoice::kKernel});
  CHECK(kernel->kind() == "wireguard");
  LogCapture logs;
  auto user = MustEnsure({"wireguard.swp", 1420, BackendChoice::kUserspace});
  CHECK(user->kind() == "tun");
  CHECK(user->created());
  REQUIRE(user->backend().GetDevice("wireguard.swp"));
  auto back = MustEnsure({"wireguard.swp", 1420, BackendChoice::kKernel});
  CHECK(back->kind() == "wireguard");
  REQUIRE(back->backend().GetDevice("wireguard.swp"));
  CHECK(logs.Count("replacing the existing interface device=wireguard.swp reason=it is a kernel WireGuard "
                   "device and the backend is userspace") == 1);
  CHECK(logs.Count("replacing the existing interface device=wireguard.swp reason=it is a wireguard-go (tun) "
                   "device and the backend is kernel") == 1);
}

TEST_CASE("link-auto: the kernel when it has WireGuard, else wireguard-go and one log line" *
          doctest::test_suite("link-auto")) {
  Sandbox box;
  RunResult probe = Run({"ip", "link", "add", "probe0", "type", "wireguard"});
  const bool kernel_has_wireguard = probe.status == 0;
  LogCapture logs;
  auto iface = MustEnsure({"wireguard.aut", 1420, BackendChoice::kAuto});
  Measure(std::string("auto backend here: ") + (kernel_has_wireguard ? "kernel" : "wireguard-go"));
  if (kernel_has_wireguard) {
    CHECK(iface->kind() == "wireguard");
    CHECK(iface->backend().Kind() == "kernel");
    CHECK(logs.Lines().empty());
  } else {
    CHECK(probe.output.find("Unknown device type") != std::string::npos);
    CHECK(iface->kind() == "tun");
    CHECK(iface->backend().Kind() == "userspace");
    REQUIRE(logs.Lines().size() == 1);
    CHECK(logs.Lines()[0] ==
          "warn the kernel has no WireGuard (link type \"wireguard\" unknown): using wireguard-go instead "
          "device=wireguard.aut pid=" +
              std::to_string(iface->wireguard_go_pid()) + " wireguard_go=wireguard-go");
    auto kernel = Interface::Ensure({"wireguard.krn", 1420, BackendChoice::kKernel});
    REQUIRE_FALSE(kernel);
    CHECK(kernel.error().message ==
          "wireguard.krn: create wireguard link: Operation not supported: Unknown device type (errno 95)");
    CHECK(kernel.error().code == EOPNOTSUPP);
  }
  REQUIRE(iface->backend().GetDevice("wireguard.aut"));
}

}  // namespace
}  // namespace swg::wg::test

namespace swg::wg::test {
namespace {

TEST_CASE("link-userspace: a wireguard-go that cannot start is a clear error" *
          doctest::test_suite("link-userspace")) {
  Sandbox box;
  auto missing =
      Interface::Ensure({"wireguard.nogo", 1420, BackendChoice::kUserspace, "/nonexistent/wireguard-go"});
  REQUIRE_FALSE(missing);
  CHECK(missing.error().message ==
        "wireguard.nogo: cannot start /nonexistent/wireguard-go: No such file or directory");
  CHECK(missing.error().code == ENOENT);
  // Executable but not a program: exec itself fails, reported from the forked child.
  Sh("printf 'not a program' > /var/run/not-wireguard-go && chmod 755 /var/run/not-wireguard-go");
  auto bad =
      Interface::Ensure({"wireguard.nogo", 1420, BackendChoice::kUserspace, "/var/run/not-wireguard-go"});
  REQUIRE_FALSE(bad);
  CHECK(bad.error().message == "wireguard.nogo: cannot start /var/run/not-wireguard-go: Exec format error");
  CHECK(bad.error().code == ENOEXEC);
  auto unknown =
      Interface::Ensure({"wireguard.nogo", 1420, BackendChoice::kUserspace, "no-such-wireguard-go"});
  REQUIRE_FALSE(unknown);
  CHECK(unknown.error().message == "wireguard.nogo: cannot start no-such-wireguard-go: not found in PATH");
  CHECK_FALSE(LinkExists("wireguard.nogo"));
}

}  // namespace
}  // namespace swg::wg::test
