#include "tests/wg/nstest.h"

#include <dirent.h>
#include <doctest/doctest.h>
#include <fcntl.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <thread>

#include "common/log.h"
#include "worker/wg/diff.h"

namespace swg::wg::test {
namespace {

int OpenThreadNetNs() {
  int fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  REQUIRE_MESSAGE(fd >= 0, "open /proc/thread-self/ns/net: ", strerror(errno));
  return fd;
}

void LoopbackUp() {
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  REQUIRE(s >= 0);
  ifreq ifr{};
  std::strcpy(ifr.ifr_name, "lo");
  REQUIRE(ioctl(s, SIOCGIFFLAGS, &ifr) == 0);
  ifr.ifr_flags = static_cast<short>(ifr.ifr_flags | IFF_UP);
  REQUIRE(ioctl(s, SIOCSIFFLAGS, &ifr) == 0);
  close(s);
}

uint64_t SplitMix(uint64_t& x) {
  uint64_t z = (x += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

std::mutex g_log_mu;
std::vector<std::string> g_log_lines;

class CaptureSink : public log::Sink {
 public:
  void Write(const log::Record& r) override {
    std::string line = std::string(log::LevelName(r.level)) + " " + std::string(r.message);
    for (const auto& f : r.fields) line += " " + f.key + "=" + f.value;
    std::lock_guard<std::mutex> lock(g_log_mu);
    g_log_lines.push_back(line);
  }
};

}  // namespace

NetNs::NetNs() {
  int saved = OpenThreadNetNs();
  REQUIRE_MESSAGE(unshare(CLONE_NEWNET) == 0, "unshare(CLONE_NEWNET): ", strerror(errno));
  fd_ = OpenThreadNetNs();
  struct stat st {};
  fstat(fd_, &st);
  inode_ = st.st_ino;
  LoopbackUp();
  REQUIRE(setns(saved, CLONE_NEWNET) == 0);
  close(saved);
}

NetNs::~NetNs() {
  KillProcessesInside();
  close(fd_);
}

std::string NetNs::path() const { return "/proc/" + std::to_string(getpid()) + "/fd/" + std::to_string(fd_); }

NetNs::Scope::Scope(int fd) : saved_(OpenThreadNetNs()) { REQUIRE(setns(fd, CLONE_NEWNET) == 0); }

NetNs::Scope::~Scope() {
  setns(saved_, CLONE_NEWNET);
  close(saved_);
}

void NetNs::KillProcessesInside() {
  const std::string want = "net:[" + std::to_string(inode_) + "]";
  auto inside = [&want]() {
    std::vector<pid_t> pids;
    DIR* d = opendir("/proc");
    if (!d) return pids;
    while (dirent* e = readdir(d)) {
      if (e->d_name[0] < '1' || e->d_name[0] > '9') continue;
      char link[64] = {};
      std::string p = std::string("/proc/") + e->d_name + "/ns/net";
      ssize_t n = readlink(p.c_str(), link, sizeof link - 1);
      if (n > 0 && want == link) pids.push_back(static_cast<pid_t>(std::atoi(e->d_name)));
    }
    closedir(d);
    return pids;
  };
  for (int sig : {SIGTERM, SIGKILL}) {
    auto pids = inside();
    if (pids.empty()) return;
    for (pid_t pid : pids) kill(pid, sig);
    WaitUntil([&] { return inside().empty(); }, 3s);
  }
}

RunResult Run(const std::vector<std::string>& argv, std::chrono::seconds timeout) {
  std::vector<char*> args;
  args.reserve(argv.size() + 1);
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  int fds[2];
  REQUIRE(pipe2(fds, O_CLOEXEC) == 0);
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    dup2(fds[1], 1);
    dup2(fds[1], 2);
    execvp(args[0], args.data());
    _exit(127);
  }
  close(fds[1]);
  RunResult r;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  bool killed = false;
  for (;;) {
    auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0 && !killed) {
      kill(pid, SIGKILL);
      killed = true;
    }
    pollfd p{fds[0], POLLIN, 0};
    int pr = poll(&p, 1, killed ? 1000 : static_cast<int>(std::max<int64_t>(left.count(), 1)));
    if (pr < 0 && errno == EINTR) continue;
    if (pr <= 0) {
      if (killed) break;
      continue;
    }
    char buf[4096];
    ssize_t n = read(fds[0], buf, sizeof buf);
    if (n <= 0) break;
    r.output.append(buf, static_cast<size_t>(n));
  }
  close(fds[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  r.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  if (killed) r.output += "\n[killed after " + std::to_string(timeout.count()) + " s]";
  return r;
}

std::string Sh(const std::string& command) {
  RunResult r = Run({"/bin/sh", "-c", command});
  INFO("command: ", command);
  INFO("output: ", r.output);
  REQUIRE(r.status == 0);
  return r.output;
}

bool WaitUntil(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline) return done();
    std::this_thread::sleep_for(10ms);
  }
  return true;
}

bool ProcessGone(pid_t pid) { return kill(pid, 0) < 0 && errno == ESRCH; }

Key RandomKey() {
  auto k = GeneratePrivateKey();
  REQUIRE(k);
  return *k;
}

std::vector<Peer> MakePeers(size_t count, uint32_t seed) {
  std::vector<Peer> out;
  uint64_t state = 0x5eed0000ull + seed;
  for (size_t i = 0; i < count; ++i) {
    Peer p;
    for (size_t b = 0; b < Key::kSize; b += 8) {
      uint64_t v = SplitMix(state);
      std::memcpy(p.public_key.mutable_bytes().data() + b, &v, 8);
    }
    const auto hi = static_cast<uint8_t>(i >> 8), lo = static_cast<uint8_t>(i);
    Endpoint ep;
    if (i % 5 == 4) {
      ep.addr = *IpAddr::Parse("fd00:e::");
      ep.addr.bytes[14] = hi;
      ep.addr.bytes[15] = lo;
    } else {
      ep.addr = *IpAddr::Parse("192.168.0.0");
      ep.addr.bytes[2] = hi;
      ep.addr.bytes[3] = lo;
    }
    ep.port = static_cast<uint16_t>(10000 + i % 50000);
    p.endpoint = ep;
    Cidr v4 = *Cidr::Parse("10.0.0.0/24");
    v4.addr.bytes[1] = static_cast<uint8_t>(seed * 32 + hi);
    v4.addr.bytes[2] = lo;
    p.allowed_ips.push_back(v4);
    if (i % 7 == 0) {
      Cidr v6 = *Cidr::Parse("fd00::/64");
      v6.addr.bytes[2] = static_cast<uint8_t>(seed);
      v6.addr.bytes[6] = hi;
      v6.addr.bytes[7] = lo;
      p.allowed_ips.push_back(v6);
    }
    p.persistent_keepalive = i % 2 ? 25 : 0;
    out.push_back(std::move(p));
  }
  return out;
}

std::vector<std::string> Canonical(const std::vector<Peer>& peers) {
  std::vector<std::string> out;
  for (const Peer& p : peers) {
    std::string s = p.public_key.ToBase64() + " " + (p.endpoint ? p.endpoint->ToString() : "(none)") +
                    " ka=" + std::to_string(p.persistent_keepalive);
    for (const Cidr& c : NormalizeCidrs(p.allowed_ips)) s += " " + c.ToString();
    out.push_back(std::move(s));
  }
  std::sort(out.begin(), out.end());
  return out;
}

const Peer* FindPeer(const Device& d, const Key& key) {
  for (const Peer& p : d.peers) {
    if (p.public_key == key) return &p;
  }
  return nullptr;
}

LogCapture::LogCapture() {
  {
    std::lock_guard<std::mutex> lock(g_log_mu);
    g_log_lines.clear();
  }
  log::SetLevel(log::Level::kDebug);
  log::SetSink(std::make_unique<CaptureSink>());
}

LogCapture::~LogCapture() {
  log::SetSink(log::MakeTextSink(2));
  log::SetLevel(log::Level::kInfo);
  std::lock_guard<std::mutex> lock(g_log_mu);
  for (const auto& l : g_log_lines) (void)fprintf(stderr, "[log] %s\n", l.c_str());
}

std::vector<std::string> LogCapture::Lines() const {
  std::lock_guard<std::mutex> lock(g_log_mu);
  return g_log_lines;
}

size_t LogCapture::Count(const std::string& needle) const {
  std::lock_guard<std::mutex> lock(g_log_mu);
  return static_cast<size_t>(std::count_if(g_log_lines.begin(), g_log_lines.end(), [&](const std::string& l) {
    return l.find(needle) != std::string::npos;
  }));
}

std::unique_ptr<Interface> MustEnsure(const InterfaceOptions& options) {
  auto iface = Interface::Ensure(options);
  INFO("Ensure(", options.name, "): ", ErrorOf(iface));
  REQUIRE(iface);
  return std::move(*iface);
}

void Measure(const std::string& what) { (void)fprintf(stderr, "[measure] %s\n", what.c_str()); }

}  // namespace swg::wg::test
