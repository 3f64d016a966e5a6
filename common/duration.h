#pragma once
// Durations written the way Go's time.ParseDuration reads them ("30s", "1m30s", "1.5h", "250ms"), which is
// what the original's configuration accepts.

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace swg {

// Non-negative durations only; nullopt on anything else (negative, unknown unit, overflow).
std::optional<std::chrono::nanoseconds> ParseDuration(std::string_view text);

// Go's formatting: "0s", "1m30s", "1h0m0s", "250ms", "1.5s".
std::string FormatDuration(std::chrono::nanoseconds d);

}  // namespace swg
