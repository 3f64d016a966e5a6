#include "tests/k8s/fake_server.h"

#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <stdexcept>

namespace swg::test {
namespace {

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

const char* Reason(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 410:
      return "Gone";
    case 429:
      return "Too Many Requests";
    case 500:
      return "Internal Server Error";
    case 503:
      return "Service Unavailable";
    default:
      return "Status";
  }
}

}  // namespace

void FakeConnection::Write(const std::string& bytes) {
  size_t off = 0;
  while (off < bytes.size()) {
    ssize_t n = send(fd_, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
    if (n <= 0) {  // the client went away
      closed_ = true;
      return;
    }
    off += static_cast<size_t>(n);
  }
}

void FakeConnection::Respond(int status, const std::string& body, const std::string& extra_headers) {
  Write("HTTP/1.1 " + std::to_string(status) + " " + Reason(status) +
        "\r\nContent-Type: application/json\r\n" + "Content-Length: " + std::to_string(body.size()) +
        "\r\nConnection: close\r\n" + extra_headers + "\r\n" + body);
}

void FakeConnection::StartChunked(int status) {
  Write("HTTP/1.1 " + std::to_string(status) + " " + Reason(status) +
        "\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n");
}

void FakeConnection::Chunk(const std::string& data) {
  char size[32];
  snprintf(size, sizeof size, "%zx\r\n", data.size());
  Write(size + data + "\r\n");
}

void FakeConnection::Sleep(std::chrono::milliseconds d) {
  auto until = std::chrono::steady_clock::now() + d;
  while (!stopping_ && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

int ListenTcp(const std::string& address, int port, int* bound_port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  int one = 1;
  if (fd < 0 || inet_pton(AF_INET, address.c_str(), &addr.sin_addr) != 1 ||
      setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
      bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || listen(fd, 64) != 0) {
    throw std::runtime_error("cannot listen on " + address + ":" + std::to_string(port));
  }
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  *bound_port = ntohs(addr.sin_port);
  return fd;
}

FakeServer::FakeServer(Handler handler, const std::string& address, int port)
    : handler_(std::move(handler)), address_(address) {
  listen_fd_ = ListenTcp(address, port, &port_);
  acceptor_ = std::thread([this] { Serve(); });
}

FakeServer::~FakeServer() {
  stopping_ = true;
  acceptor_.join();
  for (Worker& w : workers_) w.thread.join();
  close(listen_fd_);
}

std::vector<HttpRequestSeen> FakeServer::requests() const {
  std::lock_guard<std::mutex> lock(mu_);
  return requests_;
}

size_t FakeServer::request_count() const {
  std::lock_guard<std::mutex> lock(mu_);
  return requests_.size();
}

void FakeServer::Serve() {
  while (!stopping_) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (poll(&p, 1, 20) <= 0) continue;
    int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    std::erase_if(workers_, [](Worker& w) {
      if (!*w.done) return false;
      w.thread.join();
      return true;
    });
    auto done = std::make_shared<std::atomic<bool>>(false);
    workers_.push_back({std::thread([this, fd, done] {
                          Handle(fd);
                          close(fd);
                          *done = true;
                        }),
                        done});
  }
}

void FakeServer::Handle(int fd) {
  std::string data;
  char buf[4096];
  size_t header_end;
  while ((header_end = data.find("\r\n\r\n")) == std::string::npos) {
    pollfd p{fd, POLLIN, 0};
    if (stopping_) return;
    if (poll(&p, 1, 20) <= 0) continue;
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n <= 0) return;
    data.append(buf, static_cast<size_t>(n));
  }
  HttpRequestSeen req;
  size_t line_end = data.find("\r\n");
  std::string line = data.substr(0, line_end);
  size_t sp1 = line.find(' '), sp2 = line.rfind(' ');
  req.method = line.substr(0, sp1);
  req.target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  size_t pos = line_end + 2;
  while (pos < header_end) {
    size_t end = data.find("\r\n", pos);
    std::string h = data.substr(pos, end - pos);
    size_t colon = h.find(':');
    if (colon != std::string::npos) {
      size_t v = h.find_first_not_of(' ', colon + 1);
      req.headers[Lower(h.substr(0, colon))] = v == std::string::npos ? "" : h.substr(v);
    }
    pos = end + 2;
  }
  size_t length = req.headers.count("content-length") ? std::stoul(req.headers["content-length"]) : 0;
  req.body = data.substr(header_end + 4);
  while (req.body.size() < length && !stopping_) {
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    req.body.append(buf, static_cast<size_t>(n));
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    requests_.push_back(req);
  }
  FakeConnection conn(fd, stopping_);
  handler_(req, conn);
}

std::string FakeKubeconfig(const std::string& dir, const std::string& server, const std::string& user) {
  std::string path = dir + "/kubeconfig";
  std::ofstream(path, std::ios::trunc)
      << "current-context: t\ncontexts:\n- name: t\n  context: {cluster: t, user: u}\nclusters:\n"
         "- name: t\n  cluster: {server: \""
      << server << "\"}\nusers:\n- name: u\n  user: " << user << "\n";
  return path;
}

std::unique_ptr<k8s::Client> FakeClient(Loop& loop, const std::string& kubeconfig,
                                        k8s::ClientOptions options) {
  auto client = k8s::Client::Create(loop, "t", k8s::ClusterSource::Kubeconfig(kubeconfig), options);
  REQUIRE(client.ok());
  return std::move(client).value();
}

}  // namespace swg::test
