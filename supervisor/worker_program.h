#pragma once
// The second program, semaphore-wireguard-worker, installed beside semaphore-wireguard: it runs the workers and
// the commands that need libcurl or netlink (mesh, diagnose, wireguard-go-keeper). The supervisor does not
// link those libraries, and their dozens of shared objects, so that it stays small (README, Memory): the
// commands that need them are exec'd into that program, with the same arguments.

#include <string>
#include <vector>

#include "common/result.h"

namespace swg::supervisor {

inline constexpr const char* kWorkerProgram = "semaphore-wireguard-worker";

// The worker program beside this executable (the directory of /proc/self/exe).
std::string WorkerProgramPath();

// Replaces this process with the worker program, argv[0] kept (usage messages name the command the user ran).
// Returns only on failure, after saying why on stderr: the exit code to use.
int ExecWorkerProgram(int argc, char** argv);

// The worker program, opened once when the supervisor starts: every worker it starts, for as long as it runs,
// is that file, even after a package upgrade replaced the one on disk (a supervisor and its workers always
// come from one build). exec_path is /proc/self/fd/N; path is what it was opened as.
class OpenedProgram {
 public:
  // An error names the path and says what is wrong with it (missing, not executable, not an ELF program).
  static Result<OpenedProgram> Open(const std::string& path);
  OpenedProgram(OpenedProgram&& other) noexcept;
  OpenedProgram& operator=(OpenedProgram&& other) noexcept;
  OpenedProgram(const OpenedProgram&) = delete;
  OpenedProgram& operator=(const OpenedProgram&) = delete;
  ~OpenedProgram();

  const std::string& path() const { return path_; }
  std::string exec_path() const;

 private:
  OpenedProgram(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  int fd_ = -1;
  std::string path_;
};

}  // namespace swg::supervisor
