#include "common/channel.h"

#include <uv.h>

#include <cstdint>
#include <memory>
#include <string>

namespace swg {

// Lifetime: the Impl is freed when both the Channel is gone and libuv has closed the handle. The handle is
// closed once reading stopped and no write is pending, so queued messages are flushed first.
struct Channel::Impl {
  uv_pipe_t pipe;
  MessageFn on_message;
  CloseFn on_close;
  std::string buffer;
  size_t scanned = 0;        // leading bytes of buffer known to hold no newline
  uint64_t scanned_bytes = 0;  // bytes searched for newlines, ever
  size_t max_message = 0;
  int pending_writes = 0;
  bool open = true;
  bool owner_alive = true;
  bool close_started = false;
  bool handle_closed = false;

  void TryClose() {
    if (open || pending_writes > 0) return;
    CloseHandle();
  }

  // Closes the socket now. libuv cancels the pending writes first (their callbacks run with UV_ECANCELED).
  void CloseHandle() {
    if (close_started) return;
    close_started = true;
    uv_close(reinterpret_cast<uv_handle_t*>(&pipe), [](uv_handle_t* h) {
      auto* self = static_cast<Impl*>(h->data);
      self->handle_closed = true;
      if (!self->owner_alive) delete self;
    });
  }

  // Stops the channel and tells the owner once. The callback may destroy the Channel; the close of the
  // handle is asynchronous, so `this` stays valid until the caller returns to libuv.
  void Fail(const std::string& reason) {
    if (!open) return;
    open = false;
    uv_read_stop(reinterpret_cast<uv_stream_t*>(&pipe));
    CloseFn cb = std::move(on_close);
    on_close = nullptr;
    on_message = nullptr;
    TryClose();
    if (owner_alive && cb) cb(reason);
  }
};

namespace {

struct WriteReq {
  uv_write_t req;
  std::string data;
};

}  // namespace

Channel::Channel(Loop& loop, int fd, MessageFn on_message, CloseFn on_close, size_t max_message)
    : impl_(new Impl) {
  impl_->on_message = std::move(on_message);
  impl_->on_close = std::move(on_close);
  impl_->max_message = max_message;
  uv_pipe_init(loop.uv(), &impl_->pipe, 0);
  impl_->pipe.data = impl_;
  if (uv_pipe_open(&impl_->pipe, fd) != 0) {
    impl_->open = false;
    impl_->TryClose();
    return;
  }
  uv_read_start(
      reinterpret_cast<uv_stream_t*>(&impl_->pipe),
      [](uv_handle_t*, size_t suggested, uv_buf_t* buf) {
        buf->base = new char[suggested];
        buf->len = suggested;
      },
      [](uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
        std::unique_ptr<char[]> owned(buf->base);
        auto* self = static_cast<Impl*>(s->data);
        if (!self->open) return;
        if (n < 0) {
          self->Fail(n == UV_EOF ? "closed by peer" : std::string("read error: ") + uv_strerror(static_cast<int>(n)));
          return;
        }
        self->buffer.append(buf->base, static_cast<size_t>(n));
        // The bytes before `scanned` were searched by earlier reads and hold no newline: only the new bytes are
        // searched, so a long line costs linear time however many reads it takes to arrive.
        size_t start = 0;
        size_t from = self->scanned;
        for (;;) {
          size_t nl = self->buffer.find('\n', from);
          self->scanned_bytes += (nl == std::string::npos ? self->buffer.size() : nl + 1) - from;
          if (nl == std::string::npos) break;
          std::string line = self->buffer.substr(start, nl - start);
          start = nl + 1;
          from = start;
          if (self->on_message) self->on_message(line);
          if (!self->open || !self->owner_alive) return;  // closed or destroyed from the callback
        }
        self->buffer.erase(0, start);
        self->scanned = self->buffer.size();
        if (self->buffer.size() > self->max_message) {
          self->buffer.clear();
          self->Fail("message larger than the limit of " + std::to_string(self->max_message) + " bytes");
        }
      });
}

Channel::~Channel() {
  impl_->owner_alive = false;
  impl_->on_message = nullptr;
  impl_->on_close = nullptr;
  if (impl_->open) {
    impl_->open = false;
    uv_read_stop(reinterpret_cast<uv_stream_t*>(&impl_->pipe));
  }
  impl_->TryClose();
  if (impl_->handle_closed) delete impl_;
}

bool Channel::Send(std::string message) {
  if (!impl_->open) return false;
  auto* w = new WriteReq;
  w->data = std::move(message);
  w->data += '\n';
  w->req.data = impl_;
  uv_buf_t buf = uv_buf_init(w->data.data(), static_cast<unsigned>(w->data.size()));
  impl_->pending_writes++;
  int rc = uv_write(&w->req, reinterpret_cast<uv_stream_t*>(&impl_->pipe), &buf, 1, [](uv_write_t* req, int status) {
    std::unique_ptr<WriteReq> owned(reinterpret_cast<WriteReq*>(req));
    auto* self = static_cast<Impl*>(req->data);
    self->pending_writes--;
    if (status < 0) {
      self->Fail(std::string("write error: ") + uv_strerror(status));
    }
    self->TryClose();
  });
  if (rc != 0) {
    impl_->pending_writes--;
    delete w;
    impl_->Fail(std::string("write error: ") + uv_strerror(rc));
    return false;
  }
  return true;
}

void Channel::Close() {
  if (!impl_->open) return;
  impl_->open = false;
  impl_->on_message = nullptr;
  impl_->on_close = nullptr;
  uv_read_stop(reinterpret_cast<uv_stream_t*>(&impl_->pipe));
  impl_->TryClose();
}

void Channel::Abort() {
  if (impl_->open) {
    impl_->open = false;
    uv_read_stop(reinterpret_cast<uv_stream_t*>(&impl_->pipe));
  }
  impl_->on_message = nullptr;
  impl_->on_close = nullptr;
  impl_->CloseHandle();
}

bool Channel::open() const { return impl_->open; }

bool Channel::flushed() const { return impl_->pending_writes == 0; }

uint64_t Channel::scanned_bytes() const { return impl_->scanned_bytes; }

}  // namespace swg
