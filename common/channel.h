#pragma once
// A message channel over a connected stream socket: one message per line (compact JSON never contains a raw
// newline). Used between the supervisor and its workers (socketpair) and on the control socket.

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "common/loop.h"

namespace swg {

class Channel {
 public:
  using MessageFn = std::function<void(std::string_view message)>;
  using CloseFn = std::function<void(const std::string& reason)>;

  // A line longer than this closes the channel. Worker messages stay well below it: a metrics snapshot or a
  // detail reply of a remote with 10000 peers (the default maxPeers) is about 4 MiB.
  static constexpr size_t kDefaultMaxMessage = 8u << 20;

  // Takes ownership of `fd`. on_close runs once, when the peer closes, on a read error, or when a message
  // exceeds max_message ("message larger than the limit of N bytes"); never after Close() or destruction.
  Channel(Loop& loop, int fd, MessageFn on_message, CloseFn on_close, size_t max_message = kDefaultMaxMessage);
  ~Channel();
  Channel(const Channel&) = delete;
  Channel& operator=(const Channel&) = delete;

  bool Send(std::string message);  // queues message + '\n'; false once closed
  void Close();                    // stops reading; pending writes are flushed before the socket closes
  void Abort();                    // closes the socket now, dropping pending writes; no callback follows
  bool open() const;
  bool flushed() const;  // no write is pending
  // Bytes searched for line ends so far: each received byte is searched once (tests check this).
  uint64_t scanned_bytes() const;

 private:
  struct Impl;
  Impl* impl_;  // shared with libuv callbacks; freed in the close callback
};

}  // namespace swg
