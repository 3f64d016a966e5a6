#pragma once
// Memory figures of the test process, for tests that bound what a hostile server can make the client take.

#include <cstddef>

namespace swg::test {

// False under AddressSanitizer: its quarantine keeps freed memory resident (256 MB by default) and its redzones
// pad every block, so the process's RSS no longer tells what the code itself uses. Tests then print the figure
// and say it is not checked.
#if defined(__SANITIZE_ADDRESS__)
inline constexpr bool kRssMeasuresUse = false;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
inline constexpr bool kRssMeasuresUse = false;
#else
inline constexpr bool kRssMeasuresUse = true;
#endif
#else
inline constexpr bool kRssMeasuresUse = true;
#endif

// Checks that `growth` stays under `bound` where RSS measures use (see above); says so where it does not.
void CheckGrowthBelow(size_t growth, size_t bound);

// How much this process's peak resident memory grows from construction on. Freed memory is first returned to
// the kernel (malloc_trim) so the baseline is what is in use, then the kernel's peak (VmHWM) is reset.
class RssPeak {
 public:
  RssPeak();
  size_t growth_bytes() const;  // peak since construction minus the baseline

 private:
  size_t base_kb_ = 0;
};

}  // namespace swg::test
