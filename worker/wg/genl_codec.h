#pragma once
// Internal to swg_wg (and its tests): the messages of the "wireguard" generic netlink family. Pure: no
// sockets.
//
// A SET_DEVICE change is split across messages of at most `max_bytes` (the PEERS nest length is a u16, and
// the kernel refuses messages larger than the socket's send buffer). Only the first message carries the
// device attributes; a peer whose allowed IPs do not fit continues in the next message as a fragment (public
// key, UPDATE_ONLY, the remaining allowed IPs), so a peer removed meanwhile is not recreated half-filled.

#include <cstddef>
#include <string>
#include <vector>

#include "common/result.h"
#include "worker/wg/device.h"
#include "worker/wg/netlink.h"

namespace swg::wg::genl {

inline constexpr size_t kMaxMessageBytes = size_t{32} * 1024;

// The messages for `change` (none when it is empty); sequence and port are filled in when sent.
Result<std::vector<nl::Msg>> BuildSetDevice(int family, const std::string& ifname, const DeviceChange& change,
                                            size_t max_bytes = kMaxMessageBytes);

// The dump request for one device.
Result<nl::Msg> BuildGetDevice(int family, const std::string& ifname);

// Merges one GET_DEVICE reply into *device: device attributes overwrite, a peer that continues the previous
// one (same public key: its allowed IPs overflowed the previous message) only adds allowed IPs.
// Returns 0, or EPROTO for a malformed message.
int MergeDeviceMessage(const nlmsghdr* hdr, Device* device);

}  // namespace swg::wg::genl
