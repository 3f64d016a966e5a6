#include "supervisor/worker_program.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>
#include <utility>

#include "common/exit_codes.h"

namespace swg::supervisor {

std::string WorkerProgramPath() {
  char buf[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return std::string("/usr/bin/") + kWorkerProgram;  // no /proc: where the package puts it
  std::string self(buf, static_cast<size_t>(n));
  size_t slash = self.rfind('/');
  return (slash == std::string::npos ? std::string(".") : self.substr(0, slash)) + "/" + kWorkerProgram;
}

int ExecWorkerProgram(int argc, char** argv) {
  std::string path = WorkerProgramPath();
  std::vector<char*> args(argv, argv + argc);
  args.push_back(nullptr);
  execv(path.c_str(), args.data());
  int err = errno;
  std::fprintf(stderr, "%s: cannot run %s for `%s`: %s (it is installed beside %s)\n",
               argc > 0 ? argv[0] : "semaphore-wireguard", path.c_str(), argc > 1 ? argv[1] : "",
               std::strerror(err), argc > 0 ? argv[0] : "semaphore-wireguard");
  return kExitFailure;
}

Result<OpenedProgram> OpenedProgram::Open(const std::string& path) {
  auto fail = [&path](const std::string& why) {
    return Error{"cannot use " + path + " as the worker program: " + why};
  };
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return fail(std::strerror(errno));
  OpenedProgram program(fd, path);
  struct stat st {};
  if (fstat(fd, &st) != 0) return fail(std::strerror(errno));
  if (!S_ISREG(st.st_mode)) return fail("not a regular file");
  if ((st.st_mode & 0111) == 0) return fail("not executable");
  // Exec'd through /proc/self/fd with close-on-exec set, which the kernel allows for a program, not a script.
  char magic[4] = {};
  if (pread(fd, magic, sizeof magic, 0) != static_cast<ssize_t>(sizeof magic) ||
      std::memcmp(magic, "\x7f" "ELF", 4) != 0) {
    return fail("not an ELF program");
  }
  return program;
}

OpenedProgram::OpenedProgram(OpenedProgram&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), path_(std::move(other.path_)) {}

OpenedProgram& OpenedProgram::operator=(OpenedProgram&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) close(fd_);
    fd_ = std::exchange(other.fd_, -1);
    path_ = std::move(other.path_);
  }
  return *this;
}

OpenedProgram::~OpenedProgram() {
  if (fd_ >= 0) close(fd_);
}

std::string OpenedProgram::exec_path() const { return "/proc/self/fd/" + std::to_string(fd_); }

}  // namespace swg::supervisor
