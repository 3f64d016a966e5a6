#include "worker/worker.h"
#include "worker/worker_parts.h"

#include <algorithm>
#include <cerrno>

#include "common/duration.h"
#include "common/log.h"
#include "common/exit_codes.h"

namespace swg::worker {

using std::chrono::milliseconds;

namespace {

constexpr const char* kSyncPeers = "semaphore_wg_sync_peers_total";
constexpr const char* kWatcherFailures = "semaphore_wg_node_watcher_failures_total";
constexpr const char* kSyncDuration = "semaphore_wg_sync_duration_seconds";

}  // namespace

k8s::ClusterSource LocalSource(const LocalConfig& l) {
  return l.kube_config_path.empty() ? k8s::ClusterSource::InCluster()
                                    : k8s::ClusterSource::Kubeconfig(l.kube_config_path);
}

k8s::ClusterSource RemoteSource(const RemoteConfig& r) {
  if (!r.kube_config_path.empty()) return k8s::ClusterSource::Kubeconfig(r.kube_config_path);
  return k8s::ClusterSource::TokenAndCaUrl(r.remote_api_url, r.remote_ca_url, r.remote_sa_token_path);
}

Worker::Worker(Loop& loop, WorkerOptions options, std::function<void()> on_status_change)
    : loop_(loop),
      options_(std::move(options)),
      on_status_change_(std::move(on_status_change)),
      device_(options_.remote.InterfaceName()),
      setup_timer_(loop),
      setup_backoff_(Backoff::Options{milliseconds(1000), 2.0, milliseconds(30000), 0.3, milliseconds(120000)}),
      settings_timer_(loop),
      settings_backoff_(Backoff::Options{milliseconds(1000), 2.0, milliseconds(10000), 0.3, milliseconds(120000)}),
      repair_timer_(loop),
      resync_timer_(loop),
      stats_timer_(loop),
      recompute_timer_(loop) {
  metrics_.Counter(kSyncPeers, "Counts attempts to sync the peers of a device (success 1 or 0).",
                   {"device", "success"});
  metrics_.Counter(kWatcherFailures, "Number of times the node watcher's list or watch failed.", {"cluster", "verb"});
  metrics_.Counter(kHttpRequests, "Total number of HTTP requests to the Kubernetes API by host, code and method",
                   {"host", "code", "method"});
  metrics_.Histogram(kSyncDuration, "Time to apply a change of peers to the device, in seconds.", {"remote", "kind"},
                     {0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10});
  metrics_.Gauge("semaphore_wg_device_info", "Metadata about a device.", {"device", "public_key"});
  metrics_.Gauge(
      "semaphore_wg_peer_info",
      "Metadata about a peer. The public_key label on peer metrics refers to the peer's public key; not "
      "the device's public key.",
      {"device", "public_key", "endpoint", "node"});
  metrics_.Gauge("semaphore_wg_peer_allowed_ips_info",
                 "Metadata about each of a peer's allowed IP subnets for a given device.",
                 {"device", "public_key", "allowed_ips", "node"});
  metrics_.Counter("semaphore_wg_peer_receive_bytes_total", "Number of bytes received from a given peer.",
                   {"device", "public_key", "node"});
  metrics_.Counter("semaphore_wg_peer_transmit_bytes_total", "Number of bytes transmitted to a given peer.",
                   {"device", "public_key", "node"});
  metrics_.Gauge("semaphore_wg_peer_last_handshake_seconds",
                 "UNIX timestamp for the last handshake with a given peer.",
                 {"device", "public_key", "node"});
  metrics_.Gauge("semaphore_wg_peers", "Peers configured on the interface for a remote cluster.", {"remote"});
  metrics_.Gauge("semaphore_wg_rejected_peers", "Remote nodes not accepted as peers, by reason.",
                 {"remote", "reason"});
  metrics_.Counter("semaphore_wg_watch_events_total", "Remote node watch events received, by type.",
                   {"remote", "type"});
  metrics_.Counter("semaphore_wg_watch_relists_total",
                   "Times the remote node watch had to list again (after 410 Gone).", {"remote"});
  metrics_.Gauge("semaphore_wg_remote_synced",
                 "Whether the first full sync with the remote cluster is done (1) or not.", {"remote"});
  if (options_.remote.mirrored()) {
    metrics_.Gauge("semaphore_wg_mirror_stale",
                   "Whether the mirror's sync marker of a remote read from the mirror is stale (1): peers are "
                   "kept as they are until it is refreshed again.",
                   {"remote"});
    metrics_.Gauge("semaphore_wg_mirror_marker_age_seconds",
                   "Seconds since this agent last saw the mirror refresh the remote's sync marker (-1: none).",
                   {"remote"});
  }
  metrics_.Gauge("semaphore_wg_device_mtu",
                 "The MTU of a device, by source: config (wgDeviceMTU), auto (the underlay's MTU minus "
                 "WireGuard's overhead) or default (auto, without a usable underlay).",
                 {"device", "source"});
  for (const char* s : {"0", "1"}) metrics_.Add(kSyncPeers, {device_, s}, 0);
  for (const auto& cluster : {options_.remote.name, options_.local.name}) {
    for (const char* verb : {"list", "watch"}) metrics_.Add(kWatcherFailures, {cluster, verb}, 0);
  }
}

Worker::~Worker() {
  // Stop callbacks first; the interface, route and peers stay as they are.
  reporter_.reset();
  remote_informer_.reset();
  mirror_.reset();
  advertiser_.reset();
  reconciler_.reset();
}

Status Worker::Start() {
  std::string path = KeyFilePath(options_.key_dir, options_.remote.name);
  bool created = false;
  auto key = LoadOrCreateKeyFile(path, &created);
  if (!key.ok()) {
    int code = key.error().code == EINVAL ? kExitConfig : kExitFailure;
    return Error{key.error().message, code};
  }
  private_key_ = *key;
  auto pub = PublicKeyOf(private_key_);
  if (!pub.ok()) return Error{pub.error().message, kExitConfig};
  public_key_ = *pub;
  public_key_text_ = public_key_.ToBase64();
  log::Info(created ? "generated a new private key" : "loaded the private key",
            {{"path", path}, {"public_key", public_key_text_}});
  Continue();
  return Ok();
}

Result<Worker::Rotation> Worker::RotateKey() {
  if (!iface_) {
    return Error{"the interface " + device_ + " is not set up yet" +
                 (setup_error_.empty() ? "" : ": " + setup_error_)};
  }
  std::string path = KeyFilePath(options_.key_dir, options_.remote.name);
  auto key = RotateKeyFile(path, private_key_, [this](const Key& k) -> Status {
    wg::DeviceChange change;
    change.private_key = k;
    return iface_->backend().Apply(device_, change);
  });
  if (!key.ok()) return Error{"the key was not rotated (the old key stays in place): " + key.error().message};
  auto pub = PublicKeyOf(*key);
  if (!pub.ok()) return std::move(pub).error();  // cannot happen for a generated key
  Rotation r{public_key_text_, pub->ToBase64()};
  private_key_ = *key;
  public_key_ = *pub;
  public_key_text_ = r.new_public_key;
  log::Info("rotated the private key", {{"path", path},
                                        {"device", device_},
                                        {"old_public_key", r.old_public_key},
                                        {"public_key", r.new_public_key}});
  if (advertiser_) advertiser_->SetPublicKey(public_key_text_);  // else CreateClients uses the new key
  // Our own key is excluded from the peers (own_key): a remote node that still claims the new key is
  // rejected.
  peers_current_ = false;  // our own key is rejected: every node is validated again
  if (remote_informer_ && remote_informer_->status().synced) ScheduleRecompute();
  RefreshStats();
  Changed();
  return r;
}

void Worker::RetryLater(const std::string& error) {
  auto delay = setup_backoff_.Next();
  if (error != setup_error_) {
    log::Warn("set-up step failed; retrying", {{"error", error}, {"retry_in", FormatDuration(delay)}});
  } else {
    log::Debug("set-up step failed again; retrying", {{"error", error}, {"retry_in", FormatDuration(delay)}});
  }
  setup_error_ = error;
  setup_timer_.Start(delay, [this] { Continue(); });
  Changed();
}

void Worker::Continue() {
  if (step_ == Step::kInterface) {
    if (auto st = SetUpInterface(); !st.ok()) return RetryLater(st.error().message);
    step_ = Step::kClients;
    repair_timer_.StartRepeating(options_.repair_interval, [this] { Repair(); });
    stats_started_ = std::chrono::steady_clock::now();
    ScheduleStats();
  }
  if (step_ == Step::kClients) {
    if (auto st = CreateClients(); !st.ok()) return RetryLater(st.error().message);
    step_ = Step::kAdvertise;
    setup_error_.clear();
    setup_backoff_.Reset();
    advertiser_->Start();
    Changed();
  }
}

Status Worker::SetUpInterface() {
  wg::InterfaceOptions io;
  io.name = device_;
  if (!iface_) mtu_ = ChooseMtu(options_.remote, {});  // auto: refined once the advertised address is known
  io.mtu = mtu_.mtu;
  io.choice = options_.backend;
  io.wireguard_go = options_.wireguard_go;
  io.external_wireguard_go = options_.wireguard_go_keeper;
  auto iface = wg::Interface::Ensure(io);
  if (!iface.ok()) return std::move(iface).error();
  iface_ = std::move(*iface);
  settings_applied_ = false;
  if (auto st = ApplyDeviceSettings(/*drift=*/false); !st.ok()) return st;
  settings_applied_ = true;
  if (auto st = iface_->EnsureRoutes(options_.remote.pod_subnets); !st.ok()) return st;
  log::Info(iface_->created() ? "created the interface" : "adopted the existing interface",
            {{"device", device_},
             {"kind", std::string(iface_->kind())},
             {"backend", std::string(iface_->backend().Kind())},
             {"listen_port", std::to_string(options_.remote.wg_listen_port)},
             {"mtu", std::to_string(mtu_.mtu)},
             {"mtu_source", mtu_.detail},
             {"routes", options_.remote.PodSubnetsText()}});
  if (!reconciler_) {
    reconciler_ = std::make_unique<Reconciler>(
        loop_, device_, [this]() -> wg::WgBackend& { return iface_->backend(); }, Reconciler::Options{},
        [this](const Reconciler::Outcome& o) { OnReconciled(o); });
  }
  // A new link has no peers: send everything, endpoints included. An adopted one is diffed at the first sync.
  if (iface_->created()) reconciler_->DeviceReset();
  return Ok();
}

Status Worker::ApplyDeviceSettings(bool drift) {
  const uint16_t port = options_.remote.wg_listen_port;
  auto device = iface_->backend().GetDevice(device_);
  if (!device.ok()) return std::move(device).error();
  std::string differences;
  auto differ = [&differences](const std::string& what) { differences += (differences.empty() ? "" : ", ") + what; };
  const bool key = !device->private_key || !(*device->private_key == private_key_) || !device->public_key ||
                   !(*device->public_key == public_key_);
  if (key) differ(device->public_key ? "public key " + device->public_key->ToBase64() : "no private key");
  bool rebind = false;
  if (device->listen_port != port) {
    differ("listen port " + std::to_string(device->listen_port));
  } else {
    auto bound = iface_->ListenPortBound(port);
    if (!bound.ok()) return std::move(bound).error();
    rebind = !*bound;
    if (rebind) differ("listen port " + std::to_string(port) + " not bound");
  }
  if (differences.empty()) return Ok();
  if (drift) {
    log::Warn("the device's private key or listen port differed from this node's; correcting them",
              {{"device", device_}, {"found", differences}});
  }
  // The key first, on its own: the kernel sets the port before the key and stops at the first error, so a port
  // still held by another socket would leave the device without its key.
  if (key) {
    wg::DeviceChange change;
    change.private_key = private_key_;
    if (auto st = iface_->backend().Apply(device_, change); !st.ok()) return st;
  }
  if (device->listen_port != port || rebind) {
    wg::DeviceChange change;
    change.listen_port = port;
    change.rebind = rebind;
    if (auto st = iface_->backend().Apply(device_, change); !st.ok()) return st;
    auto bound = iface_->ListenPortBound(port);
    if (!bound.ok()) return std::move(bound).error();
    if (!*bound) {
      return Error{device_ + ": UDP port " + std::to_string(port) +
                       " is not bound (another socket holds it, or the interface is down)",
                   EADDRINUSE};
    }
  }
  return Ok();
}

void Worker::EnsureDeviceSettings() {
  if (!iface_) return;
  settings_timer_.Stop();
  const bool was_applied = settings_applied_;
  auto st = ApplyDeviceSettings(/*drift=*/settings_applied_);
  if (st.ok()) {
    if (!settings_error_.empty()) log::Info("the private key and listen port are applied again", {{"device", device_}});
    settings_applied_ = true;
    settings_error_.clear();
    settings_backoff_.Reset();
    if (!was_applied) Changed();
    return;
  }
  // Reported (not ready, reason "device settings") and retried until it works.
  std::string error = "device settings: " + st.error().message;
  auto delay = settings_backoff_.Next();
  if (error != settings_error_) {
    log::Warn("cannot apply the private key and listen port; retrying",
              {{"device", device_}, {"error", st.error().message}, {"retry_in", FormatDuration(delay)}});
  }
  settings_applied_ = false;
  settings_error_ = std::move(error);
  settings_timer_.Start(delay, [this] { EnsureDeviceSettings(); });
  Changed();
}

Status Worker::CreateClients() {
  // One client per cluster, each counted in semaphore_wg_kube_http_request_total.
  auto make = [this](std::unique_ptr<k8s::Client>& client, const std::string& name,
                     const k8s::ClusterSource& source) -> Status {
    if (client) return Ok();
    auto c = CreateCountedClient(loop_, name, source, options_.client, metrics_);
    if (!c.ok()) return std::move(c).error();
    client = std::move(*c);
    return Ok();
  };
  if (auto st = make(local_client_, options_.local.name, LocalSource(options_.local)); !st.ok()) return st;
  // A mirrored remote is read from the mirror's records in the local cluster: no client for it.
  if (!options_.remote.mirrored()) {
    if (auto st = make(remote_client_, options_.remote.name, RemoteSource(options_.remote)); !st.ok()) return st;
  }
  Advertiser::Options ao{options_.node_name, options_.remote.name, public_key_text_, options_.remote.wg_listen_port};
  if (!options_.remote.advertise_address_types.empty()) ao.address_types = options_.remote.advertise_address_types;
  reporter_ = std::make_unique<NodeReporter>(loop_, *local_client_, options_.node_name,
                                             [this] { return ReportState(); });
  advertiser_ = std::make_unique<Advertiser>(loop_, *local_client_, ao, [this](bool ok, const std::string& error) {
    if (!ok && error != advertise_error_) {
      log::Warn("cannot advertise this node to the remote cluster", {{"error", error}});
    }
    advertise_error_ = ok ? "" : error;
    if (ok) UpdateMtu();
    if (ok && !initialised_) {
      initialised_ = true;
      if (options_.remote.mirrored()) {
        log::Info("interface, route and annotations are in place; watching the mirror's records of the remote",
                  {{"device", device_}, {"namespace", MirrorNamespace(options_.local)}});
      } else {
        log::Info("interface, route and annotations are in place; watching the remote cluster's nodes",
                  {{"device", device_}, {"remote_api", remote_client_->server()}});
      }
      step_ = Step::kRunning;
      StartRemoteWatch();
    }
    Changed();
  });
  return Ok();
}

void Worker::StartRemoteWatch() {
  k8s::NodeFilter filter;
  filter.annotation_keys = PeerAnnotationKeys(options_.local.name);
  // Only what ComputePeers reads: nodes without our annotations are not peers and take no memory, and no
  // valid value of them is longer than 256 bytes (a longer one, cut, is still rejected).
  filter.only_annotated = true;
  filter.keep_addresses = false;
  filter.max_annotation_bytes = 256;
  // Status updates (most Node events) then cost a fifth of the bytes; ignored for the mirror's records.
  filter.metadata_watch = true;
  k8s::Client* source = remote_client_.get();
  if (options_.remote.mirrored()) {
    // The mirror's records and the remote's sync marker, in one list and one watch (k8s/peer_record.h).
    filter.records = k8s::PeerRecords{MirrorNamespace(options_.local), options_.remote.name, options_.local.name};
    filter.label_selector = std::string(k8s::kRecordRemoteLabel) + "=" + options_.remote.name;
    filter.only_annotated = false;  // a record without our fields is rejected with its reason, not dropped
    source = local_client_.get();
    mirror_ = std::make_unique<MirrorGate>(loop_, options_.remote.name, options_.remote.mirror_stale_after, [this] {
      // The gate opened (a complete, fresh marker): apply the records as they are; closed: nothing to do, the
      // device keeps what it has. Both change the status.
      if (mirror_->usable() && remote_informer_->status().synced) {
        Recompute();
        reconciler_->RequestFull();
      }
      Changed();
    });
  }
  k8s::NodeInformer::Handler h;
  h.on_event = [this](k8s::EventType type, const k8s::NodeInfo& node) {
    if (mirror_ && node.name == k8s::kSyncMarkerNode) {
      mirror_->Observe(k8s::FindSyncMarker(remote_informer_->nodes()));
      return;
    }
    if (!remote_informer_->status().synced || (mirror_ && !mirror_->usable())) {
      peers_current_ = false;  // the recomputation after the list (or once the mirror is usable) takes it
      return;
    }
    if (type == k8s::EventType::kModified && UpdateInPlace(node)) return;
    ScheduleRecompute();
  };
  h.on_synced = [this] {
    if (mirror_) {
      mirror_->Observe(k8s::FindSyncMarker(remote_informer_->nodes()));
      if (!mirror_->usable()) return;  // never prune before the mirror wrote a complete list
    }
    Recompute();
    reconciler_->RequestFull();  // after every complete list: remove whatever should not be there
  };
  remote_informer_ = std::make_unique<k8s::NodeInformer>(*source, filter, h, RemoteInformerOptions());
  remote_informer_->Start();
  auto resync = options_.max_resync;
  if (options_.remote.resync_period.count() > 0) {
    resync = std::min(resync, std::chrono::duration_cast<milliseconds>(options_.remote.resync_period));
  }
  resync_timer_.StartRepeating(std::max(resync, milliseconds(1000)), [this] {
    if (synced_ && (!mirror_ || mirror_->usable())) reconciler_->RequestFull();
  });
}

// The informer's bounds grow with maxPeers beyond its default: a kept node takes about 1 KB, so each peer is
// allowed 1.6 KiB, and a list may hold four times as many nodes as there may be peers.
k8s::InformerOptions Worker::RemoteInformerOptions() const {
  k8s::InformerOptions o = options_.informer;
  o.max_cache_bytes = std::max(o.max_cache_bytes, options_.remote.max_peers * 1638);
  o.max_list_items = std::max(o.max_list_items, options_.remote.max_peers * 4);
  return o;
}

void Worker::ScheduleRecompute() {
  // Validating every remote node costs O(nodes): do it once per burst of events, not once per event. The
  // events read in one loop iteration become one recomputation at its end (a 0 ms timer runs in the next
  // iteration, before waiting for more input); within recompute_window_ of the last one, at the window's end.
  if (recompute_timer_.active()) return;
  recompute_timer_.Start(recompute_window_.Delay(), [this] { Recompute(); });
}

PeerContext Worker::Context() const {
  return PeerContext{options_.local.name, options_.remote.pod_subnets, public_key_, options_.remote.max_peers,
                     static_cast<uint16_t>(options_.remote.persistent_keepalive.count())};
}

bool Worker::UpdateInPlace(const k8s::NodeInfo& node) {
  // Only on top of a desired state computed from the nodes as they were just before this event: none pending.
  if (!peers_current_ || recompute_timer_.active()) return false;
  return reconciler_->EditDesired(
      [&](PeerSet& set, size_t& index) { return UpdatePeerInPlace(set, node, Context(), &index); });
}

void Worker::Recompute() {
  recompute_timer_.Stop();
  if (mirror_ && !mirror_->usable()) return;  // the device keeps what it has (MirrorGate)
  PeerSet set = ComputePeers(remote_informer_->nodes(), Context());
  peers_current_ = true;
  LogIgnoredCidrs(set);
  bool over_limit = std::any_of(set.rejected.begin(), set.rejected.end(),
                                [](const Rejection& r) { return r.code == "too_many_peers"; });
  if (over_limit && !max_peers_logged_) {
    log::Warn("more remote nodes qualify as peers than maxPeers allows; the newest are rejected",
              {{"max_peers", std::to_string(options_.remote.max_peers)}});
  }
  max_peers_logged_ = over_limit;
  std::map<std::string, Rejection> now;
  for (const auto& r : set.rejected) {
    auto it = rejections_.find(r.node);
    if (it == rejections_.end() || !(it->second == r)) {
      log::Warn("remote node rejected", {{"node", r.node}, {"reason", r.code}, {"error", r.message}});
    }
    now[r.node] = r;
  }
  for (const auto& [node, r] : rejections_) {
    if (!now.count(node)) log::Info("remote node no longer rejected", {{"node", node}});
  }
  rejections_ = std::move(now);
  reconciler_->SetDesired(std::move(set));
  recompute_window_.Ended();
}

void Worker::LogIgnoredCidrs(const PeerSet& set) {
  // Once per family for the worker's life: with thousands of dual-stack nodes, a line per node would be noise.
  for (const auto& p : set.peers) {
    for (const Cidr& c : p.ignored_cidrs) {
      bool& logged = c.addr.is_v4() ? ignored_v4_logged_ : ignored_v6_logged_;
      if (logged) continue;
      logged = true;
      log::Info(std::string("remote nodes have ") + FamilyName(c.addr.family) + " pod CIDRs but no " +
                    FamilyName(c.addr.family) + " pod subnet is configured: they are ignored (not routed here)",
                {{"node", p.node}, {"pod_cidr", c.ToString()}, {"pod_subnets", options_.remote.PodSubnetsText()}});
    }
  }
}

void Worker::OnReconciled(const Reconciler::Outcome& o) {
  metrics_.Add(kSyncPeers, {device_, o.ok ? "1" : "0"});
  metrics_.Observe(kSyncDuration, {options_.remote.name, o.full ? "full" : "incremental"}, o.seconds);
  if (o.ok && o.full && remote_informer_ && remote_informer_->status().synced) {
    last_full_sync_ =
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
            .count();
  }
  if (o.ok && o.full && remote_informer_ && remote_informer_->status().synced && !synced_) {
    synced_ = true;
    log::Info("in sync with the remote cluster",
              {{"device", device_}, {"peers", std::to_string(reconciler_->applied_peers())},
               {"rejected", std::to_string(reconciler_->desired().rejected.size())}});
    RefreshStats();
  }
  // Every full resync also checks the device's own settings (drift: someone ran `wg set`).
  if (o.ok && o.full) EnsureDeviceSettings();
  Changed();
}

void Worker::UpdateMtu() {
  if (!iface_ || !options_.remote.wg_device_mtu_auto) return;
  std::vector<IpAddr> candidates;
  if (advertiser_ && advertiser_->endpoint()) candidates.push_back(advertiser_->endpoint()->addr);
  if (advertiser_) {
    const auto& ips = advertiser_->internal_ips();
    candidates.insert(candidates.end(), ips.begin(), ips.end());
  }
  MtuChoice now = ChooseMtu(options_.remote, candidates);
  if (now.mtu == mtu_.mtu && now.detail == mtu_.detail) return;
  log::Info(now.mtu == mtu_.mtu ? "the MTU's source changed" : "setting the interface's MTU from the underlay",
            {{"device", device_}, {"mtu", std::to_string(now.mtu)}, {"was", std::to_string(mtu_.mtu)},
             {"mtu_source", now.detail}});
  if (now.mtu != mtu_.mtu) {
    iface_->set_mtu(now.mtu);
    mtu_changing_ = true;
  }
  mtu_ = now;
  Changed();
  if (mtu_changing_) Repair();  // applies it now rather than at the next periodic check
}

void Worker::Repair() {
  if (!iface_) return;
  if (!mtu_changing_) UpdateMtu();  // an underlay whose MTU changed is noticed here, every repair interval
  auto report = iface_->Check(options_.remote.pod_subnets);
  if (report.ok() && mtu_changing_) {
    mtu_changing_ = false;
    report->mtu_restored = false;
  }
  if (!report.ok()) {
    if (repair_error_ != report.error().message) {
      log::Warn("interface check failed", {{"device", device_}, {"error", report.error().message}});
    }
    repair_error_ = report.error().message;
    Changed();
    return;
  }
  if (!repair_error_.empty()) {
    repair_error_.clear();
    Changed();
  }
  if (!report->any()) return;
  log::Warn("repaired the interface", {{"device", device_}, {"repaired", report->Describe()}});
  if (report->recreated) {
    settings_applied_ = false;  // a new device: nothing of this node's is on it
    synced_ = false;
    if (reconciler_) reconciler_->DeviceReset();
  }
  // A link brought up again binds its port anew, which can fail as well.
  EnsureDeviceSettings();
  Changed();
}

// Status and /metrics read the device when asked; this periodic read only ages the handshakes of the node
// report (fresh: wg::HandshakeLive, minutes). Reading thousands of peers costs CPU here and in wireguard-go
// (5,000 peers: a 1.3 MB reply, 4-12 ms to parse), so it is slow once settled, and quicker at the start until
// the first handshake makes the pairing ready (at most a minute: peers that never answer do not keep it fast).
// How quick depends on the peers: every 10 s up to 500 of them, less often with more, so that the start costs
// about as much as one read a minute would at 5,000 (which are read once a minute from the start).
void Worker::ScheduleStats() {
  constexpr milliseconds kStartup{60000}, kFast{10000}, kSlow{60000};
  constexpr size_t kFastPeers = 500;
  size_t peers = reconciler_ ? reconciler_->applied_peers() : 0;
  milliseconds fast = std::min(kSlow, kFast * static_cast<long>(std::max<size_t>(1, peers / kFastPeers)));
  bool starting = std::chrono::steady_clock::now() - stats_started_ < kStartup && newest_handshake_ == 0;
  stats_timer_.Start(starting ? fast : kSlow, [this] {
    RefreshStats();
    ScheduleStats();
  });
}

void Worker::RefreshStats() {
  if (!iface_) return;
  auto peers = iface_->backend().GetHandshakes(device_);
  if (peers.ok()) NoteHandshakes(*peers);
}

void Worker::NoteHandshakes(const wg::Device& device) {
  std::vector<wg::PeerHandshake> peers;
  peers.reserve(device.peers.size());
  for (const auto& p : device.peers) peers.push_back({p.public_key, p.last_handshake_sec});
  NoteHandshakes(peers);
}

void Worker::NoteHandshakes(const std::vector<wg::PeerHandshake>& peers) {
  newest_handshake_ = 0;
  oldest_handshake_ = 0;
  without_handshake_ = 0;
  fresh_keys_.clear();
  auto now =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
          .count();
  for (const auto& p : peers) {
    if (wg::HandshakeLive(p.last_handshake_sec, now)) fresh_keys_.push_back(p.public_key);
    if (p.last_handshake_sec <= 0) {
      without_handshake_++;
      continue;
    }
    if (newest_handshake_ == 0 || p.last_handshake_sec > newest_handshake_) newest_handshake_ = p.last_handshake_sec;
    if (oldest_handshake_ == 0 || p.last_handshake_sec < oldest_handshake_) oldest_handshake_ = p.last_handshake_sec;
  }
  std::sort(fresh_keys_.begin(), fresh_keys_.end());
  if (reporter_) reporter_->Poke();  // handshakes age without any other change
}

void Worker::Changed() {
  if (reporter_) reporter_->Poke();
  if (on_status_change_) on_status_change_();
}

}  // namespace swg::worker
