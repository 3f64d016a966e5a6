#include <doctest/doctest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <ctime>

#include "common/backoff.h"
#include "common/base64.h"
#include "common/duration.h"
#include "common/files.h"
#include "common/health.h"
#include "common/proc.h"
#include "common/strings.h"
#include "supervisor/status_format.h"
#include "tests/unit/testutil.h"

using namespace std::chrono_literals;

TEST_CASE("durations as Go parses and prints them") {
  CHECK(swg::ParseDuration("30s") == 30s);
  CHECK(swg::ParseDuration("1m30s") == 90s);
  CHECK(swg::ParseDuration("1.5h") == 90min);
  CHECK(swg::ParseDuration("250ms") == 250ms);
  CHECK(swg::ParseDuration("10us") == 10us);
  CHECK(swg::ParseDuration("10\u00b5s") == 10us);
  CHECK(swg::ParseDuration("7ns") == 7ns);
  CHECK(swg::ParseDuration("0") == 0ns);
  CHECK(swg::ParseDuration("1h2m3.5s") == 3723500ms);
  for (const char* bad : {"", "s", "30", "-1s", "1d", "1.s.", "99999999999999999999h", "1h 2m", ".s"}) {
    CAPTURE(bad);
    CHECK_FALSE(swg::ParseDuration(bad));
  }
  CHECK(swg::FormatDuration(0s) == "0s");
  CHECK(swg::FormatDuration(90s) == "1m30s");
  CHECK(swg::FormatDuration(1h) == "1h0m0s");
  CHECK(swg::FormatDuration(1500ms) == "1.5s");
  CHECK(swg::FormatDuration(250ms) == "250ms");
  CHECK(swg::FormatDuration(7ns) == "7ns");
}

TEST_CASE("backoff grows to the cap with jitter and resets after a healthy period") {
  swg::Backoff::Options o;
  o.initial = 800ms;
  o.cap = 30s;
  o.jitter = 0.5;
  swg::Backoff b(o, 42);
  auto t = swg::Backoff::Clock::time_point{} + 1h;
  std::chrono::milliseconds base = 800ms;
  for (int i = 0; i < 12; ++i) {
    auto d = b.Next(t);
    CHECK(d <= base);
    CHECK(d >= base / 2);
    base = std::min<std::chrono::milliseconds>(base * 2, 30s);
    t += 1s;
  }
  CHECK(b.Next(t) >= 15s);
  auto d = b.Next(t + 3min);  // healthy for longer than reset_after: back to the start
  CHECK(d <= 800ms);
  swg::Backoff none({.initial = 100ms, .factor = 2, .cap = 1s, .jitter = 0, .reset_after = 1min}, 1);
  CHECK(none.Next(t) == 100ms);
  CHECK(none.Next(t) == 200ms);
  none.Reset();
  CHECK(none.Next(t) == 100ms);
}

TEST_CASE("strings: suggestions, quoting, DNS labels") {
  CHECK(swg::ClosestMatch("podSubNet", {"name", "podSubnet", "wgListenPort"}) == "podSubnet");
  CHECK(swg::ClosestMatch("wgListenPorts", {"name", "podSubnet", "wgListenPort"}) == "wgListenPort");
  CHECK(swg::ClosestMatch("zzz", {"name", "podSubnet"}).empty());
  CHECK(swg::Quote("a\"b\n") == "\"a\\\"b\\n\"");
  CHECK(swg::IsDnsLabel("c-1"));
  CHECK_FALSE(swg::IsDnsLabel("-c"));
  CHECK_FALSE(swg::IsDnsLabel("c."));
  CHECK_FALSE(swg::IsDnsLabel("C"));
  CHECK(swg::ParseUint("65535", 65535) == 65535u);
  CHECK_FALSE(swg::ParseUint("65536", 65535));
  CHECK_FALSE(swg::ParseUint("+1"));
}

TEST_CASE("atomic write replaces a file with the requested mode") {
  swg::test::TempDir dir;
  std::string path = dir.path() + "/f";
  REQUIRE(swg::WriteFileAtomic(path, "one", 0644).ok());
  REQUIRE(swg::WriteFileAtomic(path, "two", 0600).ok());
  CHECK(*swg::ReadFile(path) == "two");
  struct stat st;
  REQUIRE(stat(path.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  auto r = swg::WriteFileAtomic(dir.path() + "/missing/f", "x", 0600);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().message.find(dir.path() + "/missing") != std::string::npos);
  CHECK(swg::ReadFile(dir.path() + "/nope").error().message ==
        "cannot open " + dir.path() + "/nope: No such file or directory");
}

TEST_CASE("base64 (kubeconfig -data fields, etcd keys)") {
  CHECK(swg::Base64Decode("aGVsbG8=") == "hello");
  CHECK(swg::Base64Decode("aGVs\nbG8") == "hello");
  CHECK(swg::Base64Decode("") == "");
  CHECK_FALSE(swg::Base64Decode("aGVsbG8=x"));
  CHECK_FALSE(swg::Base64Decode("a"));
  CHECK_FALSE(swg::Base64Decode("a-b_"));
  CHECK(swg::Base64Encode("hello") == "aGVsbG8=");
  CHECK(swg::Base64Encode("/registry/") == "L3JlZ2lzdHJ5Lw==");
  CHECK(swg::Base64Encode("") == "");
  std::vector<std::string> samples = {"a", "ab", "abc", "abcd", std::string("\0\xff\x10", 3)};
  for (const auto& s : samples) {
    CHECK(swg::Base64Decode(swg::Base64Encode(s)) == s);
  }
}

TEST_CASE("status and /healthz text escape control characters and newlines in remote data") {
  // A node name or message from a remote cluster must not forge lines or colour a person's terminal.
  const std::string evil = "n1\nc9  ready\x1b[31m";
  const std::string escaped = "n1\\nc9  ready\\u001b[31m";
  CHECK(swg::EscapeControl(evil) == escaped);
  swg::NodeView view;
  view.node = "local";
  view.local_cluster = "c1";
  view.version = "v1";
  swg::RemoteView r;
  r.worker_up = true;
  r.status.remote = "c2";
  r.status.state = "degraded";
  r.status.reason = "rejected\x1b[0m";
  r.status.last_error = "watch failed: " + evil;
  r.status.peer_list.push_back(swg::PeerStatus{evil, "key", "10.0.0.1:51820", {"10.2.0.0/24"}, 0, 0, 0});
  r.status.rejected_list.push_back(swg::RejectedStatus{evil, "bad_endpoint", "endpoint " + evil});
  view.remotes.push_back(r);
  std::string text = swg::supervisor::FormatStatus(view, true, 1000);
  CHECK(text.find('\x1b') == std::string::npos);
  CHECK(text.find("\nc9") == std::string::npos);
  CHECK(text.find("  " + escaped) != std::string::npos);
  CHECK(text.find("watch failed: " + escaped) != std::string::npos);
  CHECK(text.find("endpoint " + escaped) != std::string::npos);
  // /healthz and /readyz list the unhealthy remotes with their last error.
  view.remotes[0].status.initialised = false;
  auto unhealthy = view.Unhealthy();
  REQUIRE(unhealthy.size() == 1);
  CHECK(unhealthy[0] == "c2 (degraded: watch failed: " + escaped + ")");
  view.remotes[0].worker_up = false;
  view.remotes[0].worker_note = "exit\n\x1b[31m";
  CHECK(view.Unhealthy()[0] == "c2 (worker down: exit\\n\\u001b[31m)");
}

TEST_CASE("/healthz and /readyz name degraded remotes after ok, and only healthy, synced ones") {
  swg::NodeView view;
  swg::RemoteView r;
  r.worker_up = true;
  r.status.remote = "c2";
  r.status.initialised = true;
  r.status.synced = true;
  r.status.state = "ready";
  view.remotes.push_back(r);
  r.status.remote = "c3";
  r.status.state = "degraded";
  r.status.last_error = "mirror stale: the sync marker of c3 was not refreshed\n";
  view.remotes.push_back(r);
  CHECK(view.Healthy());
  CHECK(view.Ready());
  REQUIRE(view.Degraded().size() == 1);
  CHECK(view.Degraded()[0] == "c3 (mirror stale: the sync marker of c3 was not refreshed\\n)");
  view.remotes[1].status.synced = false;  // not ready: /readyz names it already, as not ready
  CHECK(view.Degraded().empty());
  CHECK_FALSE(view.Ready());
}

TEST_CASE("ReadProcessStats reports what process_* metrics need") {
  std::string big(64 << 20, 'x');  // touched: resident
  auto st = swg::ReadProcessStats(getpid());
  REQUIRE(st.has_value());
  CHECK(st->resident_bytes >= big.size());
  CHECK(st->virtual_bytes >= st->resident_bytes);
  CHECK(st->cpu_seconds >= 0);
  auto now = static_cast<double>(time(nullptr));
  CHECK(st->start_time_seconds > now - 3600);  // this test started within the hour...
  CHECK(st->start_time_seconds <= now + 1);    // ...and not in the future
  CHECK(st->open_fds >= 3);
  CHECK(st->max_fds >= st->open_fds);
  pid_t child = fork();
  if (child == 0) _exit(0);
  REQUIRE(child > 0);
  REQUIRE(waitpid(child, nullptr, 0) == child);
  CHECK_FALSE(swg::ReadProcessStats(child).has_value());  // gone: no figures
}

TEST_CASE("ProcessState and ParentPid read /proc/PID/stat") {
  CHECK(swg::ParentPid(getpid()) == getppid());
  CHECK(swg::ProcessState(getpid()) == 'R');
  pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) _exit(0);
  // Not waited for yet: a zombie whose parent is this process.
  for (int i = 0; i < 600 && swg::ProcessState(child) != 'Z'; ++i) usleep(100000);
  CHECK(swg::ProcessState(child) == 'Z');
  CHECK(swg::ParentPid(child) == getpid());
  int status = 0;
  REQUIRE(waitpid(child, &status, 0) == child);
  CHECK_FALSE(swg::ProcessState(child).has_value());
  CHECK_FALSE(swg::ParentPid(child).has_value());
}
