#pragma once
// A thin RAII layer over the libuv loop and timers. Callbacks never run after their owner is destroyed:
// libuv handles are closed asynchronously and freed in their close callback.
//
// Code that needs raw libuv (the curl integration, pipes, signals) includes <uv.h> in its .cc and uses uv().

#include <chrono>
#include <functional>
#include <optional>

struct uv_loop_s;

namespace swg {

class Loop {
 public:
  Loop();
  ~Loop();  // closes the remaining handles and runs the loop until they are freed
  Loop(const Loop&) = delete;
  Loop& operator=(const Loop&) = delete;

  uv_loop_s* uv() { return loop_; }
  void Run();   // until Stop() or until no active handles remain
  void Stop();  // Run() returns after the current iteration
  // Runs until `done()` is true or `timeout` passes; returns done(). For tests and bounded waits.
  bool RunUntil(const std::function<bool()>& done, std::chrono::milliseconds timeout);
  std::chrono::steady_clock::time_point Now() const;

 private:
  uv_loop_s* loop_;
};

class Timer {
 public:
  explicit Timer(Loop& loop);
  ~Timer();
  Timer(const Timer&) = delete;
  Timer& operator=(const Timer&) = delete;

  void Start(std::chrono::milliseconds delay, std::function<void()> callback);  // one-shot; restarts if active
  void StartRepeating(std::chrono::milliseconds interval, std::function<void()> callback);
  void Stop();
  bool active() const;
  // Keeps the loop from exiting only while other handles are active (see uv_unref).
  void Unref();

 private:
  struct Impl;
  Impl* impl_;  // owned; freed by the close callback
};

// Work that runs at most once per window counted from the end of its last run (a share of the CPU, under a
// burst): a request after a quiet spell runs at once, one within the window waits for the rest of it.
class RunWindow {
 public:
  explicit RunWindow(std::chrono::milliseconds window) : window_(window) {}
  std::chrono::milliseconds Delay() const;  // how long a request made now waits: 0 when idle
  void Ended() { last_end_ = std::chrono::steady_clock::now(); }  // a run ended now

 private:
  std::chrono::milliseconds window_;
  std::optional<std::chrono::steady_clock::time_point> last_end_;  // none before the first run
};

}  // namespace swg
