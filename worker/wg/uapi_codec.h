#pragma once
// The WireGuard cross-platform userspace API (what wireguard-go serves on /var/run/wireguard/<iface>.sock):
// the text of requests and replies. Pure functions over strings; the fuzzer calls the reply parsers.
//
// A get reply is `key=value` lines (device keys, then per peer a `public_key` line followed by that peer's
// keys), then `errno=N` and an empty line. wireguard-go sends N negative; its absolute value is the errno.

#include <string_view>

#include "common/result.h"
#include "worker/wg/device.h"
#include "worker/wg/wipe.h"

namespace swg::wg::uapi {

inline constexpr std::string_view kGetRequest = "get=1\n\n";
// A set with nothing in it: wireguard-go answers `errno=0` and changes nothing. It tells a live wireguard-go
// from a hung one as a get does, without the get's reply of every peer (5,000 peers: about 1 MB to parse).
inline constexpr std::string_view kProbeRequest = "set=1\n\n";

// "set=1\n", the lines for `change` in order, then the empty line that ends the request. `listen_port` is
// left out when `include_listen_port` is false (every listen_port line rebinds wireguard-go's sockets).
SecretString EncodeSet(const DeviceChange& change, bool include_listen_port = true);

// True when `text` holds a whole reply (it ends with an empty line).
bool ReplyComplete(std::string_view text);

// The errno of a set reply (0 = applied); an Error (EPROTO) when the reply is malformed.
Result<int> ParseSetReply(std::string_view text);

// The device in a get reply. A non-zero errno in the reply is an Error with that code; a malformed reply is
// an Error (EPROTO) naming the line (never the value of a private key). Keys it does not know are skipped.
// The device's public key is not part of the protocol and is left empty; name and ifindex are not set.
Result<Device> ParseGetReply(std::string_view text);

// The peers' keys and last handshakes in a get reply, in order: the lines of ParseGetReply's structure checks
// (key=value, errno, the empty line at the end) and those two values checked, every other value skipped
// unread. Errors as ParseGetReply's.
Result<std::vector<PeerHandshake>> ParseGetHandshakes(std::string_view text);

// The get reply wireguard-go would send for `device` (tests and the fuzzer's round trip).
SecretString FormatGetReply(const Device& device);

}  // namespace swg::wg::uapi
