#pragma once
// What /proc/PID/stat says about a process.

#include <sys/types.h>

#include <optional>

namespace swg {

// The process state letter ('R', 'S', 'Z'...); nullopt when the process is gone or unreadable.
std::optional<char> ProcessState(pid_t pid);
// The parent pid; nullopt when the process is gone or unreadable.
std::optional<pid_t> ParentPid(pid_t pid);

}  // namespace swg
