#include "worker/wg/wireguard_go.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "common/files.h"
#include "common/strings.h"

extern char** environ;

namespace swg::wg {
namespace {

Result<std::string> Resolve(const std::string& binary) {
  if (binary.find('/') != std::string::npos) {
    if (access(binary.c_str(), X_OK) == 0) return binary;
    return Error{"cannot start " + binary + ": " + ErrnoText(errno), errno};
  }
  const char* path = getenv("PATH");
  for (std::string_view dir :
       Split(path && *path ? path : "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin", ':')) {
    std::string candidate = std::string(dir.empty() ? "." : dir) + "/" + binary;
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return Error{"cannot start " + binary + ": not found in PATH", ENOENT};
}

// wireguard-go takes an inherited TUN and socket from WG_TUN_FD / WG_UAPI_FD: never pass the worker's on.
bool Dropped(std::string_view entry) {
  for (std::string_view key : {"WG_TUN_FD=", "WG_UAPI_FD=", "WG_PROCESS_FOREGROUND=", "LOG_LEVEL="}) {
    if (StartsWith(entry, key)) return true;
  }
  return false;
}

// Moves a descriptor to 3 or above, so that setting up 0-2 in the child cannot clobber it.
int AboveStdio(int fd) {
  if (fd > 2) return fd;
  int moved = fcntl(fd, F_DUPFD_CLOEXEC, 3);
  close(fd);
  return moved;
}

bool ReadAll(int fd, void* buf, size_t size) {
  auto* p = static_cast<char*>(buf);
  while (size > 0) {
    ssize_t n = read(fd, p, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

// Runs in the grandchild between fork and exec: async-signal-safe calls only, nothing allocated.
[[noreturn]] void ExecChild(const char* path, char* const argv[], char* const envp[], int report) {
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; ++sig) sigaction(sig, &dfl, nullptr);
  int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (devnull >= 0) {
    dup2(devnull, 0);
    dup2(devnull, 1);
  }
  if (report > 3) close_range(3, static_cast<unsigned>(report - 1), 0);
  close_range(static_cast<unsigned>(report + 1), ~0u, 0);
  execve(path, argv, envp);
  int err = errno;
  (void)!write(report, &err, sizeof err);
  _exit(127);
}

}  // namespace

Result<pid_t> SpawnWireguardGo(const std::string& binary, const std::string& name) {
  auto path = Resolve(binary);
  if (!path) return std::move(path).error();
  std::vector<std::string> args = {*path, "-f", name};
  std::vector<std::string> env = {"LOG_LEVEL=error", "WG_PROCESS_FOREGROUND=1"};
  for (char** e = environ; e && *e; ++e) {
    if (!Dropped(*e)) env.emplace_back(*e);
  }
  std::vector<char*> argv, envp;
  for (auto& a : args) argv.push_back(a.data());
  for (auto& e : env) envp.push_back(e.data());
  argv.push_back(nullptr);
  envp.push_back(nullptr);

  // Two pipes: the intermediate process reports the pid on one; on the other the grandchild reports exec's
  // errno, or nothing (exec closes it). Separate, so the two reports cannot arrive out of order.
  int fds[4];
  if (pipe2(fds, O_CLOEXEC) < 0 || pipe2(fds + 2, O_CLOEXEC) < 0) {
    return Error{"cannot start wireguard-go: pipe: " + ErrnoText(errno), errno};
  }
  for (int& fd : fds) fd = AboveStdio(fd);
  const int pid_read = fds[0], pid_write = fds[1], exec_read = fds[2], exec_write = fds[3];
  pid_t middle = fork();
  if (middle < 0) {
    int err = errno;
    for (int fd : fds) close(fd);
    return Error{"cannot start wireguard-go: fork: " + ErrnoText(err), err};
  }
  if (middle == 0) {
    // The intermediate process: a new session, one more fork, and exit, so wireguard-go is reparented to
    // init (or the nearest subreaper) and the worker never has to reap it.
    setsid();
    pid_t pid = fork();
    if (pid == 0) ExecChild(argv[0], argv.data(), envp.data(), exec_write);
    if (pid < 0) pid = -errno;
    (void)!write(pid_write, &pid, sizeof pid);
    _exit(0);
  }
  close(pid_write);
  close(exec_write);
  while (waitpid(middle, nullptr, 0) < 0 && errno == EINTR) {
  }
  pid_t pid = 0;
  int exec_errno = 0;
  bool have_pid = ReadAll(pid_read, &pid, sizeof pid);
  // Returns at exec (end of file) or with exec's errno.
  bool exec_failed = have_pid && pid > 0 && ReadAll(exec_read, &exec_errno, sizeof exec_errno);
  close(pid_read);
  close(exec_read);
  if (!have_pid) return Error{"cannot start wireguard-go: no report from the forked process", ECHILD};
  if (pid < 0) return Error{"cannot start wireguard-go: fork: " + ErrnoText(-pid), -pid};
  if (exec_failed) return Error{"cannot start " + *path + ": " + ErrnoText(exec_errno), exec_errno};
  return pid;
}

}  // namespace swg::wg
