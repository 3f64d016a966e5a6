#pragma once
// The seam between the worker and WireGuard: read a device, apply a change. Two implementations: kernel
// (generic netlink) and userspace (wireguard-go's UAPI socket). Errors name the interface and carry the errno.

#include <memory>
#include <string>
#include <string_view>

#include "common/result.h"
#include "worker/wg/device.h"

namespace swg::wg {

class WgBackend {
 public:
  virtual ~WgBackend() = default;
  virtual std::string_view Kind() const = 0;  // "kernel" or "userspace"
  virtual Result<Device> GetDevice(const std::string& ifname) = 0;
  // Applies `change` in order; not transactional (an error stops the rest): re-read after an error.
  virtual Status Apply(const std::string& ifname, const DeviceChange& change) = 0;
};

}  // namespace swg::wg
