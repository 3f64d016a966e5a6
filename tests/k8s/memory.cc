#include "tests/k8s/memory.h"

#include <doctest/doctest.h>
#include <malloc.h>

#include <fstream>
#include <string>

namespace swg::test {
namespace {

size_t StatusKb(const char* field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  const std::string prefix = std::string(field) + ":";
  while (std::getline(in, line)) {
    if (line.rfind(prefix, 0) == 0) return std::stoul(line.substr(prefix.size()));
  }
  FAIL("no ", field, " in /proc/self/status");
  return 0;
}

}  // namespace

RssPeak::RssPeak() {
  malloc_trim(0);
  std::ofstream clear("/proc/self/clear_refs");
  clear << "5";  // resets VmHWM to the current RSS (Linux 4.0)
  clear.close();
  REQUIRE(clear.good());
  base_kb_ = StatusKb("VmRSS");
}

size_t RssPeak::growth_bytes() const {
  size_t peak = StatusKb("VmHWM");
  return (peak > base_kb_ ? peak - base_kb_ : 0) * 1024;
}

void CheckGrowthBelow(size_t growth, size_t bound) {
  if (!kRssMeasuresUse) {
    MESSAGE("peak memory growth not checked under AddressSanitizer (+", growth >> 10, " KiB here)");
    return;
  }
  CHECK(growth < bound);
}

}  // namespace swg::test
