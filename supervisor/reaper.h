#pragma once
// Reaps the children this process did not start itself. The supervisor is a child subreaper
// (PR_SET_CHILD_SUBREAPER), and in a container it is PID 1: either way the wireguard-go processes that workers
// double-fork are reparented to it, and when one exits it stays a zombie until someone waits for it.
// libuv waits for the processes it started (by pid, on SIGCHLD); this waits only for the others, by pid, so it
// never takes an exit status that libuv is owed.

#include <sys/types.h>

#include <functional>
#include <memory>

#include "common/loop.h"

namespace swg::supervisor {

class OrphanReaper {
 public:
  // `is_own(pid)` is true for the children libuv started (the workers): those are left alone.
  OrphanReaper(Loop& loop, std::function<bool(pid_t)> is_own);
  ~OrphanReaper();
  OrphanReaper(const OrphanReaper&) = delete;
  OrphanReaper& operator=(const OrphanReaper&) = delete;

  // Becomes a subreaper and starts reaping on SIGCHLD (and every few seconds, in case a signal was merged).
  void Start();
  // Waits for every zombie child that is not `is_own`; returns how many were reaped.
  int ReapNow();

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace swg::supervisor
