#pragma once
// Standard base64 (RFC 4648 alphabet, '=' padding). WireGuard keys have a stricter, canonical form of their
// own (common/keys.h); this is for everything else: kubeconfig "-data" fields, etcd's JSON gateway.

#include <optional>
#include <string>
#include <string_view>

namespace swg {

std::string Base64Encode(std::string_view data);

// Accepts padding or none, and skips whitespace (PEM-style line breaks); nullopt on any other character,
// data after '=', or a length no encoder produces.
std::optional<std::string> Base64Decode(std::string_view text);

}  // namespace swg
