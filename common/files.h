#pragma once
// File helpers with errors that name the path.

#include <sys/types.h>

#include <string>

#include "common/result.h"

namespace swg {

// Whole file, refusing files larger than max_bytes.
Result<std::string> ReadFile(const std::string& path, size_t max_bytes = 16u << 20);

// Writes `content` to a temporary file in the same directory with `mode`, fsyncs it, renames it over `path`
// and fsyncs the directory, so readers see either the old or the new file, never a partial one.
Status WriteFileAtomic(const std::string& path, std::string_view content, mode_t mode);

// Creates `dir` (and missing parents) with `mode` when absent; an existing directory is left as it is.
Status EnsureDirectory(const std::string& dir, mode_t mode);
// The same, and the directory's mode is exactly 0700 afterwards even when it existed with another (logged,
// with the mode it had).
Status EnsurePrivateDirectory(const std::string& dir);

std::string ErrnoText(int err);

}  // namespace swg
