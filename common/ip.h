#pragma once
// IPv4/IPv6 addresses, CIDRs and endpoints. Pure functions, strict parsing: the same code validates the
// configuration and what remote nodes advertise, so anything unusual is rejected rather than guessed at.

#include <array>
#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace swg {

struct IpAddr {
  enum class Family : uint8_t { kV4 = 4, kV6 = 6 };
  Family family = Family::kV4;
  std::array<uint8_t, 16> bytes{};  // IPv4 uses the first 4 bytes, the rest stay zero

  // Numeric only: dotted quad or RFC 4291 text; no zone index, no brackets, no surrounding spaces.
  static std::optional<IpAddr> Parse(std::string_view text);
  bool is_v4() const { return family == Family::kV4; }
  bool IsV4Mapped() const;  // ::ffff:a.b.c.d, an IPv4 address written as IPv6
  unsigned bits() const { return is_v4() ? 32 : 128; }
  size_t size() const { return is_v4() ? 4 : 16; }
  std::string ToString() const;
  auto operator<=>(const IpAddr&) const = default;  // NOLINT(modernize-use-nullptr): clang-tidy 14 bug
};

struct Cidr {
  IpAddr addr;
  uint8_t prefix = 0;

  // "addr/prefix" with a decimal prefix in range. Host bits are allowed here; see HasHostBits/Normalized.
  static std::optional<Cidr> Parse(std::string_view text);
  bool HasHostBits() const;
  Cidr Normalized() const;  // host bits cleared
  bool Contains(const IpAddr& ip) const;
  bool Contains(const Cidr& other) const;  // other lies entirely inside this
  bool Overlaps(const Cidr& other) const;
  // Overlaps ::ffff:0:0/96, the IPv4-mapped IPv6 addresses: an IPv6 range that stands for IPv4 addresses.
  bool OverlapsV4Mapped() const;
  std::string ToString() const;
  auto operator<=>(const Cidr&) const = default;  // NOLINT(modernize-use-nullptr): clang-tidy 14 bug
};

struct Endpoint {
  IpAddr addr;
  uint16_t port = 0;

  // Numeric "a.b.c.d:port" or "[v6]:port", port 1..65535. Host names are refused.
  static std::optional<Endpoint> Parse(std::string_view text);
  std::string ToString() const;  // IPv6 in brackets
  auto operator<=>(const Endpoint&) const = default;
};

// "IPv4" or "IPv6", for messages.
const char* FamilyName(IpAddr::Family family);

std::string FormatEndpoint(const IpAddr& addr, uint16_t port);

}  // namespace swg
