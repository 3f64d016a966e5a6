#pragma once
// A message channel over a connected stream socket: one message per line (compact JSON never contains a raw
// newline). Used between the supervisor and its workers (socketpair) and on the control socket.

#include <functional>
#include <string>
#include <string_view>

#include "common/loop.h"

namespace swg {

class Channel {
 public:
  using MessageFn = std::function<void(std::string_view message)>;
  using CloseFn = std::function<void(const std::string& reason)>;

  // Takes ownership of `fd`. on_close runs once, when the peer closes, on a read error, or when a message
  // exceeds max_message; never after Close() or destruction.
  Channel(Loop& loop, int fd, MessageFn on_message, CloseFn on_close, size_t max_message = 64u << 20);
  ~Channel();
  Channel(const Channel&) = delete;
  Channel& operator=(const Channel&) = delete;

  bool Send(std::string message);  // queues message + '\n'; false once closed
  void Close();                    // stops reading; pending writes are flushed before the socket closes
  bool open() const;

 private:
  struct Impl;
  Impl* impl_;  // shared with libuv callbacks; freed in the close callback
};

}  // namespace swg
