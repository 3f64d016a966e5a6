#include "supervisor/reaper.h"

#include <dirent.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "common/files.h"
#include "common/log.h"
#include "common/proc.h"
#include "common/strings.h"

namespace swg::supervisor {
namespace {

template <typename F>
void ForEachEntry(const char* dir, F&& f) {
  DIR* d = opendir(dir);
  if (!d) return;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] != '.') f(std::string(e->d_name));
  }
  closedir(d);
}

// Children of this process, from /proc/self/task/*/children (an orphan is adopted by one of our threads), or
// by a scan of /proc where the kernel lacks that file (CONFIG_PROC_CHILDREN).
std::vector<pid_t> Children() {
  std::vector<pid_t> out;
  bool have_file = false;
  ForEachEntry("/proc/self/task", [&](const std::string& tid) {
    auto text = ReadFile("/proc/self/task/" + tid + "/children", 1 << 20);
    if (!text.ok()) return;
    have_file = true;
    for (std::string_view word : Split(*text, ' ')) {
      if (auto pid = ParseUint(Trim(word), 1u << 30)) out.push_back(static_cast<pid_t>(*pid));
    }
  });
  if (have_file) return out;
  const pid_t self = getpid();
  ForEachEntry("/proc", [&](const std::string& name) {
    if (name[0] < '0' || name[0] > '9') return;
    auto pid = static_cast<pid_t>(std::stol(name));
    if (ParentPid(pid) == self) out.push_back(pid);
  });
  return out;
}

std::string ExitText(int status) {
  if (WIFSIGNALED(status)) {
    const char* name = sigabbrev_np(WTERMSIG(status));
    return std::string("killed by signal ") + (name ? std::string("SIG") + name : std::to_string(WTERMSIG(status)));
  }
  return "exited with code " + std::to_string(WEXITSTATUS(status));
}

}  // namespace

struct OrphanReaper::Impl {
  explicit Impl(Loop& l) : loop(l), timer(l) {}
  Loop& loop;
  std::function<bool(pid_t)> is_own;
  uv_signal_t* signal = nullptr;
  Timer timer;
};

OrphanReaper::OrphanReaper(Loop& loop, std::function<bool(pid_t)> is_own) : impl_(std::make_unique<Impl>(loop)) {
  impl_->is_own = std::move(is_own);
}

OrphanReaper::~OrphanReaper() {
  if (impl_->signal) {
    uv_signal_stop(impl_->signal);
    uv_close(reinterpret_cast<uv_handle_t*>(impl_->signal),
             [](uv_handle_t* h) { delete reinterpret_cast<uv_signal_t*>(h); });
  }
}

void OrphanReaper::Start() {
  if (getpid() != 1 && prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) {
    log::Warn("cannot become a child subreaper; orphans go to init", {{"error", ErrnoText(errno)}});
  }
  impl_->signal = new uv_signal_t;
  uv_signal_init(impl_->loop.uv(), impl_->signal);
  impl_->signal->data = this;
  // libuv keeps its own SIGCHLD handler for the processes it started; a second watcher is allowed.
  uv_signal_start(impl_->signal, [](uv_signal_t* s, int) { static_cast<OrphanReaper*>(s->data)->ReapNow(); },
                  SIGCHLD);
  impl_->timer.StartRepeating(std::chrono::seconds(5), [this] { ReapNow(); });
  ReapNow();  // orphans adopted before we started
}

int OrphanReaper::ReapNow() {
  int reaped = 0;
  for (pid_t pid : Children()) {
    if (impl_->is_own && impl_->is_own(pid)) continue;
    if (ProcessState(pid) != 'Z') continue;
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid) {
      reaped++;
      log::Debug("reaped an adopted process", {{"pid", std::to_string(pid)}, {"exit", ExitText(status)}});
    }
  }
  return reaped;
}

}  // namespace swg::supervisor
