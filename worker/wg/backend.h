#pragma once
// The seam between the worker and WireGuard: read a device, apply a change. Two implementations: kernel
// (generic netlink) and userspace (wireguard-go's UAPI socket). Errors name the interface and carry the errno.

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.h"
#include "worker/wg/device.h"

namespace swg::wg {

class WgBackend {
 public:
  virtual ~WgBackend() = default;
  virtual std::string_view Kind() const = 0;  // "kernel" or "userspace"
  virtual Result<Device> GetDevice(const std::string& ifname) = 0;
  // The peers' keys and last handshakes only, for the periodic read of the node report: what GetDevice gives,
  // where a backend may skip the rest (wireguard-go's 5,000 peers: a 1.4 MB reply read without building a
  // Device).
  virtual Result<std::vector<PeerHandshake>> GetHandshakes(const std::string& ifname) {
    auto device = GetDevice(ifname);
    if (!device) return std::move(device).error();
    std::vector<PeerHandshake> out;
    out.reserve(device->peers.size());
    for (const Peer& p : device->peers) out.push_back({p.public_key, p.last_handshake_sec});
    return out;
  }
  // Applies `change` in order; not transactional (an error stops the rest): re-read after an error.
  virtual Status Apply(const std::string& ifname, const DeviceChange& change) = 0;
};

}  // namespace swg::wg
