#include "common/proc.h"

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

}  // namespace swg
