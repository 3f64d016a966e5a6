#include <doctest/doctest.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "common/memory.h"

// AddressSanitizer replaces malloc: neither glibc's counters nor malloc_trim apply there.
#if !defined(__SANITIZE_ADDRESS__)
namespace {

// RssAnon of this process, in KiB: what the daemon's figures are made of.
long RssAnonKiB() {
  std::ifstream in("/proc/self/status");
  std::string key;
  long value = -1;
  while (in >> key) {
    if (key == "RssAnon:") {
      in >> value;
      break;
    }
    std::getline(in, key);
  }
  return value;
}

// 16 MiB in small blocks, as a parsed list leaves them, each page pinned by a live block after it, so that
// trimming the top of the heap alone cannot return them; `live` keeps the pins.
void MakeGarbage(std::vector<std::unique_ptr<char[]>>& live) {
  constexpr size_t kBlock = 2048, kBlocks = 8192;
  std::vector<std::unique_ptr<char[]>> garbage;
  for (size_t i = 0; i < kBlocks; ++i) {
    garbage.emplace_back(new char[kBlock]);
    std::fill_n(garbage.back().get(), kBlock, static_cast<char>(i));
    if (i % 16 == 15) live.emplace_back(new char[64]);
  }
}

}  // namespace

TEST_CASE("free pages between live blocks go back to the system") {
  swg::memory::ConfigureMalloc(0);
  std::vector<std::unique_ptr<char[]>> live;
  MakeGarbage(live);
  CHECK(swg::memory::FreeHeapBytes() > 12 * 1024 * 1024);
  CHECK_FALSE(swg::memory::ReleaseFreeMemory(1024UL * 1024 * 1024));  // under the bound: left alone
  const long before = RssAnonKiB();
  CHECK(swg::memory::ReleaseFreeMemory(1024 * 1024));
  const long after = RssAnonKiB();
  INFO("RssAnon before " << before << " KiB, after " << after << " KiB");
  CHECK(before - after > 10 * 1024);
  // Large blocks are mapped on their own: freeing one returns it at once, whatever was freed before.
  const long base = RssAnonKiB();
  {
    std::unique_ptr<char[]> big(new char[32 * 1024 * 1024]);
    std::fill_n(big.get(), 32 * 1024 * 1024, 'x');
    CHECK(RssAnonKiB() - base > 30 * 1024);
  }
  CHECK(RssAnonKiB() - base < 1024);
}

TEST_CASE("the releaser trims when garbage grew, not again for the fragments it cannot return") {
  swg::memory::ConfigureMalloc(0);
  std::vector<std::unique_ptr<char[]>> live;
  swg::memory::Releaser releaser(1024 * 1024);
  releaser.Trim();
  CHECK_FALSE(releaser.Tick());
  MakeGarbage(live);
  long before = RssAnonKiB();
  CHECK(releaser.Tick());
  CHECK(before - RssAnonKiB() > 10 * 1024);
  CHECK_FALSE(releaser.Tick());  // the same free bytes: nothing new to return
  MakeGarbage(live);             // reuses the free pages, then frees them again
  before = RssAnonKiB();
  CHECK(releaser.Tick());
  CHECK(before - RssAnonKiB() > 10 * 1024);
}
#endif
