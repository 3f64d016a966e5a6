// WgBackend over wireguard-go's UAPI socket.
#include <net/if.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <map>

#include "common/files.h"
#include "common/strings.h"
#include "worker/wg/backends.h"
#include "worker/wg/uapi_codec.h"

namespace swg::wg {
namespace {

// wireguard-go answers at once even for thousands of peers; a peer that stops answering is a hung process,
// reported as ETIMEDOUT rather than blocking the worker.
constexpr int kIoTimeoutMs = 10000;
constexpr size_t kMaxReplyBytes = 256u << 20;

struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) close(fd);
  }
};

Error Failed(const std::string& what, const std::string& detail, int err) {
  std::string text = what + ": ";
  if (!detail.empty()) text += detail + ": ";
  return Error{text + ErrnoText(err) + " (errno " + std::to_string(err) + ")", err};
}

bool WaitFor(int fd, short events) {
  pollfd p{fd, events, 0};
  for (;;) {
    int r = poll(&p, 1, kIoTimeoutMs);
    if (r > 0) return true;
    if (r == 0) {
      errno = ETIMEDOUT;
      return false;
    }
    if (errno != EINTR) return false;
  }
}

// One request per connection, as wireguard-tools does.
Result<SecretString> Exchange(const std::string& what, const std::string& path, std::string_view request) {
  sockaddr_un addr{};
  if (path.size() >= sizeof addr.sun_path) return Failed(what, "socket path too long: " + path, ENAMETOOLONG);
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.data(), path.size());
  Fd s;
  s.fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (s.fd < 0) return Failed(what, "socket", errno);
  if (connect(s.fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0) {
    return Failed(what, "cannot connect to " + path, errno);
  }
  for (size_t off = 0; off < request.size();) {
    ssize_t n = send(s.fd, request.data() + off, request.size() - off, MSG_NOSIGNAL);
    if (n > 0) {
      off += static_cast<size_t>(n);
    } else if (n < 0 && errno != EINTR && (errno != EAGAIN || !WaitFor(s.fd, POLLOUT))) {
      return Failed(what, "cannot write to " + path, errno);
    }
  }
  SecretString reply;
  char buf[65536];
  while (!uapi::ReplyComplete(reply)) {
    ssize_t n = recv(s.fd, buf, sizeof buf, 0);
    if (n > 0) {
      reply.append(buf, static_cast<size_t>(n));
      if (reply.size() > kMaxReplyBytes) return Failed(what, "reply from " + path + " too large", EMSGSIZE);
    } else if (n == 0) {
      OPENSSL_cleanse(buf, sizeof buf);
      return Failed(what, "connection to " + path + " closed before the end of the reply", EPROTO);
    } else if (errno != EINTR && (errno != EAGAIN || !WaitFor(s.fd, POLLIN))) {
      OPENSSL_cleanse(buf, sizeof buf);
      return Failed(what, "cannot read from " + path, errno);
    }
  }
  OPENSSL_cleanse(buf, sizeof buf);
  return reply;
}

class UserspaceBackend final : public WgBackend {
 public:
  explicit UserspaceBackend(std::string dir) : dir_(std::move(dir)) {}

  std::string_view Kind() const override { return "userspace"; }

  Result<Device> GetDevice(const std::string& ifname) override {
    const std::string what = ifname + ": get device";
    auto reply = Exchange(what, SocketPath(ifname), uapi::kGetRequest);
    if (!reply) return std::move(reply).error();
    auto device = uapi::ParseGetReply(*reply);
    if (!device) {
      const Error& e = device.error();  // a malformed reply, or the errno wireguard-go answered with
      return Failed(what, StartsWith(e.message, "malformed") ? e.message : "", e.code);
    }
    device->name = ifname;
    device->ifindex = static_cast<int>(if_nametoindex(ifname.c_str()));
    if (device->private_key) {
      auto pub = PublicKeyOf(*device->private_key);
      if (!pub) return Error{what + ": " + pub.error().message, pub.error().code};
      device->public_key = *pub;
    }
    Remember(ifname, device->ifindex, device->listen_port);
    return device;
  }

  Status Apply(const std::string& ifname, const DeviceChange& change) override {
    const std::string what = ifname + ": set device";
    if (change.empty()) return Ok();
    int ifindex = static_cast<int>(if_nametoindex(ifname.c_str()));
    bool send_port = change.listen_port.has_value();
    if (auto it = ports_.find(ifname); send_port && it != ports_.end() && ifindex != 0 &&
                                       it->second.ifindex == ifindex &&
                                       it->second.port == *change.listen_port) {
      send_port = false;
    }
    auto reply = Exchange(what, SocketPath(ifname), uapi::EncodeSet(change, send_port));
    Result<int> err = reply ? uapi::ParseSetReply(*reply) : Result<int>(reply.error());
    if (!err || *err != 0) {
      ports_.erase(ifname);  // what the device holds after a failure is unknown
      if (!reply) return std::move(reply).error();
      if (!err) return Failed(what, err.error().message, err.error().code);
      return Failed(what, "", *err);
    }
    if (change.listen_port) Remember(ifname, ifindex, *change.listen_port);
    return Ok();
  }

 private:
  struct KnownPort {
    int ifindex;
    uint16_t port;
  };

  std::string SocketPath(const std::string& ifname) const { return dir_ + "/" + ifname + ".sock"; }

  void Remember(const std::string& ifname, int ifindex, uint16_t port) {
    if (ifindex != 0) ports_[ifname] = KnownPort{ifindex, port};
  }

  std::string dir_;
  std::map<std::string, KnownPort> ports_;  // a new wireguard-go means a new TUN, so a new ifindex
};

}  // namespace

std::unique_ptr<WgBackend> MakeUserspaceBackend(std::string socket_dir) {
  return std::make_unique<UserspaceBackend>(std::move(socket_dir));
}

}  // namespace swg::wg
