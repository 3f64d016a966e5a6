// main() of the namespace tests. Before any test runs, the process moves into new network, mount and PID
// namespaces, so nothing it does touches the machine's own network and nothing it starts can outlive it:
//
//   outer process      unshare(NET|NS|PID), mounts private, tmpfs on /var/run; waits for "init"
//    `- init (pid 1)   mounts /proc for the new PID namespace, reaps orphans (wireguard-go is reparented
//        |             here), exits with the tests' status: the kernel then kills whatever is left inside
//        `- tests      doctest
//
// Root is required; without it the run fails (a skipped run must not pass).
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string_view>

namespace {

std::atomic<int> g_cases_run{0};

// Counts the test cases that actually start, so that a filter matching nothing fails the run.
struct CountingListener : doctest::IReporter {
  explicit CountingListener(const doctest::ContextOptions&) {}
  void report_query(const doctest::QueryData&) override {}
  void test_run_start() override {}
  void test_run_end(const doctest::TestRunStats&) override {}
  void test_case_start(const doctest::TestCaseData&) override { ++g_cases_run; }
  void test_case_reenter(const doctest::TestCaseData&) override {}
  void test_case_end(const doctest::CurrentTestCaseStats&) override {}
  void test_case_exception(const doctest::TestCaseException&) override {}
  void subcase_start(const doctest::SubcaseSignature&) override {}
  void subcase_end() override {}
  void log_assert(const doctest::AssertData&) override {}
  void log_message(const doctest::MessageData&) override {}
  void test_case_skipped(const doctest::TestCaseData&) override {}
};
REGISTER_LISTENER("count", 1, CountingListener);

int Fail(const char* what) {
  (void)fprintf(stderr, "wg namespace tests: %s: %s\n", what, strerror(errno));
  return 1;
}

int RunTests(int argc, char** argv) {
  doctest::Context context(argc, argv);
  int status = context.run();
  if (context.shouldExit()) return status;
  if (status == 0 && g_cases_run == 0) {
    (void)fprintf(stderr, "wg namespace tests: the filter selected no test case\n");
    return 1;
  }
  return status;
}

// PID 1 of the new PID namespace.
int Init(int argc, char** argv) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr) < 0)
    return Fail("mount /proc");
  pid_t tests = fork();
  if (tests < 0) return Fail("fork");
  if (tests == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    exit(RunTests(argc, argv));  // exit, not _exit: the leak checker runs at exit
  }
  // Reap everything: the test process and every orphan reparented here.
  for (;;) {
    int status = 0;
    pid_t pid = waitpid(-1, &status, 0);
    if (pid < 0 && errno == EINTR) continue;
    if (pid < 0) return Fail("waitpid");
    if (pid == tests) return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
}

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a == "-h" || a == "--help" || a == "-ltc" || a == "--list-test-cases" || a == "-lts" ||
        a == "--list-test-suites") {
      return RunTests(argc, argv);
    }
  }
  if (geteuid() != 0) {
    (void)fprintf(stderr, "wg namespace tests: must run as root (network, mount and PID namespaces)\n");
    return 1;
  }
  if (unshare(CLONE_NEWNET | CLONE_NEWNS | CLONE_NEWPID) < 0) return Fail("unshare");
  if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) < 0) return Fail("make mounts private");
  // wireguard-go keeps its sockets in /var/run/wireguard: a private, empty one.
  mkdir("/var/run", 0755);
  if (mount("tmpfs", "/var/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755") < 0)
    return Fail("mount /var/run");
  if (mkdir("/var/run/wireguard", 0700) < 0) return Fail("mkdir /var/run/wireguard");
  {
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ifreq ifr{};
    std::strcpy(ifr.ifr_name, "lo");
    if (s < 0 || ioctl(s, SIOCGIFFLAGS, &ifr) < 0) return Fail("loopback");
    ifr.ifr_flags = static_cast<short>(ifr.ifr_flags | IFF_UP);
    if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0) return Fail("loopback up");
    close(s);
  }
  (void)fflush(nullptr);
  pid_t init = fork();
  if (init < 0) return Fail("fork");
  if (init == 0) exit(Init(argc, argv));
  int status = 0;
  while (waitpid(init, &status, 0) < 0) {
    if (errno != EINTR) return Fail("waitpid");
  }
  // _exit: this process still hands new children to the PID namespace, which died with its init, so the
  // leak checker's helper thread could not be created here. The tests ran (and were checked) in init's child.
  (void)fflush(nullptr);
  _exit(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
}

// Guards the harness itself in the sanitizer build (CTest wg_selftest_leak): a leak in a test case run inside
// the namespaces must still be reported, i.e. the leak checker runs where the tests run.
TEST_CASE("selftest: a deliberate leak" * doctest::test_suite("selftest-leak")) {
  // NOLINTBEGIN(clang-analyzer-cplusplus.NewDeleteLeaks): leaking is the point
  char* leaked = new char[4242];
  leaked[0] = 1;
  (void)fprintf(stderr, "selftest: leaking 4242 bytes at %p\n", static_cast<void*>(leaked));
  // NOLINTEND(clang-analyzer-cplusplus.NewDeleteLeaks)
}
