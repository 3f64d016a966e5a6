#pragma once
// For a remote whose peers come from the mirror's records ("peerSource": "mirror"): whether the records may be
// applied to the device. Never before the remote's sync marker says the mirror wrote a complete list: an agent
// that pruned before would remove the peers the mirror has not written yet. And not while the marker is stale,
// that is not refreshed for mirrorStaleAfter: the mirror is down or cut off, and everything on the device stays
// as it is (no teardown) until it is back. Staleness is measured on this agent's clock from when it last saw the
// marker change, never by comparing the mirror's timestamps with ours, so clock skew between nodes does not
// matter; an agent that starts gives a marker the whole period before calling it stale.

#include <chrono>
#include <functional>
#include <optional>
#include <string>

#include "common/loop.h"
#include "k8s/peer_record.h"

namespace swg::worker {

class MirrorGate {
 public:
  // on_change runs (from the loop) when usable() or stale() changes.
  MirrorGate(Loop& loop, std::string remote, std::chrono::seconds stale_after, std::function<void()> on_change);

  // The marker as the records hold it now, after every list and every event about it.
  void Observe(const std::optional<k8s::SyncMarker>& marker);

  bool usable() const { return marker_ && marker_->complete && !stale_; }
  bool stale() const { return stale_; }
  // Seconds since the marker last changed here; -1 before any marker.
  double age_seconds() const;
  // Why the records are not applied ("" when they are), and the reason code for the Node condition.
  std::string Problem(std::string* reason) const;

 private:
  void Evaluate(bool was_usable, bool was_stale);

  std::string remote_;
  std::chrono::seconds stale_after_;
  std::function<void()> on_change_;
  std::optional<k8s::SyncMarker> marker_;
  std::chrono::steady_clock::time_point changed_at_{};
  bool stale_ = false;
  Timer stale_timer_;
};

}  // namespace swg::worker
