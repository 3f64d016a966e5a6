#include "supervisor/control.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <uv.h>

#include <cerrno>
#include <cstring>
#include <list>

#include "common/channel.h"
#include "common/files.h"
#include "common/log.h"

namespace swg::supervisor {
namespace {

constexpr size_t kMaxConnections = 16;

Result<sockaddr_un> Address(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) return Error{"control socket path " + path + " is too long"};
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  return addr;
}

std::string DirOf(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
}

}  // namespace

struct ControlServer::Impl {
  Impl(Loop& l) : loop(l), timeout(l) {}
  Loop& loop;
  std::string path;
  Handler handler;
  int fd = -1;
  uv_poll_t* poll = nullptr;
  struct Conn {
    std::unique_ptr<Channel> channel;
    std::shared_ptr<bool> alive;
  };
  std::list<Conn> conns;
  Timer timeout;

  void Accept() {
    for (;;) {
      int c = accept4(fd, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
      if (c < 0) return;
      if (conns.size() >= kMaxConnections) {
        close(c);
        continue;
      }
      conns.emplace_back();
      auto it = std::prev(conns.end());
      it->alive = std::make_shared<bool>(true);
      std::weak_ptr<bool> alive = it->alive;
      it->channel = std::make_unique<Channel>(
          loop, c,
          [this, it, alive](std::string_view request) {
            if (alive.expired()) return;
            auto reply = [it, alive](std::string answer) {
              if (alive.expired()) return;  // the client went away meanwhile
              it->channel->Send(std::move(answer));
              it->channel->Close();  // flushes, then closes; the entry is dropped by the next Sweep()
              *it->alive = false;
            };
            handler(request, std::move(reply));
          },
          [this, it](const std::string&) { *it->alive = false; }, 1 << 16);
    }
  }

  // Drops finished connections; a Channel that was closed keeps flushing on its own.
  void Sweep() {
    for (auto it = conns.begin(); it != conns.end();) {
      if (!*it->alive) {
        it = conns.erase(it);
      } else {
        ++it;
      }
    }
  }
};

Result<std::unique_ptr<ControlServer>> ControlServer::Start(Loop& loop, const std::string& path, Handler handler) {
  auto addr = Address(path);
  if (!addr.ok()) return std::move(addr).error();
  if (auto st = EnsureDirectory(DirOf(path), 0755); !st.ok()) return std::move(st).error();
  struct stat st;
  if (lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) return Error{"control socket path " + path + " exists and is not a socket"};
    int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    bool live = probe >= 0 && connect(probe, reinterpret_cast<sockaddr*>(&*addr), sizeof *addr) == 0;
    if (probe >= 0) close(probe);
    if (live) return Error{"control socket " + path + " is in use: is another semaphore-wireguard running?"};
    unlink(path.c_str());
  }
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return Error{"cannot create the control socket: " + ErrnoText(errno), errno};
  if (bind(fd, reinterpret_cast<sockaddr*>(&*addr), sizeof *addr) != 0 || listen(fd, 16) != 0) {
    int err = errno;
    close(fd);
    return Error{"cannot listen on control socket " + path + ": " + ErrnoText(err), err};
  }
  chmod(path.c_str(), 0660);
  std::unique_ptr<ControlServer> server(new ControlServer());
  server->impl_ = std::make_unique<Impl>(loop);
  Impl* impl = server->impl_.get();
  impl->path = path;
  impl->handler = std::move(handler);
  impl->fd = fd;
  impl->poll = new uv_poll_t;
  uv_poll_init(loop.uv(), impl->poll, fd);
  impl->poll->data = impl;
  uv_poll_start(impl->poll, UV_READABLE, [](uv_poll_t* p, int status, int) {
    auto* self = static_cast<Impl*>(p->data);
    if (status == 0) self->Accept();
  });
  impl->timeout.StartRepeating(std::chrono::milliseconds(1000), [impl] { impl->Sweep(); });
  impl->timeout.Unref();
  return server;
}

ControlServer::~ControlServer() {
  if (!impl_) return;
  impl_->conns.clear();
  uv_poll_stop(impl_->poll);
  uv_close(reinterpret_cast<uv_handle_t*>(impl_->poll), [](uv_handle_t* h) { delete reinterpret_cast<uv_poll_t*>(h); });
  close(impl_->fd);
  unlink(impl_->path.c_str());
}

Result<std::string> ControlRequest(const std::string& path, const std::string& request, int timeout_ms) {
  auto addr = Address(path);
  if (!addr.ok()) return std::move(addr).error();
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Error{"cannot create a socket: " + ErrnoText(errno), errno};
  if (connect(fd, reinterpret_cast<sockaddr*>(&*addr), sizeof *addr) != 0) {
    int err = errno;
    close(fd);
    std::string hint = (err == ENOENT || err == ECONNREFUSED) ? " (is semaphore-wireguard running? see -control-socket)" : "";
    return Error{"cannot connect to " + path + ": " + ErrnoText(err) + hint, err};
  }
  std::string line = request + "\n";
  if (write(fd, line.data(), line.size()) != static_cast<ssize_t>(line.size())) {
    int err = errno;
    close(fd);
    return Error{"cannot send a request to " + path + ": " + ErrnoText(err), err};
  }
  std::string reply;
  char buf[65536];
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    int rc = poll(&p, 1, timeout_ms);
    if (rc == 0) {
      close(fd);
      return Error{"no answer from " + path + " within " + std::to_string(timeout_ms / 1000) + " s", ETIMEDOUT};
    }
    if (rc < 0 && errno == EINTR) continue;
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    reply.append(buf, static_cast<size_t>(n));
    if (!reply.empty() && reply.back() == '\n') break;
  }
  close(fd);
  if (reply.empty() || reply.back() != '\n') return Error{"incomplete answer from " + path};
  reply.pop_back();
  return reply;
}

}  // namespace swg::supervisor
