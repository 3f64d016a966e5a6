#pragma once
// The control socket: a Unix stream socket where `semaphore-wireguard status` asks for the node's state.
// One request line per connection ({"command":"status","verbose":false}), one JSON reply line.

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "common/loop.h"
#include "common/result.h"

namespace swg::supervisor {

// Bounds that keep misbehaving clients from holding the socket: see Impl::MakeRoom and Impl::Sweep.
struct ControlLimits {
  size_t max_connections = 16;
  size_t max_request = 1 << 16;                               // bytes of the request line
  std::chrono::milliseconds request_timeout{5000};            // from connect to a complete request line
  std::chrono::milliseconds flush_timeout{10000};             // for the client to read the whole reply
};

class ControlServer {
 public:
  using Reply = std::function<void(std::string)>;
  using Handler = std::function<void(std::string_view request, Reply reply)>;

  // Creates the socket's directory if needed. A stale socket file is replaced; a live one (another running
  // agent) is an error naming the path. One request line per connection: later lines are ignored.
  static Result<std::unique_ptr<ControlServer>> Start(Loop& loop, const std::string& path, Handler handler,
                                                      const ControlLimits& limits = {});
  size_t connections() const;  // open client connections (for tests)
  ~ControlServer();  // closes connections and removes the socket file
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

 private:
  ControlServer() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Client side: sends `request`, returns the reply line. Errors name the socket path.
Result<std::string> ControlRequest(const std::string& path, const std::string& request, int timeout_ms);

}  // namespace swg::supervisor
