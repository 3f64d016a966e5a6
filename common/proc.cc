#include "common/proc.h"

#include <dirent.h>
#include <unistd.h>

#include <string>
#include <string_view>

#include "common/files.h"
#include "common/strings.h"

namespace swg {
namespace {

// The fields after the parenthesised command, which may itself hold spaces and parentheses:
// "state ppid pgrp ...".
std::optional<std::string> FieldsAfterCommand(pid_t pid) {
  auto stat = ReadFile("/proc/" + std::to_string(pid) + "/stat", 4096);
  if (!stat.ok()) return std::nullopt;
  size_t close = stat->rfind(')');
  if (close == std::string::npos || close + 2 >= stat->size()) return std::nullopt;
  return stat->substr(close + 2);
}

// The boot time in Unix seconds ("btime" in /proc/stat): process start times count from it.
std::optional<uint64_t> BootTime() {
  auto stat = ReadFile("/proc/stat", 1 << 20);
  if (!stat.ok()) return std::nullopt;
  for (auto line : Split(*stat, '\n')) {
    if (line.starts_with("btime ")) return ParseUint(line.substr(6));
  }
  return std::nullopt;
}

uint64_t CountOpenFds(pid_t pid) {
  DIR* dir = opendir(("/proc/" + std::to_string(pid) + "/fd").c_str());
  if (!dir) return 0;
  uint64_t n = 0;
  while (dirent* e = readdir(dir)) {
    if (e->d_name[0] != '.') ++n;
  }
  closedir(dir);
  return n;
}

// "Max open files            1024                 524288               files" -> 1024.
uint64_t MaxOpenFds(pid_t pid) {
  auto limits = ReadFile("/proc/" + std::to_string(pid) + "/limits", 1 << 16);
  if (!limits.ok()) return 0;
  for (auto line : Split(*limits, '\n')) {
    if (!line.starts_with("Max open files")) continue;
    for (auto word : Split(line.substr(14), ' ')) {
      if (word.empty()) continue;
      return ParseUint(word).value_or(0);  // "unlimited" reads as 0: unknown
    }
  }
  return 0;
}

}  // namespace

std::optional<char> ProcessState(pid_t pid) {
  auto fields = FieldsAfterCommand(pid);
  if (!fields || fields->empty()) return std::nullopt;
  return (*fields)[0];
}

std::optional<pid_t> ParentPid(pid_t pid) {
  auto fields = FieldsAfterCommand(pid);
  if (!fields) return std::nullopt;
  auto words = Split(*fields, ' ');
  if (words.size() < 2) return std::nullopt;
  auto ppid = ParseUint(words[1], 1u << 30);
  if (!ppid) return std::nullopt;
  return static_cast<pid_t>(*ppid);
}

std::optional<ProcessStats> ReadProcessStats(pid_t pid) {
  auto fields = FieldsAfterCommand(pid);
  if (!fields) return std::nullopt;
  // Fields from the state on: state(0) ... utime(11) stime(12) ... starttime(19) vsize(20) rss(21), as proc(5)
  // numbers them from 3.
  auto words = Split(*fields, ' ');
  if (words.size() < 22) return std::nullopt;
  auto utime = ParseUint(words[11]), stime = ParseUint(words[12]), start = ParseUint(words[19]);
  auto vsize = ParseUint(words[20]), rss = ParseUint(words[21]);
  if (!utime || !stime || !start || !vsize || !rss) return std::nullopt;
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  const auto page = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  ProcessStats out;
  out.cpu_seconds = static_cast<double>(*utime + *stime) / ticks;
  out.resident_bytes = *rss * page;
  out.virtual_bytes = *vsize;
  out.start_time_seconds = static_cast<double>(BootTime().value_or(0)) + static_cast<double>(*start) / ticks;
  out.open_fds = CountOpenFds(pid);
  out.max_fds = MaxOpenFds(pid);
  return out;
}

}  // namespace swg
