#pragma once
// Runs functions on the loop thread on behalf of other threads (the HTTP server's), and lets those threads
// wait for an asynchronous answer with a timeout.

#include <chrono>
#include <functional>
#include <future>
#include <memory>
#include <optional>

#include "common/loop.h"

namespace swg::supervisor {

class LoopExecutor {
 public:
  explicit LoopExecutor(Loop& loop);
  ~LoopExecutor();  // pending functions are dropped; later Post() calls are ignored
  LoopExecutor(const LoopExecutor&) = delete;
  LoopExecutor& operator=(const LoopExecutor&) = delete;

  void Post(std::function<void()> fn);  // thread-safe

  // From another thread: runs `start(reply)` on the loop and waits up to `timeout` for reply(value).
  template <typename T>
  std::optional<T> Call(std::function<void(std::function<void(T)>)> start, std::chrono::milliseconds timeout) {
    auto promise = std::make_shared<std::promise<T>>();
    auto answered = std::make_shared<bool>(false);  // touched on the loop thread only
    std::future<T> future = promise->get_future();
    Post([start = std::move(start), promise, answered] {
      start([promise, answered](T value) {
        if (*answered) return;
        *answered = true;
        promise->set_value(std::move(value));
      });
    });
    if (future.wait_for(timeout) != std::future_status::ready) return std::nullopt;
    return future.get();
  }

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace swg::supervisor
