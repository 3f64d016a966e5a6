#pragma once
// The WireGuard device model shared by both backends (kernel generic netlink and wireguard-go UAPI), the
// peer diff and the worker. Values only; no backend types.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/ip.h"
#include "common/keys.h"

namespace swg::wg {

// WireGuard's REJECT_AFTER_TIME (180 s): a live session renews its handshake within it (every 2 minutes, at most
// 165 s), and after it no session is left. A peer with a handshake this recent is live; "fresh" in status and the
// node report, trusted for a roamed endpoint in the diff, not stale in `diagnose`.
inline constexpr int64_t kRejectAfterTimeSec = 180;

// Whether a handshake at `last_handshake_sec` (unix time, 0 = never) is within kRejectAfterTimeSec of `now`.
inline bool HandshakeLive(int64_t last_handshake_sec, int64_t now) {
  return last_handshake_sec > 0 && now - last_handshake_sec <= kRejectAfterTimeSec;
}

struct Peer {
  Key public_key;
  std::optional<Endpoint> endpoint;
  std::vector<Cidr> allowed_ips;
  uint16_t persistent_keepalive = 0;  // seconds, 0 = off
  // Read-only state (filled by GetDevice, ignored by changes).
  int64_t last_handshake_sec = 0;  // unix time, 0 = never
  int64_t last_handshake_nsec = 0;
  uint64_t rx_bytes = 0;
  uint64_t tx_bytes = 0;
};

// A peer's key and last handshake (unix seconds, 0 = never): WgBackend::GetHandshakes.
struct PeerHandshake {
  Key public_key;
  int64_t last_handshake_sec = 0;
};

struct Device {
  std::string name;
  int ifindex = 0;
  std::optional<Key> private_key;
  std::optional<Key> public_key;
  uint16_t listen_port = 0;
  uint32_t fwmark = 0;
  std::vector<Peer> peers;
};

// One peer's part of a change. Exactly what is set is sent; nothing else about the peer is touched.
struct PeerChange {
  Key public_key;
  bool remove = false;       // remove the peer (idempotent)
  bool update_only = false;  // change an existing peer; never create one
  std::optional<Endpoint> endpoint;
  std::optional<uint16_t> persistent_keepalive;
  bool replace_allowed_ips = false;  // drop the peer's allowed IPs before adding `allowed_ips`
  std::vector<Cidr> allowed_ips;
};

struct DeviceChange {
  std::optional<Key> private_key;
  std::optional<uint16_t> listen_port;  // set only when it changes: a listen port rebinds the sockets
  // With listen_port: send it even when the device reports that port already. wireguard-go reports a port it
  // failed to bind (another socket held it), and only a new listen_port makes it bind again. The kernel never
  // reports a port it has not bound while up, and ignores this.
  bool rebind = false;
  std::vector<PeerChange> peers;
  bool empty() const { return !private_key && !listen_port && peers.empty(); }
};

}  // namespace swg::wg
