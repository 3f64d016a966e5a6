#pragma once
// The control socket: a Unix stream socket where `semaphore-wireguard status` asks for the node's state.
// One request line per connection ({"command":"status","verbose":false}), one JSON reply line.

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "common/loop.h"
#include "common/result.h"

namespace swg::supervisor {

class ControlServer {
 public:
  using Reply = std::function<void(std::string)>;
  using Handler = std::function<void(std::string_view request, Reply reply)>;

  // Creates the socket's directory if needed. A stale socket file is replaced; a live one (another running
  // agent) is an error naming the path.
  static Result<std::unique_ptr<ControlServer>> Start(Loop& loop, const std::string& path, Handler handler);
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
