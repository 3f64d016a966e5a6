#pragma once
// Internal to swg_wg (and its tests): starting wireguard-go, talking to its UAPI socket with time limits,
// probing whether it answers, and finding from /proc which process serves it and which UDP sockets it holds.

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>

#include "common/result.h"
#include "worker/wg/wipe.h"

namespace swg::wg {

// Where wireguard-go serves its UAPI sockets (<dir>/<interface>.sock), as wg(8) expects.
inline constexpr const char* kUapiSocketDir = "/var/run/wireguard";

// Time limits of the UAPI, against the supervisor's heartbeat timeout of 10 s (supervisor/workers.h): the
// worker's loop waits while it talks to wireguard-go, and a worker silent for 10 s is killed, so every wait
// here stays well below that. A live wireguard-go makes progress all the time: measured on 2 busy cores, a get
// of 5,000 peers takes 0.1 s and a set of 5,000 peers 2.6 s, read line by line as it goes. A stopped or
// deadlocked one makes none. So an exchange fails after kUapiIdleTimeout without a byte moving (not after a
// limit on the whole exchange, which a large but healthy set could exceed), and the liveness probe, a get=1
// (wireguard-go still accepts connections while stopped: its kernel backlog does), after kUapiProbeTimeout.
inline constexpr std::chrono::milliseconds kUapiIdleTimeout{2000};
inline constexpr std::chrono::milliseconds kUapiProbeTimeout{1000};

// Starts `binary -f <name>` (looked up in PATH unless it contains a '/') detached from the caller: in a
// session and process group of its own, reparented away from the caller (so it outlives a worker restart and
// never becomes the worker's zombie), stdin and stdout on /dev/null, stderr inherited, no other descriptors,
// its own log level "error". Returns its pid once it has been exec'd; an exec failure is an Error.
Result<pid_t> SpawnWireguardGo(const std::string& binary, const std::string& name);

// "<what>: <detail>: <errno text> (errno N)", the form of every UAPI error.
Error UapiFailure(const std::string& what, const std::string& detail, int err);

// One request on a new connection to the UAPI socket at `path`, as wireguard-tools does, and the whole reply.
// Fails with ETIMEDOUT when no byte moves for `idle`. `server`, when given, receives the pid of the process that
// listens on the socket (SO_PEERCRED; 0 when unknown). `expect_bytes`: room made for the reply at once (a get of
// thousands of peers is megabytes: growing the buffer step by step copied and wiped it again at each step).
Result<SecretString> UapiExchange(const std::string& what, const std::string& path, std::string_view request,
                                  std::chrono::milliseconds idle, pid_t* server = nullptr, size_t expect_bytes = 0);

struct UapiProbe {
  bool answers = false;
  // When it does not answer: the process behind the socket, only when it provably still holds the listening
  // socket (a pid from SO_PEERCRED may belong to a process that has exited since); else 0.
  pid_t pid = 0;
  std::string problem;  // why it does not answer, e.g. "no wireguard-go answers on /var/run/wireguard/x.sock"
};

// The liveness check: a get=1 on `<socket_dir>/<name>.sock`, answered completely within kUapiProbeTimeout.
UapiProbe ProbeUapi(const std::string& socket_dir, const std::string& name);
bool UapiSocketAlive(const std::string& socket_dir, const std::string& name);  // ProbeUapi(...).answers

// The process that serves `<socket_dir>/<name>.sock` (connects without a request: SO_PEERCRED, checked with
// HoldsUnixListener); 0 when unknown.
pid_t UapiServerPid(const std::string& socket_dir, const std::string& name);

// Whether `pid` holds the socket that listens on the Unix socket path `path` (from /proc: /proc/net/unix of the
// calling thread's network namespace and /proc/PID/fd).
bool HoldsUnixListener(pid_t pid, const std::string& path);

// Whether a UDP socket (IPv4 or IPv6) of the calling thread's network namespace is bound to `port` and belongs
// to `pid`; with pid 0 (the process is not visible, e.g. in another PID namespace), whether any is bound to it.
Result<bool> UdpPortBound(uint16_t port, pid_t pid);

// The inodes of the sockets bound to `port` in the text of /proc/net/udp or udp6.
std::set<std::string> UdpInodesOnPort(std::string_view proc_net_udp, uint16_t port);

}  // namespace swg::wg
