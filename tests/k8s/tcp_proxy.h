#pragma once
// A TCP proxy on 127.0.0.1 standing in for a load balancer: it forwards each connection to a backend port on
// 127.0.0.1, can send the next connection to another backend (one bad backend), can refuse connections
// (accept and close at once: an endpoint that is down), can hold every byte (a network partition: requests
// time out), and counts the connections it accepted.

#include <atomic>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

namespace swg::test {

class TcpProxy {
 public:
  explicit TcpProxy(int backend_port);
  ~TcpProxy();
  TcpProxy(const TcpProxy&) = delete;
  TcpProxy& operator=(const TcpProxy&) = delete;

  int port() const { return port_; }
  void SetBackend(int port) { backend_ = port; }  // 0: refuse connections
  void SendNextTo(int port) { next_ = port; }     // only the next connection
  void DropAll();                                 // closes the connections open now
  // Paused: connections are accepted and connected, but no byte goes either way. Resuming closes every
  // connection open meanwhile, so nothing held back arrives late.
  void Pause();
  void Resume();
  int accepted() const { return accepted_; }

 private:
  void Serve();
  void Pump(int client, int backend, int epoch);

  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<int> backend_;
  std::atomic<int> next_{0};
  std::atomic<int> accepted_{0};
  std::atomic<bool> stopping_{false};
  std::atomic<bool> paused_{false};
  std::atomic<int> epoch_{0};  // Resume() ends the pumps started before it
  std::mutex mu_;
  std::set<int> open_;  // client sockets being forwarded
  std::vector<std::thread> pumps_;
  std::thread acceptor_;
};

}  // namespace swg::test
