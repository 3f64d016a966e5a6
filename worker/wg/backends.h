#pragma once
// The two WgBackend implementations. Both are cheap to create and keep no connection open: every call opens
// its own socket, so a backend survives a module reload or a wireguard-go restart. A call works in the
// network namespace of the calling thread. Not thread-safe: one backend object per thread.

#include <memory>
#include <string>

#include "worker/wg/backend.h"
#include "worker/wg/wireguard_go.h"

namespace swg::wg {

// Generic netlink family "wireguard" (the kernel module). Changes are split into messages of at most 32 KiB;
// a dump interrupted by a concurrent change is read again.
std::unique_ptr<WgBackend> MakeKernelBackend();

// wireguard-go's UAPI socket `<socket_dir>/<ifname>.sock`. A listen port equal to the one last seen on the
// same link (same ifindex) is not sent again, since every listen_port line rebinds wireguard-go's sockets.
std::unique_ptr<WgBackend> MakeUserspaceBackend(std::string socket_dir = kUapiSocketDir);

}  // namespace swg::wg
