#include "worker/reconciler.h"

#include <algorithm>

#include "common/log.h"
#include "worker/wg/diff.h"

namespace swg::worker {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

namespace {

std::string CidrList(const std::vector<Cidr>& cidrs) {
  std::string out;
  for (const auto& c : cidrs) out += (out.empty() ? "" : ",") + c.ToString();
  return out;
}

// Above this many peer changes, per-peer lines go to debug and one summary line to info.
constexpr size_t kDetailedLogLimit = 20;

}  // namespace

Reconciler::Reconciler(Loop& loop, std::string ifname, std::function<wg::WgBackend&()> backend, Options options,
                       std::function<void(const Outcome&)> on_done)
    : loop_(loop),
      ifname_(std::move(ifname)),
      backend_(std::move(backend)),
      options_(options),
      on_done_(std::move(on_done)),
      timer_(loop),
      window_(options.coalesce),
      backoff_(options.retry) {}

void Reconciler::SetDesired(PeerSet desired) {
  desired_ = std::move(desired);
  aligned_ = false;
  edited_.clear();
  std::map<Key, std::string> nodes;
  for (const auto& p : desired_.peers) nodes[p.peer.public_key] = p.node;
  // A peer that leaves the desired set keeps its name until an apply removed it (NodeOf names removed peers).
  for (auto& [key, node] : desired_nodes_) {
    if (!nodes.count(key)) leaving_nodes_.insert_or_assign(key, std::move(node));
  }
  desired_nodes_ = std::move(nodes);
  Changed();
}

bool Reconciler::EditDesired(const std::function<bool(PeerSet&, size_t& index)>& edit) {
  size_t index = 0;
  if (!edit(desired_, index)) return false;
  if (aligned_) edited_.push_back(index);
  Changed();  // keys and nodes are as they were: desired_nodes_ holds
  return true;
}

void Reconciler::Changed() {
  if (retrying_) return;  // the retry timer will apply the newest desired state
  // An apply already scheduled takes this state too: the timer is not pushed back, so a steady stream of
  // updates cannot starve the device.
  if (timer_.active()) return;
  Schedule(window_.Delay());
}

void Reconciler::RequestFull() {
  full_requested_ = true;
  if (retrying_) return;
  Schedule(milliseconds(0));
}

void Reconciler::DeviceReset() {
  applied_known_ = false;
  aligned_ = false;
  applied_.clear();
  previous_known_ = true;  // known to be empty: every desired endpoint is sent
  full_done_ = false;
  RequestFull();
}

void Reconciler::Schedule(milliseconds delay) {
  timer_.Start(delay, [this] { Run(); });
}

std::string Reconciler::NodeOf(const Key& key) const {
  if (auto it = desired_nodes_.find(key); it != desired_nodes_.end()) return it->second;
  auto it = leaving_nodes_.find(key);
  return it == leaving_nodes_.end() ? "" : it->second;
}

void Reconciler::Run() {
  retrying_ = false;
  auto start = Clock::now();
  Outcome out;
  out.full = full_requested_ || !applied_known_;
  std::vector<wg::Peer> read;  // the device's peers, on a full reconcile
  int64_t read_at = 0;  // unix time of the device read: its handshake times tell live peers from stale endpoints
  auto fail = [&](std::string error) {
    out.ok = false;
    out.error = std::move(error);
    last_error_ = out.error;
    applied_known_ = false;  // what the device holds is uncertain now: the retry re-reads it
    aligned_ = false;
    edited_.clear();
    full_requested_ = true;
    retrying_ = true;
    auto delay = backoff_.Next();
    log::Warn("applying peers failed; retrying with a full reconcile",
              {{"device", ifname_}, {"error", out.error}, {"retry_in", std::to_string(delay.count()) + "ms"}});
    timer_.Start(delay, [this] { Run(); });
    window_.Ended();
    out.seconds = std::chrono::duration<double>(Clock::now() - start).count();
    if (on_done_) on_done_(out);
  };
  if (!out.full) {
    if (auto edits = RunEdits(out)) {
      if (!edits->ok()) return fail(edits->error().message);
      out.edits_only = true;
      window_.Ended();
      out.seconds = std::chrono::duration<double>(Clock::now() - start).count();
      if (on_done_) on_done_(out);
      return;
    }
  }
  std::vector<wg::Peer> desired = desired_.AsPeers();
  if (out.full) {
    auto device = backend_().GetDevice(ifname_);
    if (!device.ok()) return fail(device.error().message);
    read = std::move(device->peers);
    read_at = std::chrono::duration_cast<std::chrono::seconds>(
                  std::chrono::system_clock::now().time_since_epoch()).count();
  }
  // Not a copy: an incremental run compares with what was applied (5,000 peers are copied in milliseconds).
  const std::vector<wg::Peer>& current = out.full ? read : applied_;
  wg::DeviceChange change = wg::DiffPeers(desired, current, previous_known_ ? &applied_ : nullptr, read_at);
  Count(change, out);
  if (!change.peers.empty()) {
    auto st = backend_().Apply(ifname_, change);
    if (!st.ok()) return fail(st.error().message);
  }
  // Drift: the device no longer holds what was last applied (someone ran `wg set` by hand, or a peer vanished).
  // Endpoints are left out of the comparison: the device's endpoint follows a roaming peer.
  out.drift = out.full && applied_known_ && !wg::DiffPeers(applied_, current, &applied_).peers.empty();
  LogChange(change, out.full);
  if (out.drift) {
    log::Warn("the device differed from the desired peers; corrected it",
              {{"device", ifname_}, {"added", std::to_string(out.added)}, {"updated", std::to_string(out.updated)},
               {"removed", std::to_string(out.removed)}});
  }
  applied_ = std::move(desired);  // `current` is not used after this
  applied_known_ = true;
  aligned_ = true;
  edited_.clear();
  leaving_nodes_.clear();  // the device holds the desired peers now
  previous_known_ = true;
  if (out.full) {
    full_requested_ = false;
    full_done_ = true;
  }
  Worked();
  window_.Ended();
  out.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  if (on_done_) on_done_(out);
}

std::optional<Status> Reconciler::RunEdits(Outcome& out) {
  if (!aligned_ || !previous_known_ || applied_.size() != desired_.peers.size()) return std::nullopt;
  // The diff a full one would make, for each edited peer only: against what was applied and desired for it last.
  std::sort(edited_.begin(), edited_.end());
  edited_.erase(std::unique(edited_.begin(), edited_.end()), edited_.end());  // a peer edited twice: once
  wg::DeviceChange change;
  for (size_t i : edited_) {
    const wg::Peer& want = desired_.peers[i].peer;
    if (!(applied_[i].public_key == want.public_key)) return std::nullopt;  // not aligned after all: diff them all
    std::vector<wg::Peer> previous{applied_[i]};
    wg::DeviceChange one = wg::DiffPeers({want}, {applied_[i]}, &previous);
    for (auto& p : one.peers) change.peers.push_back(std::move(p));
  }
  Count(change, out);
  if (!change.peers.empty()) {
    if (auto st = backend_().Apply(ifname_, change); !st.ok()) return st;
  }
  LogChange(change, false);
  for (size_t i : edited_) applied_[i] = desired_.peers[i].peer;
  edited_.clear();
  Worked();
  return Ok();
}

void Reconciler::Count(const wg::DeviceChange& change, Outcome& out) {
  for (const auto& p : change.peers) {
    if (p.remove) out.removed++;
    else if (p.update_only) out.updated++;
    else out.added++;
  }
}

void Reconciler::Worked() {
  if (!last_error_.empty()) log::Info("applying peers works again", {{"device", ifname_}});
  last_error_.clear();
  backoff_.Reset();
}

void Reconciler::LogChange(const wg::DeviceChange& change, bool full) const {
  if (change.peers.empty()) return;
  bool detailed = change.peers.size() <= kDetailedLogLimit;
  size_t added = 0, updated = 0, removed = 0;
  for (const auto& p : change.peers) {
    std::string node = NodeOf(p.public_key);
    log::Level level = detailed ? log::Level::kInfo : log::Level::kDebug;
    if (p.remove) {
      removed++;
      log::Write(level, "peer removed", {{"device", ifname_}, {"node", node.empty() ? "-" : node},
                                         {"peer", p.public_key.ToBase64()}});
      continue;
    }
    log::Fields f = {{"device", ifname_}, {"node", node}, {"peer", p.public_key.ToBase64()}};
    if (p.endpoint) f.push_back({"endpoint", p.endpoint->ToString()});
    if (p.replace_allowed_ips || !p.allowed_ips.empty()) f.push_back({"allowed_ips", CidrList(p.allowed_ips)});
    if (p.update_only) updated++;
    else added++;
    log::Write(level, p.update_only ? "peer updated" : "peer added", f);
  }
  if (!detailed) {
    log::Info(full ? "peers reconciled" : "peers changed",
              {{"device", ifname_}, {"added", std::to_string(added)}, {"updated", std::to_string(updated)},
               {"removed", std::to_string(removed)}});
  }
}

}  // namespace swg::worker
