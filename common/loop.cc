#include "common/loop.h"

#include <uv.h>

#include <cstdlib>

#include "common/log.h"

namespace swg {

Loop::Loop() : loop_(new uv_loop_t) {
  if (uv_loop_init(loop_) != 0) {
    log::Error("cannot initialise the event loop");
    std::abort();
  }
}

Loop::~Loop() {
  uv_walk(
      loop_,
      [](uv_handle_t* h, void*) {
        if (!uv_is_closing(h)) uv_close(h, nullptr);  // owners already gone; nothing to free but the handle
      },
      nullptr);
  uv_run(loop_, UV_RUN_DEFAULT);
  uv_loop_close(loop_);
  delete loop_;
}

void Loop::Run() { uv_run(loop_, UV_RUN_DEFAULT); }

void Loop::Stop() { uv_stop(loop_); }

bool Loop::RunUntil(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
  Timer deadline(*this);
  bool expired = false;
  deadline.Start(timeout, [&] { expired = true; });
  Timer poll(*this);
  poll.StartRepeating(std::chrono::milliseconds(10), [] {});  // wakes the loop to re-check done()
  while (!done() && !expired) uv_run(loop_, UV_RUN_ONCE);
  return done();
}

std::chrono::steady_clock::time_point Loop::Now() const {
  return std::chrono::steady_clock::time_point(std::chrono::milliseconds(uv_now(loop_)));
}

struct Timer::Impl {
  uv_timer_t handle;
  std::function<void()> callback;
  bool repeating = false;
};

Timer::Timer(Loop& loop) : impl_(new Impl) {
  uv_timer_init(loop.uv(), &impl_->handle);
  impl_->handle.data = impl_;
}

Timer::~Timer() {
  uv_timer_stop(&impl_->handle);
  impl_->callback = nullptr;
  uv_close(reinterpret_cast<uv_handle_t*>(&impl_->handle),
           [](uv_handle_t* h) { delete static_cast<Impl*>(h->data); });
}

void Timer::Start(std::chrono::milliseconds delay, std::function<void()> callback) {
  impl_->callback = std::move(callback);
  impl_->repeating = false;
  uv_timer_start(
      &impl_->handle,
      [](uv_timer_t* t) {
        auto* impl = static_cast<Impl*>(t->data);
        // Move out first: the callback may restart or destroy this timer.
        std::function<void()> cb = std::move(impl->callback);
        impl->callback = nullptr;
        if (cb) cb();
      },
      static_cast<uint64_t>(delay.count() < 0 ? 0 : delay.count()), 0);
}

void Timer::StartRepeating(std::chrono::milliseconds interval, std::function<void()> callback) {
  impl_->callback = std::move(callback);
  impl_->repeating = true;
  uint64_t ms = static_cast<uint64_t>(interval.count() < 1 ? 1 : interval.count());
  uv_timer_start(
      &impl_->handle,
      [](uv_timer_t* t) {
        auto* impl = static_cast<Impl*>(t->data);
        std::function<void()> cb = impl->callback;  // copy: the callback may stop or destroy this timer
        if (cb) cb();
      },
      ms, ms);
}

void Timer::Stop() {
  uv_timer_stop(&impl_->handle);
  impl_->callback = nullptr;
}

bool Timer::active() const { return uv_is_active(reinterpret_cast<const uv_handle_t*>(&impl_->handle)) != 0; }

void Timer::Unref() { uv_unref(reinterpret_cast<uv_handle_t*>(&impl_->handle)); }

std::chrono::milliseconds RunWindow::Delay() const {
  if (!last_end_) return std::chrono::milliseconds(0);
  auto since =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - *last_end_);
  return since >= window_ ? std::chrono::milliseconds(0) : window_ - since;
}

}  // namespace swg
