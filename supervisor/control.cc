#include "supervisor/control.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <uv.h>

#include <cerrno>
#include <algorithm>
#include <cstring>
#include <list>

#include "common/channel.h"
#include "common/files.h"
#include "common/log.h"

namespace swg::supervisor {
namespace {

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
  Impl(Loop& l, const ControlLimits& lim) : loop(l), limits(lim), sweeper(l) {}
  Loop& loop;
  ControlLimits limits;
  std::string path;
  Handler handler;
  int fd = -1;
  uv_poll_t* poll = nullptr;
  // A connection's life: accepted -> asked (one request line) -> replied (flushing) -> dropped.
  struct State {
    bool asked = false;
    bool replied = false;
    bool closed = false;  // by the client or a read error
    std::chrono::steady_clock::time_point since;  // of the last step
  };
  struct Conn {
    std::unique_ptr<Channel> channel;
    std::shared_ptr<State> state;
  };
  std::list<Conn> conns;
  Timer sweeper;

  // At the limit, a new client takes the place of the oldest one that has not asked anything yet, so idle
  // connections cannot keep `status` out; when every slot is busy with a request, the new one is refused.
  bool MakeRoom() {
    if (conns.size() < limits.max_connections) return true;
    for (auto it = conns.begin(); it != conns.end(); ++it) {
      if (!it->state->asked) {
        it->channel->Abort();
        conns.erase(it);
        return true;
      }
    }
    return false;
  }

  void Accept() {
    for (;;) {
      int c = accept4(fd, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
      if (c < 0) return;
      if (!MakeRoom()) {
        close(c);
        continue;
      }
      auto state = std::make_shared<State>();
      state->since = loop.Now();
      std::weak_ptr<State> weak = state;
      conns.push_back(Conn{nullptr, state});
      StartSweeper();
      // The list element outlives every call of the callbacks: erasing it destroys the Channel, which stops them.
      std::unique_ptr<Channel>& channel_ref = conns.back().channel;
      channel_ref = std::make_unique<Channel>(
          loop, c,
          [this, weak, &channel_ref](std::string_view request) {
            auto st = weak.lock();
            if (!st || st->asked) return;  // one request per connection: later lines are ignored
            st->asked = true;
            st->since = loop.Now();
            Channel* ch = channel_ref.get();
            handler(request, [this, weak, ch](std::string answer) {
              auto s = weak.lock();
              if (!s || s->closed) return;  // the client went away, or was dropped, meanwhile
              ch->Send(std::move(answer));
              ch->Close();  // flushes, then closes; Sweep() drops it once flushed, or aborts a client that never reads
              s->replied = true;
              s->since = loop.Now();
            });
          },
          [weak](const std::string&) {
            if (auto st = weak.lock()) st->closed = true;
          },
          limits.max_request);
    }
  }

  void Sweep() {
    auto now = loop.Now();
    for (auto it = conns.begin(); it != conns.end();) {
      const State& st = *it->state;
      bool drop = st.closed || (st.replied && it->channel->flushed());
      bool stuck = (!st.asked && now - st.since > limits.request_timeout) ||
                   (st.replied && now - st.since > limits.flush_timeout);
      if (stuck) it->channel->Abort();
      it = (drop || stuck) ? conns.erase(it) : std::next(it);
    }
    if (conns.empty()) sweeper.Stop();  // nothing to sweep: no wake-ups while no client is connected
  }

  void StartSweeper() {
    if (sweeper.active()) return;
    auto every = std::min({std::chrono::milliseconds(1000), limits.request_timeout / 4, limits.flush_timeout / 4});
    sweeper.StartRepeating(std::max(every, std::chrono::milliseconds(10)), [this] { Sweep(); });
    sweeper.Unref();
  }
};

Result<std::unique_ptr<ControlServer>> ControlServer::Start(Loop& loop, const std::string& path, Handler handler,
                                                            const ControlLimits& limits) {
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
  server->impl_ = std::make_unique<Impl>(loop, limits);
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
  return server;
}

ControlServer::~ControlServer() {
  if (!impl_) return;
  for (auto& c : impl_->conns) c.state->closed = true;  // a reply still on its way finds no one
  impl_->conns.clear();
  uv_poll_stop(impl_->poll);
  uv_close(reinterpret_cast<uv_handle_t*>(impl_->poll), [](uv_handle_t* h) { delete reinterpret_cast<uv_poll_t*>(h); });
  close(impl_->fd);
  unlink(impl_->path.c_str());
}

size_t ControlServer::connections() const { return impl_->conns.size(); }

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
