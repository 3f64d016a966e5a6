#pragma once
// glibc malloc settings for a long-lived daemon, and giving freed memory back to the system.
//
// By default glibc raises its mmap and trim thresholds each time a large block is freed (up to 32 MB and
// 64 MB): after the initial list of thousands of Nodes, or one /metrics scrape of thousands of peers, the
// worker kept tens of megabytes of free heap resident for good. Fixed thresholds stop that: blocks from
// kMmapThreshold up are mapped on their own and unmapped when freed, and a free top of the heap above
// kTrimThreshold is returned at once. Free pages between live blocks only go back with malloc_trim.

#include <chrono>
#include <cstddef>
#include <functional>

#include "common/loop.h"

namespace swg::memory {

inline constexpr int kMmapThreshold = 256 * 1024;
inline constexpr int kTrimThreshold = 256 * 1024;

// Fixed thresholds (above); `max_arenas` > 0 also caps malloc's arenas: each thread that allocates otherwise
// gets an arena of its own, about 70 KiB resident even when almost idle.
void ConfigureMalloc(int max_arenas);

// Free bytes malloc keeps inside its heaps (not counting blocks mapped on their own).
size_t FreeHeapBytes();

// malloc_trim(0) when more than `min_free` bytes are free inside the heaps; returns whether it trimmed.
bool ReleaseFreeMemory(size_t min_free);

// Called now and then (a timer): trims when this process's resident anonymous memory grew by more than
// `min_growth` since the last trim (or since the least seen after it) and at least that much is free inside
// the heaps. Free fragments smaller than a page count as free but cannot be returned: a plain threshold on
// the free bytes would trim again at every call for nothing, and one on their growth would miss a burst that
// reused the freed pages and freed them again.
class Releaser {
 public:
  explicit Releaser(size_t min_growth) : min_growth_(min_growth) {}
  bool Tick();  // returns whether it trimmed
  void Trim();  // now, whatever the counts (after a known burst)

 private:
  size_t min_growth_;
  size_t resident_ = 0;  // resident anonymous bytes after the last trim, or the least seen since
};

// A Releaser ticked every `interval` on `loop`, after `before` (work that drops memory first, if any). It
// does not keep the loop running.
class ReleaseTimer {
 public:
  ReleaseTimer(Loop& loop, size_t min_growth, std::chrono::milliseconds interval, std::function<void()> before = {});
  void Trim() { releaser_.Trim(); }  // now (after a known burst)

 private:
  Releaser releaser_;
  Timer timer_;
};

// Resident anonymous (and shared memory) bytes of this process, from /proc/self/statm; 0 if unreadable.
size_t ResidentAnonBytes();

}  // namespace swg::memory
