#pragma once
// Helpers for unit tests: a temporary directory removed afterwards, reading a socket, running a shell command.

#include <string>

namespace swg::test {

class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Reads what a non-blocking socket holds into `out`; false once the peer has closed it (end of file or reset).
bool ReadSome(int fd, std::string* out);

// Runs `command` with /bin/sh, returns its stdout; a non-zero exit fails the current test.
std::string Shell(const std::string& command);

}  // namespace swg::test
