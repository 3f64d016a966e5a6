#pragma once
// The small HTTP/1.1 server for /livez, /healthz, /readyz and /metrics, on the supervisor's loop thread.
// Requests on a connection are handled one at a time, in order (keep-alive and pipelining); a request body is
// read and discarded. The limits keep idle or slow clients from starving the probes: see HttpLimits.
// The process must ignore SIGPIPE (the daemon does): libuv writes to sockets with writev, and a client may reset
// its connection before the answer is written.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "common/loop.h"
#include "common/result.h"

namespace swg::supervisor {

struct HttpResponse {
  int code = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;  // HEAD requests get its length and not the body
};

struct HttpLimits {
  // A connection beyond this many from one client address is accepted and closed at once.
  size_t per_address = 16;
  // With this many open, no more are accepted: new ones wait in the listen queue until one closes.
  size_t total = 256;
  // Closes a connection that waits this long for a request (first, or next on a kept-alive connection), and
  // one whose request head (and body) is not complete this long after its first byte.
  std::chrono::milliseconds idle_timeout{5000};
  // Closes a connection whose answer is not written within this of its request: the handler's time, then the
  // client's to read it (one that stops reading cannot hold the connection and the answer's memory).
  std::chrono::milliseconds answer_timeout{30000};
  // After the last answer, the server shuts its side and reads what the client still sends for up to this
  // long before closing, so that unread bytes do not make the kernel reset the connection under the answer.
  std::chrono::milliseconds linger{2000};
};

class HttpServer {
 public:
  // Answers the request it was given, once: later calls do nothing, and so do calls after the connection or
  // the server is gone. Call it on the loop thread, from the handler or later.
  using Respond = std::function<void(HttpResponse)>;
  using Handler = std::function<void(const std::string& method, const std::string& path, Respond respond)>;

  // listen_address: "host:port", "[v6]:port" or ":port" (every address, IPv6 and IPv4); port 0 picks one.
  static Result<std::unique_ptr<HttpServer>> Start(Loop& loop, const std::string& listen_address,
                                                   Handler handler, const HttpLimits& limits = {});
  ~HttpServer();  // closes every connection; answers still to come find no one
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;
  uint16_t port() const { return port_; }
  size_t connections() const;  // open client connections (for tests)

  struct Impl;

 private:
  HttpServer() = default;
  std::unique_ptr<Impl> impl_;
  uint16_t port_ = 0;
};

}  // namespace swg::supervisor
