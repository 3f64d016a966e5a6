#include "tests/unit/testutil.h"

#include <doctest/doctest.h>
#include <stdlib.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <filesystem>

namespace swg::test {

TempDir::TempDir() {
  std::string tmpl = std::filesystem::temp_directory_path().string() + "/swg-test-XXXXXX";
  char* p = mkdtemp(tmpl.data());
  REQUIRE(p != nullptr);
  path_ = p;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

bool ReadSome(int fd, std::string* out) {
  char buf[65536];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n > 0) {
      out->append(buf, static_cast<size_t>(n));
      continue;
    }
    return n < 0 && errno == EAGAIN;
  }
}

std::string Shell(const std::string& command) {
  FILE* f = popen(command.c_str(), "r");
  REQUIRE(f != nullptr);
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
  int status = pclose(f);
  INFO("command: ", command);
  CHECK(status == 0);
  return out;
}

}  // namespace swg::test
