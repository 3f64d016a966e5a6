#pragma once
// One remote pairing, run in its own process: the key, the interface `wireguard.<remote>` and its route, this
// node's annotations on the local cluster, the watch on the remote cluster's nodes, and the reconciler that
// keeps the interface's peers equal to the valid remote nodes. It never tears the network down.
//
// Start-up order: key; link (created or adopted) with key, port and MTU; addresses flushed; link up; route;
// annotations on the local Node; then the remote watch. Each step is retried with backoff until it works.

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/backoff.h"
#include "common/config.h"
#include "common/health.h"
#include "common/keys.h"
#include "common/loop.h"
#include "common/metrics.h"
#include "common/result.h"
#include "k8s/client.h"
#include "k8s/informer.h"
#include "worker/advertiser.h"
#include "worker/mirror_gate.h"
#include "worker/node_reporter.h"
#include "worker/peers.h"
#include "worker/reconciler.h"
#include "worker/underlay.h"
#include "worker/wg/interface.h"

namespace swg::worker {

// Where the local and a remote cluster's credentials come from: kubeConfigPath, else in-cluster (local) or
// remoteAPIURL + remoteCAURL + remoteSATokenPath (remote).
k8s::ClusterSource LocalSource(const LocalConfig& local);
k8s::ClusterSource RemoteSource(const RemoteConfig& remote);

struct WorkerOptions {
  LocalConfig local;
  RemoteConfig remote;
  std::string node_name;
  std::string key_dir;
  wg::BackendChoice backend = wg::BackendChoice::kAuto;
  std::string wireguard_go = "wireguard-go";
  bool wireguard_go_keeper = false;  // another process runs wireguard-go (see wg::InterfaceOptions)
  std::chrono::milliseconds repair_interval{10000};
  std::chrono::milliseconds max_resync{300000};  // full reconcile at least this often
  k8s::ClientOptions client;
  k8s::InformerOptions informer;
};

class Worker {
 public:
  Worker(Loop& loop, WorkerOptions options, std::function<void()> on_status_change);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Loads or creates the key and starts the set-up. A corrupt key file is a configuration error
  // (Error::code == kExitConfig); an unreadable one is an error with code 1.
  Status Start();

  WorkerStatus CurrentStatus() const;               // cheap: for heartbeats
  WorkerStatus SummaryStatus();                     // reads the device: handshakes as they are now
  WorkerStatus DetailedStatus();                    // reads the device: every peer and rejected node
  std::vector<metrics::Family> CollectMetrics();    // reads the device for the per-peer metrics

  // `semaphore-wireguard rotate-key`: a new key in the key file, on the device, and advertised on the local
  // Node (the advertiser patches the annotation). On error nothing changed: the old key stays everywhere.
  struct Rotation {
    std::string old_public_key, new_public_key;
  };
  Result<Rotation> RotateKey();

 private:
  enum class Step { kInterface, kClients, kAdvertise, kRunning };
  void Continue();  // runs the set-up from the current step
  void RetryLater(const std::string& error);
  Status SetUpInterface();
  // Reads the device and corrects its private key and listen port where they differ from this node's, then
  // checks that the port is bound. `drift`: they were applied before, so a difference is logged as drift.
  Status ApplyDeviceSettings(bool drift);
  // ApplyDeviceSettings; until it succeeds the worker is not ready and it is retried with backoff.
  void EnsureDeviceSettings();
  Status CreateClients();
  void StartRemoteWatch();
  k8s::InformerOptions RemoteInformerOptions() const;
  bool RemoteOverLimit() const;  // the remote apiserver's answers exceed the informer's bounds
  void Recompute();
  PeerContext Context() const;
  // An event that only moves a peer's endpoint: applied without recomputing every node (UpdatePeerInPlace).
  bool UpdateInPlace(const k8s::NodeInfo& node);
  void ScheduleRecompute();  // coalesces a burst of watch events into one recomputation
  void LogIgnoredCidrs(const PeerSet& set);
  void OnReconciled(const Reconciler::Outcome& outcome);
  void Repair();
  void UpdateMtu();  // wgDeviceMTU "auto": follows the underlay of the advertised address
  void RefreshStats();
  void ScheduleStats();  // the next periodic RefreshStats
  void NoteHandshakes(const wg::Device& device);
  void NoteHandshakes(const std::vector<wg::PeerHandshake>& peers);
  void Changed();
  std::string Problem(std::string* reason = nullptr) const;  // reason: node_report.h's
  ReportInput ReportState();                                 // for the condition and report on this Node

  Loop& loop_;
  WorkerOptions options_;
  std::function<void()> on_status_change_;
  Key private_key_;
  Key public_key_;
  std::string public_key_text_;
  std::string device_;  // wireguard.<remote>

  Step step_ = Step::kInterface;
  Timer setup_timer_;
  Backoff setup_backoff_;
  std::string setup_error_;

  std::unique_ptr<wg::Interface> iface_;
  std::unique_ptr<k8s::Client> local_client_;
  std::unique_ptr<k8s::Client> remote_client_;
  std::unique_ptr<Advertiser> advertiser_;
  std::unique_ptr<NodeReporter> reporter_;
  std::unique_ptr<k8s::NodeInformer> remote_informer_;  // the remote's Nodes, or the mirror's records of them
  std::unique_ptr<MirrorGate> mirror_;                    // peerSource mirror only
  std::unique_ptr<Reconciler> reconciler_;
  std::map<std::string, Rejection> rejections_;  // logged once per change
  bool max_peers_logged_ = false;  // the maxPeers warning is logged once per episode of being over it
  bool ignored_v4_logged_ = false, ignored_v6_logged_ = false;  // pod CIDRs of a family without a subnet

  bool initialised_ = false;
  bool synced_ = false;
  std::string advertise_error_;
  std::string repair_error_;
  MtuChoice mtu_;
  bool mtu_changing_ = false;  // the next repair's "MTU restored" is UpdateMtu's change, not a repair
  // "Device settings applied": the device has this node's private key and listen port, and (wireguard-go)
  // the port is bound. Lost when the link is recreated; checked again after every repair and full resync.
  bool settings_applied_ = false;
  std::string settings_error_;
  Timer settings_timer_;
  Backoff settings_backoff_;
  Timer repair_timer_;
  Timer resync_timer_;
  Timer stats_timer_;
  std::chrono::steady_clock::time_point stats_started_{};
  Timer recompute_timer_;
  // The reconciler's desired peers are ComputePeers of the informer's nodes as they are (no event skipped since).
  bool peers_current_ = false;
  // Under a burst of watch events, at most one recomputation of every remote node per 50 ms (and one device
  // change per window, Reconciler::Options::coalesce); after a quiet spell an event is acted on at once.
  RunWindow recompute_window_{std::chrono::milliseconds(50)};

  // Handshake summary from the last device read (every 10 s at first, then every 60 s, and whenever status or
  // metrics read it).
  int64_t newest_handshake_ = 0, oldest_handshake_ = 0;
  uint64_t without_handshake_ = 0;
  // Peers with a live handshake (wg::HandshakeLive) at the last read, sorted. The report counts the peers
  // applied now against it: one added since is stale until a read sees its handshake, one removed is gone.
  std::vector<Key> fresh_keys_;
  int64_t last_full_sync_ = 0;      // unix seconds of the last completed full sync
  bool remote_failing_ = false;     // the remote watch failed and has not watched again since

  metrics::Registry metrics_;
};

}  // namespace swg::worker
