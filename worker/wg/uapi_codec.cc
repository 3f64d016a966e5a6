#include "worker/wg/uapi_codec.h"

#include <cerrno>
#include <climits>
#include <cstdint>
#include <optional>
#include <string>

#include "common/files.h"
#include "common/strings.h"

namespace swg::wg::uapi {
namespace {

Error Malformed(size_t line, const std::string& what) {
  return Error{"malformed reply: line " + std::to_string(line) + ": " + what, EPROTO};
}

std::string Shown(std::string_view value) { return Quote(value.substr(0, 80)); }

// wireguard-go sends errno as a negative number; anything of either sign is taken by its magnitude.
std::optional<int> ParseErrno(std::string_view v) {
  bool negative = !v.empty() && v[0] == '-';
  auto n = ParseUint(negative ? v.substr(1) : v, INT_MAX);
  if (!n) return std::nullopt;
  return static_cast<int>(*n);
}

// An endpoint as wireguard-go prints it. A link-local IPv6 source may carry a zone ("[fe80::1%eth0]:51820"),
// which the model has no room for: the zone is dropped rather than failing the whole read.
std::optional<Endpoint> ParseEndpoint(std::string_view v) {
  if (auto ep = Endpoint::Parse(v)) return ep;
  size_t pct = v.find('%'), close = v.find(']');
  if (v.empty() || v[0] != '[' || pct == std::string_view::npos || close == std::string_view::npos ||
      pct > close) {
    return std::nullopt;
  }
  std::string without(v.substr(0, pct));
  without.append(v.substr(close));
  return Endpoint::Parse(without);
}

// Applies one peer key; returns "" or what is wrong with the value.
std::string ApplyPeerKey(std::string_view key, std::string_view value, Peer* p) {
  if (key == "endpoint") {
    auto ep = ParseEndpoint(value);
    if (!ep) return "bad endpoint " + Shown(value);
    p->endpoint = *ep;
  } else if (key == "allowed_ip") {
    auto c = Cidr::Parse(value);
    if (!c) return "bad allowed_ip " + Shown(value);
    p->allowed_ips.push_back(*c);
  } else if (key == "persistent_keepalive_interval") {
    auto n = ParseUint(value, UINT16_MAX);
    if (!n) return "bad persistent_keepalive_interval " + Shown(value);
    p->persistent_keepalive = static_cast<uint16_t>(*n);
  } else if (key == "last_handshake_time_sec" || key == "last_handshake_time_nsec") {
    auto n = ParseUint(value, INT64_MAX);
    if (!n) return "bad " + std::string(key) + " " + Shown(value);
    (key == "last_handshake_time_sec" ? p->last_handshake_sec : p->last_handshake_nsec) =
        static_cast<int64_t>(*n);
  } else if (key == "rx_bytes" || key == "tx_bytes") {
    auto n = ParseUint(value);
    if (!n) return "bad " + std::string(key) + " " + Shown(value);
    (key[0] == 'r' ? p->rx_bytes : p->tx_bytes) = *n;
  } else if (key == "preshared_key") {
    if (!Key::FromHex(value)) return "bad preshared_key";  // a secret: never shown
  } else if (key == "protocol_version") {
    if (!ParseUint(value)) return "bad protocol_version " + Shown(value);
  }
  return "";  // unknown keys: from a newer wireguard-go, not ours to interpret
}

void Line(SecretString& out, std::string_view key, std::string_view value) {
  out.append(key);
  out += '=';
  out.append(value);
  out += '\n';
}

}  // namespace

SecretString EncodeSet(const DeviceChange& change, bool include_listen_port) {
  SecretString out;
  out.reserve(64 + change.peers.size() * 200);
  out += "set=1\n";
  if (change.private_key) {
    std::string hex = change.private_key->ToHex();
    Line(out, "private_key", hex);
    OPENSSL_cleanse(hex.data(), hex.size());
  }
  if (change.listen_port && include_listen_port)
    Line(out, "listen_port", std::to_string(*change.listen_port));
  for (const PeerChange& pc : change.peers) {
    Line(out, "public_key", pc.public_key.ToHex());
    if (pc.remove) {
      Line(out, "remove", "true");
      continue;
    }
    if (pc.update_only) Line(out, "update_only", "true");
    if (pc.endpoint) Line(out, "endpoint", pc.endpoint->ToString());
    if (pc.persistent_keepalive) {
      Line(out, "persistent_keepalive_interval", std::to_string(*pc.persistent_keepalive));
    }
    if (pc.replace_allowed_ips) Line(out, "replace_allowed_ips", "true");
    for (const Cidr& c : pc.allowed_ips) Line(out, "allowed_ip", c.ToString());
  }
  out += '\n';
  return out;
}

bool ReplyComplete(std::string_view text) {
  return text == "\n" || (text.size() >= 2 && text.substr(text.size() - 2) == "\n\n");
}

Result<int> ParseSetReply(std::string_view text) {
  constexpr std::string_view kPrefix = "errno=";
  if (!StartsWith(text, kPrefix) || text.size() < kPrefix.size() + 2 || !ReplyComplete(text)) {
    return Malformed(1, "expected errno=N and an empty line, got " + Shown(text));
  }
  std::string_view value = text.substr(kPrefix.size(), text.size() - kPrefix.size() - 2);
  auto err = ParseErrno(value);
  if (!err) return Malformed(1, "bad errno " + Shown(value));
  return *err;
}

namespace {

// The structure every get reply has: key=value lines, errno last, an empty line at the end, nothing after it.
// `on_line(key, value)` gets every line but errno and returns "" or what is wrong with it (reported with its
// line number). A non-zero errno is an Error with that code.
template <typename OnLine>
Status WalkGetReply(std::string_view text, OnLine on_line) {
  std::optional<int> err;
  size_t pos = 0, line_no = 0;
  bool ended = false;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    ++line_no;
    if (nl == std::string_view::npos) return Malformed(line_no, "no newline at the end");
    std::string_view line = text.substr(pos, nl - pos);
    pos = nl + 1;
    if (line.empty()) {
      ended = true;
      break;
    }
    if (err) return Malformed(line_no, "a line after errno");
    size_t eq = line.find('=');
    if (eq == std::string_view::npos) return Malformed(line_no, "no '=' in " + Shown(line));
    std::string_view key = line.substr(0, eq), value = line.substr(eq + 1);
    if (key == "errno") {
      err = ParseErrno(value);
      if (!err) return Malformed(line_no, "bad errno " + Shown(value));
      continue;
    }
    std::string problem = on_line(key, value);
    if (!problem.empty()) return Malformed(line_no, problem);
  }
  if (!ended) return Malformed(line_no, "no empty line at the end");
  if (pos != text.size()) return Malformed(line_no + 1, "data after the end of the reply");
  if (!err) return Malformed(line_no, "no errno");
  if (*err != 0) return Error{ErrnoText(*err), *err};
  return Ok();
}

}  // namespace

Result<Device> ParseGetReply(std::string_view text) {
  Device dev;
  Peer* peer = nullptr;
  Status walked = WalkGetReply(text, [&](std::string_view key, std::string_view value) -> std::string {
    if (key == "private_key") {
      auto k = Key::FromHex(value);
      if (!k) return "bad private_key";
      if (k->IsZero()) {
        dev.private_key.reset();
      } else {
        dev.private_key = *k;
      }
    } else if (key == "listen_port") {
      auto n = ParseUint(value, UINT16_MAX);
      if (!n) return "bad listen_port " + Shown(value);
      dev.listen_port = static_cast<uint16_t>(*n);
    } else if (key == "fwmark") {
      auto n = ParseUint(value, UINT32_MAX);
      if (!n) return "bad fwmark " + Shown(value);
      dev.fwmark = static_cast<uint32_t>(*n);
    } else if (key == "public_key") {
      auto k = Key::FromHex(value);
      if (!k) return "bad public_key " + Shown(value);
      dev.peers.emplace_back();
      peer = &dev.peers.back();
      peer->public_key = *k;
    } else if (peer) {
      return ApplyPeerKey(key, value, peer);
    }
    return "";
  });
  if (!walked.ok()) return std::move(walked).error();
  return dev;
}

Result<std::vector<PeerHandshake>> ParseGetHandshakes(std::string_view text) {
  std::vector<PeerHandshake> out;
  out.reserve(text.size() / 256);  // a peer takes 250 to 300 bytes of reply
  Status walked = WalkGetReply(text, [&](std::string_view key, std::string_view value) -> std::string {
    if (key == "public_key") {
      auto k = Key::FromHex(value);
      if (!k) return "bad public_key " + Shown(value);
      out.push_back({*k, 0});
    } else if (key == "last_handshake_time_sec" && !out.empty()) {
      auto n = ParseUint(value, INT64_MAX);
      if (!n) return "bad last_handshake_time_sec " + Shown(value);
      out.back().last_handshake_sec = static_cast<int64_t>(*n);
    }
    return "";
  });
  if (!walked.ok()) return std::move(walked).error();
  return out;
}

SecretString FormatGetReply(const Device& device) {
  SecretString out;
  if (device.private_key) {
    std::string hex = device.private_key->ToHex();
    Line(out, "private_key", hex);
    OPENSSL_cleanse(hex.data(), hex.size());
  }
  if (device.listen_port) Line(out, "listen_port", std::to_string(device.listen_port));
  if (device.fwmark) Line(out, "fwmark", std::to_string(device.fwmark));
  for (const Peer& p : device.peers) {
    Line(out, "public_key", p.public_key.ToHex());
    Line(out, "protocol_version", "1");
    if (p.endpoint) Line(out, "endpoint", p.endpoint->ToString());
    Line(out, "last_handshake_time_sec", std::to_string(p.last_handshake_sec));
    Line(out, "last_handshake_time_nsec", std::to_string(p.last_handshake_nsec));
    Line(out, "tx_bytes", std::to_string(p.tx_bytes));
    Line(out, "rx_bytes", std::to_string(p.rx_bytes));
    Line(out, "persistent_keepalive_interval", std::to_string(p.persistent_keepalive));
    for (const Cidr& c : p.allowed_ips) Line(out, "allowed_ip", c.ToString());
  }
  out += "errno=0\n\n";
  return out;
}

}  // namespace swg::wg::uapi
