#include "tests/unit/testutil.h"

#include <doctest/doctest.h>
#include <stdlib.h>

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
