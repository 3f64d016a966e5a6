#pragma once
// Keeps a WireGuard device's peers equal to the desired peers with minimal, batched changes. An update after a
// quiet spell is applied at once (at the end of the current loop iteration, so that the updates of one
// iteration are one change); updates arriving within `coalesce` of the end of the last apply wait for the end of
// that window and become one change, so a burst costs a few device writes, not one per event. A full reconcile re-reads the device and also removes
// every peer that should not be there (after the first complete list, periodically to correct drift, after a
// failure, after the device was recreated). A failed apply is retried with backoff, as a full reconcile.

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/backoff.h"
#include "common/loop.h"
#include "worker/peers.h"
#include "worker/wg/backend.h"

namespace swg::worker {

class Reconciler {
 public:
  struct Options {
    // After an apply, further updates wait until this long after its end: at most one incremental apply
    // per window under load, none of the waiting when idle.
    std::chrono::milliseconds coalesce{50};
    Backoff::Options retry{std::chrono::milliseconds(500), 2.0, std::chrono::milliseconds(30000), 0.3,
                           std::chrono::milliseconds(120000)};
  };
  struct Outcome {
    bool ok = true;
    bool full = false;
    bool drift = false;  // a periodic full reconcile found the device different from what was applied
    bool edits_only = false;  // only the peers edited in place were diffed (not every peer)
    std::string error;
    size_t added = 0, updated = 0, removed = 0;
    double seconds = 0;
  };

  Reconciler(Loop& loop, std::string ifname, std::function<wg::WgBackend&()> backend, Options options,
             std::function<void(const Outcome&)> on_done);

  void SetDesired(PeerSet desired);  // applied soon, incrementally
  // Changes one desired peer in place, applied as after SetDesired, without copying the others: `edit` returns
  // whether it changed a peer, and sets `index` to that peer's position in peers (when it returns false,
  // nothing is scheduled). It may change that peer's endpoint only, never its key or node. Until the next
  // SetDesired, an apply then costs the edited peers only, not a diff of every peer. Returns what `edit` did.
  bool EditDesired(const std::function<bool(PeerSet&, size_t& index)>& edit);
  void RequestFull();                // the next apply re-reads the device first
  // The device was recreated or replaced: what was applied is gone. The next apply is full and sends every
  // endpoint again.
  void DeviceReset();

  const PeerSet& desired() const { return desired_; }
  bool full_done() const { return full_done_; }  // a full reconcile has succeeded since DeviceReset/start
  const std::string& last_error() const { return last_error_; }
  size_t applied_peers() const { return applied_known_ ? applied_.size() : 0; }
  // node name for a peer key, from the desired or the last applied peers ("" when unknown)
  std::string NodeOf(const Key& key) const;

 private:
  void Changed();  // the desired peers changed: schedule an apply
  void Schedule(std::chrono::milliseconds delay);
  void Run();
  // Applies the edited peers only; nullopt when that is not possible (diff every peer instead).
  std::optional<Status> RunEdits(Outcome& out);
  void LogChange(const wg::DeviceChange& change, bool full) const;
  static void Count(const wg::DeviceChange& change, Outcome& out);  // added, updated, removed
  void Worked();  // an apply succeeded: the error and the backoff are over

  Loop& loop_;
  std::string ifname_;
  std::function<wg::WgBackend&()> backend_;
  Options options_;
  std::function<void(const Outcome&)> on_done_;
  Timer timer_;
  RunWindow window_;  // options_.coalesce after each apply
  Backoff backoff_;
  PeerSet desired_;
  // The device's peers as last applied (our model of it), which are also the desired peers at the last
  // successful apply (DiffPeers' previous_desired): one copy for both, 5,000 peers are 0.6 MB. Emptied by
  // DeviceReset, after which every desired endpoint is sent.
  std::vector<wg::Peer> applied_;
  std::map<Key, std::string> desired_nodes_;  // peer key -> node, for the desired peers
  // Peers desired before and not now, until an apply removed them: with desired_nodes_, every peer last applied
  // (a copy of all of them took 0.5 MB at 5,000 peers).
  std::map<Key, std::string> leaving_nodes_;
  bool applied_known_ = false;
  bool previous_known_ = false;
  bool full_requested_ = true;
  bool full_done_ = false;
  bool retrying_ = false;
  // applied_ is desired_.AsPeers() as of the last apply, element for element, but for the peers
  // at `edited_` (changed by EditDesired since): no SetDesired, failure or reset since that apply.
  bool aligned_ = false;
  std::vector<size_t> edited_;
  std::string last_error_;
};

}  // namespace swg::worker
