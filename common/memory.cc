#include "common/memory.h"

#include <malloc.h>
#include <unistd.h>

#include <cstdio>

namespace swg::memory {

void ConfigureMalloc(int max_arenas) {
  // Setting either threshold turns glibc's dynamic adjustment of both off (mallopt(3)).
  mallopt(M_MMAP_THRESHOLD, kMmapThreshold);
  mallopt(M_TRIM_THRESHOLD, kTrimThreshold);
  if (max_arenas > 0) mallopt(M_ARENA_MAX, max_arenas);
}

size_t FreeHeapBytes() {
  struct mallinfo2 mi = mallinfo2();
  return mi.fordblks + mi.fsmblks;
}

bool ReleaseFreeMemory(size_t min_free) {
  if (FreeHeapBytes() <= min_free) return false;
  malloc_trim(0);
  return true;
}

size_t ResidentAnonBytes() {
  FILE* f = std::fopen("/proc/self/statm", "re");
  if (!f) return 0;
  unsigned long size = 0, resident = 0, shared = 0;
  int n = std::fscanf(f, "%lu %lu %lu", &size, &resident, &shared);
  std::fclose(f);
  if (n != 3 || shared > resident) return 0;
  return (resident - shared) * static_cast<size_t>(sysconf(_SC_PAGESIZE));
}

bool Releaser::Tick() {
  const size_t resident = ResidentAnonBytes();
  if (resident < resident_) resident_ = resident;
  if (resident <= resident_ + min_growth_) return false;
  if (FreeHeapBytes() <= min_growth_) {
    resident_ = resident;  // grown by live data: nothing to return
    return false;
  }
  Trim();
  return true;
}

void Releaser::Trim() {
  malloc_trim(0);
  resident_ = ResidentAnonBytes();
}

ReleaseTimer::ReleaseTimer(Loop& loop, size_t min_growth, std::chrono::milliseconds interval,
                           std::function<void()> before)
    : releaser_(min_growth), timer_(loop) {
  timer_.StartRepeating(interval, [this, before = std::move(before)] {
    if (before) before();
    releaser_.Tick();
  });
  timer_.Unref();
}

}  // namespace swg::memory
