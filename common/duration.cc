#include "common/duration.h"

#include <cstdint>

namespace swg {
namespace {

struct Unit {
  std::string_view name;
  uint64_t ns;
};
constexpr Unit kUnits[] = {{"ns", 1},
                           {"us", 1000},
                           {"\xc2\xb5s", 1000},  // U+00B5 micro sign
                           {"\xce\xbcs", 1000},  // U+03BC Greek mu
                           {"ms", 1000000},
                           {"s", 1000000000ull},
                           {"m", 60ull * 1000000000ull},
                           {"h", 3600ull * 1000000000ull}};

std::string FormatFraction(uint64_t v, uint64_t scale) {
  // "1.5" for v=1500, scale=1000: integer part plus fraction without trailing zeros.
  std::string out = std::to_string(v / scale);
  uint64_t frac = v % scale;
  if (frac != 0) {
    std::string f;
    for (uint64_t s = scale / 10; s > 0; s /= 10) {
      f += static_cast<char>('0' + (frac / s) % 10);
    }
    while (!f.empty() && f.back() == '0') f.pop_back();
    out += "." + f;
  }
  return out;
}

}  // namespace

std::optional<std::chrono::nanoseconds> ParseDuration(std::string_view s) {
  if (s.empty()) return std::nullopt;
  if (s.front() == '+') s.remove_prefix(1);
  if (s == "0") return std::chrono::nanoseconds(0);
  if (s.empty()) return std::nullopt;
  constexpr uint64_t kMax = static_cast<uint64_t>(INT64_MAX);
  uint64_t total = 0;
  while (!s.empty()) {
    uint64_t whole = 0;
    bool digits = false;
    while (!s.empty() && s.front() >= '0' && s.front() <= '9') {
      uint64_t d = static_cast<uint64_t>(s.front() - '0');
      if (whole > (kMax - d) / 10) return std::nullopt;
      whole = whole * 10 + d;
      digits = true;
      s.remove_prefix(1);
    }
    uint64_t frac = 0, frac_scale = 1;
    if (!s.empty() && s.front() == '.') {
      s.remove_prefix(1);
      while (!s.empty() && s.front() >= '0' && s.front() <= '9') {
        if (frac_scale < 1000000000000000000ull) {
          frac = frac * 10 + static_cast<uint64_t>(s.front() - '0');
          frac_scale *= 10;
        }
        digits = true;
        s.remove_prefix(1);
      }
    }
    if (!digits) return std::nullopt;
    const Unit* unit = nullptr;
    for (const auto& u : kUnits) {
      // Longest match first matters for "ms" vs "m": check two-character units before one-character ones.
      if (s.substr(0, u.name.size()) == u.name && (!unit || u.name.size() > unit->name.size())) unit = &u;
    }
    if (!unit) return std::nullopt;
    s.remove_prefix(unit->name.size());
    if (whole > kMax / unit->ns) return std::nullopt;
    uint64_t v = whole * unit->ns;
    // Fraction: frac/frac_scale of a unit, computed without overflow for the units we have.
    v += static_cast<uint64_t>(static_cast<long double>(frac) * static_cast<long double>(unit->ns) /
                               static_cast<long double>(frac_scale));
    if (v > kMax - total) return std::nullopt;
    total += v;
  }
  return std::chrono::nanoseconds(static_cast<int64_t>(total));
}

std::string FormatDuration(std::chrono::nanoseconds d) {
  int64_t n = d.count();
  if (n == 0) return "0s";
  bool neg = n < 0;
  uint64_t u = neg ? static_cast<uint64_t>(-(n + 1)) + 1 : static_cast<uint64_t>(n);
  std::string out;
  if (u < 1000000000ull) {
    if (u < 1000) {
      out = std::to_string(u) + "ns";
    } else if (u < 1000000) {
      out = FormatFraction(u, 1000) + "\xc2\xb5s";
    } else {
      out = FormatFraction(u, 1000000) + "ms";
    }
  } else {
    uint64_t hours = u / 3600000000000ull;
    u %= 3600000000000ull;
    uint64_t minutes = u / 60000000000ull;
    u %= 60000000000ull;
    std::string sec = FormatFraction(u, 1000000000ull) + "s";
    if (hours > 0) {
      out = std::to_string(hours) + "h" + std::to_string(minutes) + "m" + sec;
    } else if (minutes > 0) {
      out = std::to_string(minutes) + "m" + sec;
    } else {
      out = sec;
    }
  }
  return neg ? "-" + out : out;
}

}  // namespace swg
