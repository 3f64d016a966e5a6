#include "worker/mirror_gate.h"

#include "common/log.h"
#include "worker/node_report.h"

namespace swg::worker {

MirrorGate::MirrorGate(Loop& loop, std::string remote, std::chrono::seconds stale_after,
                       std::function<void()> on_change)
    : remote_(std::move(remote)), stale_after_(stale_after), on_change_(std::move(on_change)), stale_timer_(loop) {}

void MirrorGate::Observe(const std::optional<k8s::SyncMarker>& marker) {
  auto same = [](const k8s::SyncMarker& a, const k8s::SyncMarker& b) {
    return a.complete == b.complete && a.last_sync == b.last_sync && a.leader == b.leader && a.nodes == b.nodes;
  };
  if (marker_.has_value() == marker.has_value() && (!marker || same(*marker_, *marker))) return;
  const bool was_usable = usable(), was_stale = stale_;
  if (marker && (!marker_ || marker_->leader != marker->leader)) {
    log::Info("the mirror's sync marker", {{"remote", remote_},
                                           {"leader", marker->leader},
                                           {"complete", marker->complete ? "true" : "false"},
                                           {"nodes", std::to_string(marker->nodes)}});
  }
  marker_ = marker;
  changed_at_ = std::chrono::steady_clock::now();
  stale_ = false;
  stale_timer_.Stop();
  if (marker_) {
    stale_timer_.Start(std::chrono::duration_cast<std::chrono::milliseconds>(stale_after_), [this] {
      const bool u = usable(), s = stale_;
      stale_ = true;
      Evaluate(u, s);
    });
  }
  Evaluate(was_usable, was_stale);
}

void MirrorGate::Evaluate(bool was_usable, bool was_stale) {
  if (stale_ && !was_stale) {
    log::Warn("the mirror is stale: its sync marker was not refreshed in time; every peer is kept as it is",
              {{"remote", remote_}, {"mirror_stale_after", std::to_string(stale_after_.count()) + "s"},
               {"leader", marker_ ? marker_->leader : ""}});
  } else if (!stale_ && was_stale) {
    log::Info("the mirror is refreshing its sync marker again", {{"remote", remote_}});
  }
  if (usable() != was_usable || stale_ != was_stale) on_change_();
}

double MirrorGate::age_seconds() const {
  if (!marker_) return -1;
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - changed_at_).count();
}

std::string MirrorGate::Problem(std::string* reason) const {
  if (reason) *reason = std::string(kReasonMirrorNotSynced);
  if (!marker_) return "mirror: no sync marker for " + remote_ + " yet (is the mirror running?)";
  if (!marker_->complete) return "mirror: waiting for the mirror's first complete list of " + remote_;
  if (stale_) {
    if (reason) *reason = std::string(kReasonMirrorStale);
    return "mirror stale: the sync marker of " + remote_ + " (leader " + marker_->leader +
           ") was not refreshed for " + std::to_string(static_cast<int64_t>(age_seconds())) +
           "s (mirrorStaleAfter " + std::to_string(stale_after_.count()) + "s); every peer is kept as it is";
  }
  return "";
}

}  // namespace swg::worker
