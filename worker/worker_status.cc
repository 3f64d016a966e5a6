// The worker's status (heartbeats, `status -v`) and metrics.
#include <algorithm>
#include <ctime>

#include "common/log.h"
#include "worker/worker.h"
#include "worker/worker_parts.h"

namespace swg::worker {

std::string Worker::Problem(std::string* reason) const {
  auto found = [reason](std::string_view why, std::string problem) {
    if (reason) *reason = std::string(why);
    return problem;
  };
  if (!setup_error_.empty()) {
    return found(step_ == Step::kInterface ? kReasonInterfaceDown : kReasonDegraded, setup_error_);
  }
  if (!settings_error_.empty()) return found(kReasonDeviceSettings, settings_error_);
  if (!advertise_error_.empty()) return found(kReasonDegraded, advertise_error_);
  if (advertiser_ && !advertiser_->warning().empty()) {
    return found(kReasonDegraded, "advertise-endpoint: " + advertiser_->warning());
  }
  if (reconciler_ && !reconciler_->last_error().empty()) {
    return found(kReasonDegraded, "applying peers: " + reconciler_->last_error());
  }
  if (!repair_error_.empty()) return found(kReasonInterfaceDown, repair_error_);
  if (mirror_ && remote_informer_ && remote_informer_->status().synced) {
    std::string why;
    if (std::string problem = mirror_->Problem(&why); !problem.empty()) return found(why, problem);
  }
  if (RemoteOverLimit()) {
    return found(kReasonRemoteOverLimits,
                 "remote apiserver over limits: " + remote_informer_->status().last_error);
  }
  if (remote_informer_) {
    auto st = remote_informer_->status();
    if (st.state == k8s::InformerState::kBackoff && !st.last_error.empty()) {
      return found(kReasonRemoteWatchFailing, "remote watch: " + st.last_error);
    }
  }
  return "";
}

ReportInput Worker::ReportState() {
  ReportInput in;
  in.remote = options_.remote.name;
  in.local = options_.local.name;
  in.synced = synced_;
  in.problem = Problem(&in.problem_reason);
  if (remote_informer_) {
    // Failing from a failure until the next watch: between two attempts (listing again) it still is.
    auto st = remote_informer_->status();
    if (st.state == k8s::InformerState::kBackoff) remote_failing_ = true;
    if (st.state == k8s::InformerState::kWatching) remote_failing_ = false;
    if (remote_failing_ && in.problem.empty() && !st.last_error.empty()) {
      in.problem = "remote watch: " + st.last_error;
      in.problem_reason = kReasonRemoteWatchFailing;
    }
  }
  if (reconciler_) {
    in.peers = reconciler_->applied_peers();
    for (const auto& r : reconciler_->desired().rejected) in.rejected.emplace_back(r.node, r.code);
    // Handshakes are read from time to time, peers change at once: the peers of now, by the last read.
    if (in.peers > 0) {
      for (const auto& p : reconciler_->desired().peers) {
        if (std::binary_search(fresh_keys_.begin(), fresh_keys_.end(), p.peer.public_key)) {
          in.fresh++;
        } else {
          in.stale.push_back(p.node);
        }
      }
    }
  }
  in.fresh = std::min<uint64_t>(in.fresh, in.peers);
  in.last_full_sync = last_full_sync_;
  return in;
}

bool Worker::RemoteOverLimit() const {
  if (!remote_informer_) return false;
  auto st = remote_informer_->status();
  // Until a list or watch works again, not only between attempts: each attempt fails the same way.
  return st.last_error_code == k8s::kErrorOverLimit && st.state != k8s::InformerState::kWatching;
}

WorkerStatus Worker::CurrentStatus() const {
  WorkerStatus s;
  s.remote = options_.remote.name;
  s.interface = device_;
  s.listen_port = options_.remote.wg_listen_port;
  s.public_key = public_key_text_;
  s.backend = iface_ ? std::string(iface_->backend().Kind()) : "";
  s.initialised = initialised_;
  // Without its key and bound port the device carries no traffic: not ready, whatever the peers.
  s.synced = synced_ && settings_applied_;
  s.last_error = Problem();
  if (advertiser_ && advertiser_->endpoint()) {
    s.endpoint = advertiser_->endpoint()->ToString();
    s.endpoint_source = advertiser_->endpoint_source();
  }
  if (iface_) {
    s.mtu = mtu_.mtu;
    s.mtu_source = mtu_.detail;
  }
  if (reconciler_) {
    s.peers = reconciler_->applied_peers();
    s.rejected = reconciler_->desired().rejected.size();
  }
  s.newest_handshake = newest_handshake_;
  s.oldest_handshake = oldest_handshake_;
  s.peers_without_handshake = without_handshake_;
  if (remote_informer_) {
    auto st = remote_informer_->status();
    s.watch = std::string(k8s::InformerStateName(st.state));
  } else {
    s.watch = "not started";
  }
  if (!initialised_) {
    s.state = "starting";
  } else if (!synced_ && !RemoteOverLimit()) {  // a list that exceeds the bounds will never complete
    s.state = "syncing";
  } else if (!s.last_error.empty()) {
    s.state = "degraded";
    s.reason = s.last_error.substr(0, s.last_error.find(':'));
  } else {
    s.state = "ready";
  }
  return s;
}

// The handshake summary of heartbeats is up to 10 s old; `status` asks for this one instead.
WorkerStatus Worker::SummaryStatus() {
  if (iface_) {
    auto device = iface_->backend().GetDevice(device_);
    if (device.ok()) NoteHandshakes(*device);
  }
  return CurrentStatus();
}

WorkerStatus Worker::DetailedStatus() {
  auto device =
      iface_ ? iface_->backend().GetDevice(device_) : Result<wg::Device>(Error{"no interface yet", 0});
  if (device.ok()) NoteHandshakes(*device);  // the summary agrees with the peers listed
  WorkerStatus s = CurrentStatus();
  if (reconciler_) {
    for (const auto& r : reconciler_->desired().rejected)
      s.rejected_list.push_back({r.node, r.code, r.message});
  }
  if (!iface_) return s;
  if (!device.ok()) {
    s.last_error = device.error().message;
    return s;
  }
  for (const auto& p : device->peers) {
    PeerStatus ps;
    ps.public_key = p.public_key.ToBase64();
    ps.node = reconciler_ ? reconciler_->NodeOf(p.public_key) : "";
    if (ps.node.empty()) ps.node = "(unknown)";
    ps.endpoint = p.endpoint ? p.endpoint->ToString() : "";
    for (const auto& c : p.allowed_ips) ps.allowed_ips.push_back(c.ToString());
    ps.last_handshake = p.last_handshake_sec;
    ps.rx_bytes = p.rx_bytes;
    ps.tx_bytes = p.tx_bytes;
    s.peer_list.push_back(std::move(ps));
  }
  std::sort(s.peer_list.begin(), s.peer_list.end(),
            [](const PeerStatus& a, const PeerStatus& b) { return a.node < b.node; });
  return s;
}

std::vector<metrics::Family> Worker::CollectMetrics() {
  const std::string& remote = options_.remote.name;
  metrics::Registry& m = metrics_;
  // Read from the device at each scrape, and only then.
  static constexpr const char* kFromDevice[] = {"semaphore_wg_device_info",
                                                "semaphore_wg_peer_info",
                                                "semaphore_wg_peer_allowed_ips_info",
                                                "semaphore_wg_peer_receive_bytes_total",
                                                "semaphore_wg_peer_transmit_bytes_total",
                                                "semaphore_wg_peer_last_handshake_seconds"};
  for (const char* name : kFromDevice) m.Clear(name);
  if (iface_) {
    auto device = iface_->backend().GetDevice(device_);
    if (device.ok()) {
      NoteHandshakes(*device);
      m.Set("semaphore_wg_device_info", {device_, public_key_text_}, 1);
      for (const auto& p : device->peers) {
        std::string key = p.public_key.ToBase64();
        // The remote Kubernetes node that advertises this key; empty for a peer no remote node claims (yet).
        std::string node = reconciler_ ? reconciler_->NodeOf(p.public_key) : "";
        m.Set("semaphore_wg_peer_info", {device_, key, p.endpoint ? p.endpoint->ToString() : "", node}, 1);
        for (const auto& c : p.allowed_ips) {
          m.Set("semaphore_wg_peer_allowed_ips_info", {device_, key, c.ToString(), node}, 1);
        }
        m.Set("semaphore_wg_peer_receive_bytes_total", {device_, key, node}, static_cast<double>(p.rx_bytes));
        m.Set("semaphore_wg_peer_transmit_bytes_total", {device_, key, node},
              static_cast<double>(p.tx_bytes));
        m.Set("semaphore_wg_peer_last_handshake_seconds", {device_, key, node},
              static_cast<double>(p.last_handshake_sec));
      }
    } else {
      log::Debug("cannot read the device for metrics",
                 {{"device", device_}, {"error", device.error().message}});
    }
  }
  m.Set("semaphore_wg_peers", {remote}, reconciler_ ? static_cast<double>(reconciler_->applied_peers()) : 0);
  std::map<std::string, double> by_reason;
  for (const char* code : kReasonCodes) by_reason[code] = 0;
  if (reconciler_) {
    for (const auto& r : reconciler_->desired().rejected) by_reason[r.code]++;
  }
  for (const auto& [reason, n] : by_reason) m.Set("semaphore_wg_rejected_peers", {remote, reason}, n);
  m.Set("semaphore_wg_remote_synced", {remote}, synced_ ? 1 : 0);
  if (mirror_) {
    m.Set("semaphore_wg_mirror_stale", {remote}, mirror_->stale() ? 1 : 0);
    m.Set("semaphore_wg_mirror_marker_age_seconds", {remote}, mirror_->age_seconds());
  }
  m.Clear("semaphore_wg_device_mtu");
  if (iface_) m.Set("semaphore_wg_device_mtu", {device_, mtu_.source}, mtu_.mtu);
  if (remote_informer_) {
    SetWatcherFailures(m, remote, *remote_informer_);
    SetWatchEvents(m, remote, *remote_informer_);
  }
  if (advertiser_) SetWatcherFailures(m, options_.local.name, advertiser_->informer());
  auto snapshot = m.Snapshot();
  // Not kept until the next scrape: at 5,000 peers these series held about 15 MB between scrapes.
  for (const char* name : kFromDevice) m.Clear(name);
  return snapshot;
}

}  // namespace swg::worker
