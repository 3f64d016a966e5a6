#pragma once
// Helpers for the namespace tests: network namespaces made and removed by the test, commands run inside
// them, bounded waits, log capture. main.cc has already moved the process into private network, mount and
// PID namespaces, with a tmpfs on /var/run.

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/keys.h"
#include "worker/wg/device.h"
#include "worker/wg/interface.h"

namespace swg::wg::test {

using namespace std::chrono_literals;

// A network namespace of its own (loopback up). Destruction kills every process still inside it (TERM, then
// KILL), so a wireguard-go a test started cannot outlive it.
class NetNs {
 public:
  NetNs();
  ~NetNs();
  NetNs(const NetNs&) = delete;
  NetNs& operator=(const NetNs&) = delete;

  // For `ip link set X netns <path>`.
  std::string path() const;

  // Switches the calling thread into the namespace for its lifetime. Interface objects and backends work in
  // the namespace of the calling thread, so calls for a namespace happen inside its scope.
  class Scope {
   public:
    explicit Scope(int fd);
    ~Scope();
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;

   private:
    int saved_;
  };
  std::unique_ptr<Scope> Enter() const { return std::make_unique<Scope>(fd_); }

 private:
  void KillProcessesInside();
  int fd_ = -1;
  ino_t inode_ = 0;
};

// A fresh namespace entered for the lifetime of the object (one per test case).
struct Sandbox {
  NetNs ns;
  std::unique_ptr<NetNs::Scope> scope = ns.Enter();
};

struct RunResult {
  int status = -1;     // exit code, or 128 + signal
  std::string output;  // stdout and stderr
};
// Runs argv (looked up in PATH) in the calling thread's network namespace; killed after `timeout`.
RunResult Run(const std::vector<std::string>& argv, std::chrono::seconds timeout = 30s);
// Run() through /bin/sh -c; FAILs the test when it exits non-zero. Returns the output.
std::string Sh(const std::string& command);

// Polls `done` every 10 ms until it holds or `timeout` passes; returns done().
bool WaitUntil(const std::function<bool()>& done, std::chrono::milliseconds timeout);

bool ProcessGone(pid_t pid);

Key RandomKey();

// `count` peers with distinct keys, endpoints (every 5th IPv6) and allowed IPs (every 7th also an IPv6 /64),
// keepalive on every other one.
std::vector<Peer> MakePeers(size_t count, uint32_t seed = 0);

// Peers in a form that compares exactly: sorted by key, allowed IPs normalised, read-only state cleared.
std::vector<std::string> Canonical(const std::vector<Peer>& peers);

const Peer* FindPeer(const Device& d, const Key& key);

// Captures log records (level + message + fields) while it lives; also lets Debug through.
class LogCapture {
 public:
  LogCapture();
  ~LogCapture();
  std::vector<std::string> Lines() const;
  size_t Count(const std::string& needle) const;
};

// The error message of a Result, or "" (for INFO).
template <typename R>
std::string ErrorOf(const R& r) {
  return r ? std::string() : r.error().message;
}

// Interface::Ensure that FAILs the test on error.
std::unique_ptr<Interface> MustEnsure(const InterfaceOptions& options);

// Prints a measured figure on stderr ("[measure] ...") for the report.
void Measure(const std::string& what);

}  // namespace swg::wg::test
