// wireguard-go's UAPI socket from the client's side (see wireguard_go.h): exchanges with time limits, the
// liveness probe, and what /proc tells about the process behind the socket.
#include <dirent.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <set>
#include <vector>

#include "common/duration.h"
#include "common/files.h"
#include "common/strings.h"
#include "worker/wg/uapi_codec.h"
#include "worker/wg/wireguard_go.h"

namespace swg::wg {
namespace {

constexpr size_t kMaxReplyBytes = 256u << 20;

struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) close(fd);
  }
};

Error Failed(const std::string& what, const std::string& detail, int err) { return UapiFailure(what, detail, err); }

// A non-blocking connection to the Unix socket `path` in `s`; 0 or the errno.
int Connect(const std::string& path, Fd& s) {
  sockaddr_un addr{};
  if (path.size() >= sizeof addr.sun_path) return ENAMETOOLONG;
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.data(), path.size());
  s.fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (s.fd < 0) return errno;
  return connect(s.fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0 ? errno : 0;
}

// The pid of the process that listened on the other end of a connected Unix socket; 0 when unknown (also when
// it lives in a PID namespace this process cannot see).
pid_t PeerPid(int fd) {
  ucred cred{};
  socklen_t len = sizeof cred;
  return getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 ? cred.pid : 0;
}

// Waits until `fd` is ready; false with errno ETIMEDOUT after `idle`, or with poll's errno.
bool WaitFor(int fd, short events, std::chrono::milliseconds idle) {
  pollfd p{fd, events, 0};
  for (;;) {
    int r = poll(&p, 1, static_cast<int>(idle.count()));
    if (r > 0) return true;
    if (r == 0) {
      errno = ETIMEDOUT;
      return false;
    }
    if (errno != EINTR) return false;
  }
}

// What a wait or a transfer failed with, naming the idle limit when it was the limit.
Error IoFailed(const std::string& what, const std::string& action, std::chrono::milliseconds idle, int err) {
  if (err == ETIMEDOUT) return Failed(what, action + " (nothing for " + FormatDuration(idle) + ")", err);
  return Failed(what, action, err);
}

// The inodes of the sockets `pid` holds; nullopt when it is gone or its descriptors are not readable.
std::optional<std::set<std::string>> SocketInodes(pid_t pid) {
  std::set<std::string> out;
  std::string dir = "/proc/" + std::to_string(pid) + "/fd";
  DIR* d = opendir(dir.c_str());
  if (!d) return std::nullopt;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    char target[64];
    ssize_t n = readlinkat(dirfd(d), e->d_name, target, sizeof target - 1);
    if (n <= 0) continue;
    std::string_view t(target, static_cast<size_t>(n));
    if (StartsWith(t, "socket:[") && t.back() == ']') out.emplace(t.substr(8, t.size() - 9));
  }
  closedir(d);
  return out;
}

// Whitespace-separated fields of a /proc/net table line.
std::vector<std::string_view> Fields(std::string_view line) {
  std::vector<std::string_view> out;
  for (std::string_view f : Split(line, ' ')) {
    if (!f.empty()) out.push_back(f);
  }
  return out;
}

}  // namespace

Error UapiFailure(const std::string& what, const std::string& detail, int err) {
  std::string text = what + ": ";
  if (!detail.empty()) text += detail + ": ";
  return Error{text + ErrnoText(err) + " (errno " + std::to_string(err) + ")", err};
}

Result<SecretString> UapiExchange(const std::string& what, const std::string& path, std::string_view request,
                                  std::chrono::milliseconds idle, pid_t* server, size_t expect_bytes) {
  if (server) *server = 0;
  Fd s;
  // EAGAIN here means a full backlog: the server does not accept connections any more.
  if (int err = Connect(path, s); err == ENAMETOOLONG) {
    return Failed(what, "socket path too long: " + path, err);
  } else if (err != 0) {
    return Failed(what, "cannot connect to " + path, err);
  }
  if (server) *server = PeerPid(s.fd);
  for (size_t off = 0; off < request.size();) {
    ssize_t n = send(s.fd, request.data() + off, request.size() - off, MSG_NOSIGNAL);
    if (n > 0) {
      off += static_cast<size_t>(n);
    } else if (n < 0 && errno != EINTR && (errno != EAGAIN || !WaitFor(s.fd, POLLOUT, idle))) {
      return IoFailed(what, "cannot write to " + path, idle, errno);
    }
  }
  SecretString reply;
  reply.reserve(std::min(expect_bytes, kMaxReplyBytes));
  char buf[65536];
  while (!uapi::ReplyComplete(reply)) {
    ssize_t n = recv(s.fd, buf, sizeof buf, 0);
    if (n > 0) {
      reply.append(buf, static_cast<size_t>(n));
      if (reply.size() > kMaxReplyBytes) {
        OPENSSL_cleanse(buf, sizeof buf);
        return Failed(what, "reply from " + path + " too large", EMSGSIZE);
      }
    } else if (n == 0) {
      OPENSSL_cleanse(buf, sizeof buf);
      return Failed(what, "connection to " + path + " closed before the end of the reply", EPROTO);
    } else if (errno != EINTR && (errno != EAGAIN || !WaitFor(s.fd, POLLIN, idle))) {
      int err = errno;
      OPENSSL_cleanse(buf, sizeof buf);
      return IoFailed(what, "no reply from " + path, idle, err);
    }
  }
  OPENSSL_cleanse(buf, sizeof buf);
  return reply;
}

UapiProbe ProbeUapi(const std::string& socket_dir, const std::string& name) {
  const std::string path = socket_dir + "/" + name + ".sock";
  UapiProbe probe;
  pid_t server = 0;
  auto reply = UapiExchange(name + ": probe", path, uapi::kProbeRequest, kUapiProbeTimeout, &server);
  if (reply) {
    probe.answers = true;
    return probe;
  }
  if (server > 0 && HoldsUnixListener(server, path)) probe.pid = server;
  const int err = reply.error().code;
  if (err == ENOENT || err == ECONNREFUSED) {
    probe.problem = "no wireguard-go answers on " + path;
  } else {
    probe.problem = "the wireguard-go on " + path +
                    (probe.pid > 0 ? " (pid " + std::to_string(probe.pid) + ")" : std::string()) +
                    " does not answer: " + reply.error().message;
  }
  return probe;
}

bool UapiSocketAlive(const std::string& socket_dir, const std::string& name) {
  return ProbeUapi(socket_dir, name).answers;
}

pid_t UapiServerPid(const std::string& socket_dir, const std::string& name) {
  const std::string path = socket_dir + "/" + name + ".sock";
  Fd s;
  if (Connect(path, s) != 0) return 0;
  pid_t pid = PeerPid(s.fd);
  return HoldsUnixListener(pid, path) ? pid : 0;  // wireguard-go takes the closed connection quietly
}

bool HoldsUnixListener(pid_t pid, const std::string& path) {
  if (pid <= 0) return false;
  // Num RefCount Protocol Flags Type St Inode Path; a listening socket has __SO_ACCEPTCON (0x10000) in Flags.
  auto table = ReadFile("/proc/thread-self/net/unix", 64u << 20);
  if (!table) return false;
  std::set<std::string> listeners;
  for (std::string_view line : Split(*table, '\n')) {
    auto f = Fields(line);
    if (f.size() != 8 || f[7] != path) continue;
    unsigned long value = std::strtoul(std::string(f[3]).c_str(), nullptr, 16);
    if (value & 0x10000) listeners.emplace(f[6]);
  }
  if (listeners.empty()) return false;
  auto held = SocketInodes(pid);
  if (!held) return false;
  for (const auto& inode : *held) {
    if (listeners.count(inode)) return true;
  }
  return false;
}

std::set<std::string> UdpInodesOnPort(std::string_view table, uint16_t port) {
  // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode ...; local_address is ADDR:PORT
  // in hex.
  std::set<std::string> inodes;
  for (std::string_view line : Split(table, '\n')) {
    auto f = Fields(line);
    if (f.size() < 10) continue;
    size_t colon = f[1].rfind(':');
    if (colon == std::string_view::npos || colon + 1 == f[1].size()) continue;
    std::string hex(f[1].substr(colon + 1));
    char* end = nullptr;
    unsigned long p = std::strtoul(hex.c_str(), &end, 16);
    if (*end == '\0' && p == port) inodes.emplace(f[9]);
  }
  return inodes;
}

Result<bool> UdpPortBound(uint16_t port, pid_t pid) {
  std::set<std::string> bound;
  for (const char* table : {"/proc/thread-self/net/udp", "/proc/thread-self/net/udp6"}) {
    auto text = ReadFile(table, 64u << 20);
    if (!text) {
      if (text.error().code == ENOENT) continue;  // no IPv6 in this kernel
      return std::move(text).error();
    }
    bound.merge(UdpInodesOnPort(*text, port));
  }
  if (bound.empty() || pid <= 0) return !bound.empty();
  auto held = SocketInodes(pid);
  if (!held) return true;  // its descriptors are not readable here: a socket on the port is all we know
  for (const auto& inode : *held) {
    if (bound.count(inode)) return true;
  }
  return false;
}

}  // namespace swg::wg
