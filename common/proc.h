#pragma once
// What /proc/PID/stat says about a process.

#include <sys/types.h>

#include <cstdint>
#include <optional>

namespace swg {

// The process state letter ('R', 'S', 'Z'...); nullopt when the process is gone or unreadable.
std::optional<char> ProcessState(pid_t pid);
// The parent pid; nullopt when the process is gone or unreadable.
std::optional<pid_t> ParentPid(pid_t pid);

// What the Prometheus process_* metrics report, for any process we may read (ours, our children).
struct ProcessStats {
  double cpu_seconds = 0;         // user + system
  uint64_t resident_bytes = 0;
  uint64_t virtual_bytes = 0;
  double start_time_seconds = 0;  // since the Unix epoch
  uint64_t open_fds = 0;
  uint64_t max_fds = 0;           // the soft limit
};
std::optional<ProcessStats> ReadProcessStats(pid_t pid);

}  // namespace swg
