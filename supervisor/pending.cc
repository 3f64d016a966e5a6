// Commands whose implementation lands with the daemon (issue 5). Until then they say so and fail.
#include <cstdio>

#include "supervisor/commands.h"

namespace swg {

static int NotYet(const char* what) {
  std::fprintf(stderr, "semaphore-wireguard: %s is not available in this build yet\n", what);
  return kExitFailure;
}

int RunWorkerCommand(const std::vector<std::string>&, const GetEnv&) { return NotYet("worker mode"); }

}  // namespace swg
