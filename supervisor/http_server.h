#pragma once
// The small HTTP server for /livez, /healthz, /readyz and /metrics (libmicrohttpd: epoll and a pool of 4 threads,
// at most 16 connections per client address and 256 in all, idle connections closed after 5 s).
// The handler runs on a server thread, possibly several at once: it must only touch thread-safe state (see
// LoopExecutor).

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "common/result.h"

namespace swg::supervisor {

struct HttpResponse {
  int code = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

class HttpServer {
 public:
  using Handler = std::function<HttpResponse(const std::string& method, const std::string& path)>;

  // listen_address: "host:port", "[v6]:port" or ":port" (every address, IPv6 and IPv4); port 0 picks one.
  static Result<std::unique_ptr<HttpServer>> Start(const std::string& listen_address, Handler handler);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;
  uint16_t port() const { return port_; }

  struct Impl;

 private:
  HttpServer() = default;
  std::unique_ptr<Impl> impl_;
  uint16_t port_ = 0;
};

}  // namespace swg::supervisor
