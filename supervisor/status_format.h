#pragma once
// Human-readable rendering of the node's state for `semaphore-wireguard status`.

#include <cstdint>
#include <string>

#include "common/health.h"

namespace swg::supervisor {

// A compact age: "45s", "3m12s", "2h5m", "3d4h".
std::string FormatAge(int64_t seconds);

// One line per remote (with a header); verbose adds every peer and every rejected node with its reason.
// `now` is unix seconds (handshake ages are computed from it).
std::string FormatStatus(const NodeView& view, bool verbose, int64_t now);

}  // namespace swg::supervisor
