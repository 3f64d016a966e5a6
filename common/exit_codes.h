#pragma once
// Process exit codes shared by the supervisor and its workers.

#include <functional>

namespace swg {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;
// A configuration error: the supervisor does not restart a worker that exits with it, and the systemd unit
// lists it (with kExitUsage) in RestartPreventExitStatus. EX_CONFIG from sysexits.h.
inline constexpr int kExitConfig = 78;

// getenv, injectable for tests.
using GetEnv = std::function<const char*(const char*)>;

}  // namespace swg
