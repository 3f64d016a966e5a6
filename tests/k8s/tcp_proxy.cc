#include "tests/k8s/tcp_proxy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>

#include "tests/k8s/fake_server.h"

namespace swg::test {
namespace {

sockaddr_in Loopback(int port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<uint16_t>(port));
  return a;
}

}  // namespace

TcpProxy::TcpProxy(int backend_port) : backend_(backend_port) {
  listen_fd_ = ListenTcp("127.0.0.1", 0, &port_);
  acceptor_ = std::thread([this] { Serve(); });
}

TcpProxy::~TcpProxy() {
  stopping_ = true;
  acceptor_.join();
  DropAll();
  for (std::thread& t : pumps_) t.join();
  close(listen_fd_);
}

void TcpProxy::DropAll() {
  std::lock_guard<std::mutex> lock(mu_);
  for (int fd : open_) shutdown(fd, SHUT_RDWR);  // the pump sees the end and closes both sides
}

void TcpProxy::Pause() { paused_ = true; }

void TcpProxy::Resume() {
  ++epoch_;
  paused_ = false;
}

void TcpProxy::Serve() {
  while (!stopping_) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (poll(&p, 1, 20) <= 0) continue;
    int client = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) continue;
    ++accepted_;
    const int epoch = epoch_;  // a connection accepted while paused ends when resumed
    int port = next_.exchange(0);
    if (port == 0) port = backend_;
    int backend = port ? socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0) : -1;
    sockaddr_in a = Loopback(port);
    if (backend < 0 || connect(backend, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      if (backend >= 0) close(backend);
      close(client);
      continue;
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      open_.insert(client);
    }
    pumps_.emplace_back([this, client, backend, epoch] { Pump(client, backend, epoch); });
  }
}

// Copies bytes both ways until either side ends or a Resume() after `epoch`, then closes both.
void TcpProxy::Pump(int client, int backend, int epoch) {
  char buf[16384];
  pollfd p[2] = {{client, POLLIN, 0}, {backend, POLLIN, 0}};
  bool open = true;
  while (open && !stopping_) {
    if (paused_) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      continue;
    }
    if (epoch != epoch_) break;  // read after paused_: Resume() counts first
    if (poll(p, 2, 50) <= 0) continue;
    for (int i = 0; i < 2 && open; ++i) {
      if (!(p[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      ssize_t n = recv(p[i].fd, buf, sizeof buf, 0);
      if (n <= 0 || send(p[1 - i].fd, buf, static_cast<size_t>(n), MSG_NOSIGNAL) != n) open = false;
    }
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    open_.erase(client);
  }
  close(client);
  close(backend);
}

}  // namespace swg::test
