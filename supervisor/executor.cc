#include "supervisor/executor.h"

#include <uv.h>

#include <mutex>
#include <vector>

namespace swg::supervisor {

struct LoopExecutor::Impl {
  std::mutex mu;
  std::vector<std::function<void()>> queue;
  uv_async_t* async = nullptr;  // null once closed
};

namespace {
struct AsyncHandle {
  uv_async_t async;
  std::shared_ptr<LoopExecutor::Impl> impl;
};
}  // namespace

LoopExecutor::LoopExecutor(Loop& loop) : impl_(std::make_shared<Impl>()) {
  auto* h = new AsyncHandle;
  h->impl = impl_;
  h->async.data = h;
  uv_async_init(loop.uv(), &h->async, [](uv_async_t* a) {
    auto* handle = static_cast<AsyncHandle*>(a->data);
    std::vector<std::function<void()>> work;
    {
      std::lock_guard<std::mutex> lock(handle->impl->mu);
      work.swap(handle->impl->queue);
    }
    for (auto& fn : work) fn();
  });
  impl_->async = &h->async;
}

LoopExecutor::~LoopExecutor() {
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->queue.clear();
  uv_close(reinterpret_cast<uv_handle_t*>(impl_->async),
           [](uv_handle_t* h) { delete static_cast<AsyncHandle*>(h->data); });
  impl_->async = nullptr;
}

void LoopExecutor::Post(std::function<void()> fn) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  if (!impl_->async) return;
  impl_->queue.push_back(std::move(fn));
  uv_async_send(impl_->async);
}

}  // namespace swg::supervisor
