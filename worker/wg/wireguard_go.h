#pragma once
// Internal to swg_wg (and its tests): starting wireguard-go and probing its UAPI socket.

#include <sys/types.h>

#include <string>

#include "common/result.h"

namespace swg::wg {

// Where wireguard-go serves its UAPI sockets (<dir>/<interface>.sock), as wg(8) expects.
inline constexpr const char* kUapiSocketDir = "/var/run/wireguard";

// Starts `binary -f <name>` (looked up in PATH unless it contains a '/') detached from the caller: in a
// session and process group of its own, reparented away from the caller (so it outlives a worker restart and
// never becomes the worker's zombie), stdin and stdout on /dev/null, stderr inherited, no other descriptors,
// its own log level "error". Returns its pid once it has been exec'd; an exec failure is an Error.
Result<pid_t> SpawnWireguardGo(const std::string& binary, const std::string& name);

// True when `<socket_dir>/<name>.sock` accepts a connection (a live wireguard-go serves it).
bool UapiSocketAlive(const std::string& socket_dir, const std::string& name);

}  // namespace swg::wg
