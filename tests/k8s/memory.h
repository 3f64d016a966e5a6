#pragma once
// Memory figures of the test process, for tests that bound what a hostile server can make the client take.

#include <cstddef>

namespace swg::test {

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
