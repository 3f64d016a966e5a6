#pragma once
// A tiny plain-HTTP server on 127.0.0.1 for response-handling tests: each connection carries one request and
// gets whatever bytes the test's handler writes (status lines, chunks, pauses, garbage), then is closed. It
// stands in for the transport only where a real apiserver cannot be made to misbehave (429 with Retry-After,
// garbage, silence, a cut stream); the API itself is tested against real apiservers.

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/loop.h"
#include "k8s/client.h"

namespace swg::test {

struct HttpRequestSeen {
  std::string method;
  std::string target;                          // path and query
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
};

class FakeConnection {
 public:
  FakeConnection(int fd, const std::atomic<bool>& stopping) : fd_(fd), stopping_(stopping) {}
  void Write(const std::string& bytes);
  // A whole response with Content-Length and Connection: close.
  void Respond(int status, const std::string& body, const std::string& extra_headers = "");
  void StartChunked(int status = 200);
  void Chunk(const std::string& data);
  void EndChunked() { Write("0\r\n\r\n"); }
  void Sleep(std::chrono::milliseconds d);  // returns early when the server stops
  bool closed() const { return closed_; }   // a write failed: the client went away

 private:
  int fd_;
  const std::atomic<bool>& stopping_;
  bool closed_ = false;
};

class FakeServer {
 public:
  using Handler = std::function<void(const HttpRequestSeen&, FakeConnection&)>;
  // Listens on address:port (IPv4; port 0: any free one).
  explicit FakeServer(Handler handler, const std::string& address = "127.0.0.1", int port = 0);
  ~FakeServer();
  std::string url() const { return "http://" + address_ + ":" + std::to_string(port_); }
  std::vector<HttpRequestSeen> requests() const;
  size_t request_count() const;

 private:
  struct Worker {
    std::thread thread;
    std::shared_ptr<std::atomic<bool>> done;
  };
  void Serve();
  void Handle(int fd);

  Handler handler_;
  std::string address_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  mutable std::mutex mu_;
  std::vector<HttpRequestSeen> requests_;
  std::vector<Worker> workers_;  // finished ones are joined as new connections come
  std::thread acceptor_;
};

// A listening TCP socket on address:port (IPv4; port 0: any free one, stored in *bound_port); throws when it
// cannot listen.
int ListenTcp(const std::string& address, int port, int* bound_port);

// A kubeconfig at dir/kubeconfig for `server` (a FakeServer's url()), with the user fields `user`.
std::string FakeKubeconfig(const std::string& dir, const std::string& server,
                           const std::string& user = "{token: abc}");
// A client named "t" for that kubeconfig.
std::unique_ptr<k8s::Client> FakeClient(Loop& loop, const std::string& kubeconfig,
                                        k8s::ClientOptions options = {});

}  // namespace swg::test
