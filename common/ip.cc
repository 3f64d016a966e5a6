#include "common/ip.h"

#include <arpa/inet.h>

#include <cstring>

#include "common/strings.h"

namespace swg {
namespace {

void ClearHostBits(IpAddr& a, unsigned prefix) {
  for (unsigned i = 0; i < a.size(); ++i) {
    unsigned first_bit = i * 8;
    if (first_bit >= prefix) {
      a.bytes[i] = 0;
    } else if (prefix - first_bit < 8) {
      a.bytes[i] = static_cast<uint8_t>(a.bytes[i] & (0xff << (8 - (prefix - first_bit))));
    }
  }
}

}  // namespace

std::optional<IpAddr> IpAddr::Parse(std::string_view text) {
  if (text.empty() || text.size() > 45) return std::nullopt;
  char buf[64];
  std::memcpy(buf, text.data(), text.size());
  buf[text.size()] = '\0';
  IpAddr ip;
  if (text.find(':') == std::string_view::npos) {
    if (inet_pton(AF_INET, buf, ip.bytes.data()) != 1) return std::nullopt;
    ip.family = Family::kV4;
  } else {
    if (inet_pton(AF_INET6, buf, ip.bytes.data()) != 1) return std::nullopt;
    ip.family = Family::kV6;
  }
  return ip;
}

bool IpAddr::IsV4Mapped() const {
  if (is_v4()) return false;
  for (size_t i = 0; i < 10; ++i) {
    if (bytes[i] != 0) return false;
  }
  return bytes[10] == 0xff && bytes[11] == 0xff;
}

const char* FamilyName(IpAddr::Family family) { return family == IpAddr::Family::kV4 ? "IPv4" : "IPv6"; }

std::string IpAddr::ToString() const {
  char buf[INET6_ADDRSTRLEN];
  inet_ntop(is_v4() ? AF_INET : AF_INET6, bytes.data(), buf, sizeof buf);
  return buf;
}

std::optional<Cidr> Cidr::Parse(std::string_view text) {
  size_t slash = text.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  auto ip = IpAddr::Parse(text.substr(0, slash));
  if (!ip) return std::nullopt;
  std::string_view p = text.substr(slash + 1);
  if (p.size() > 1 && p[0] == '0') return std::nullopt;
  auto prefix = ParseUint(p, ip->bits());
  if (!prefix || *prefix > ip->bits()) return std::nullopt;
  return Cidr{*ip, static_cast<uint8_t>(*prefix)};
}

bool Cidr::HasHostBits() const { return Normalized().addr != addr; }

Cidr Cidr::Normalized() const {
  Cidr c = *this;
  ClearHostBits(c.addr, prefix);
  return c;
}

bool Cidr::Contains(const IpAddr& ip) const {
  if (ip.family != addr.family) return false;
  IpAddr masked = ip;
  ClearHostBits(masked, prefix);
  return masked == Normalized().addr;
}

bool Cidr::Contains(const Cidr& other) const { return other.prefix >= prefix && Contains(other.addr); }

bool Cidr::Overlaps(const Cidr& other) const { return Contains(other) || other.Contains(*this); }

bool Cidr::OverlapsV4Mapped() const {
  static const Cidr kV4Mapped = *Cidr::Parse("::ffff:0:0/96");
  return Overlaps(kV4Mapped);
}

std::string Cidr::ToString() const { return addr.ToString() + "/" + std::to_string(prefix); }

std::optional<Endpoint> Endpoint::Parse(std::string_view text) {
  std::string_view host, port;
  if (!text.empty() && text.front() == '[') {
    size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') return std::nullopt;
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
    if (host.find(':') == std::string_view::npos) return std::nullopt;  // brackets only around IPv6
  } else {
    size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) return std::nullopt;
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) return std::nullopt;  // bare IPv6 is ambiguous
  }
  auto ip = IpAddr::Parse(host);
  if (!ip) return std::nullopt;
  if (port.size() > 1 && port[0] == '0') return std::nullopt;
  auto p = ParseUint(port, 65535);
  if (!p || *p == 0) return std::nullopt;
  return Endpoint{*ip, static_cast<uint16_t>(*p)};
}

std::string Endpoint::ToString() const { return FormatEndpoint(addr, port); }

std::string FormatEndpoint(const IpAddr& addr, uint16_t port) {
  if (addr.is_v4()) return addr.ToString() + ":" + std::to_string(port);
  return "[" + addr.ToString() + "]:" + std::to_string(port);
}

}  // namespace swg
