#pragma once
// One remote cluster's mirror (`semaphore-wireguard mirror`, README "Scale: the mirror"), run in its own
// process: replicas elect one active mirror per remote with the Lease semaphore-wireguard-mirror-<remote>;
// the active one watches the remote's Nodes, validates them as an agent does (worker/peers.h, without an own
// key), and keeps one WireGuardPeer record per remote node in the local cluster (k8s/record_writer.h), with
// the reason where a node is rejected. Its sync marker says "complete" once the records hold a complete list,
// and is refreshed every marker_interval while the remote watch is healthy and the records are written: when
// the remote cannot be read, or the records not written, the marker ages and agents call the remote stale and
// keep every peer. A standby only tries the Lease. Losing the Lease stops the watch and every write at once.
//
// The janitor (one worker of the replica: the first remote by name) deletes the records of remotes that are
// not in the configuration any more, while it leads its own remote.

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "common/backoff.h"
#include "common/config.h"
#include "common/health.h"
#include "common/loop.h"
#include "common/metrics.h"
#include "common/result.h"
#include "k8s/client.h"
#include "k8s/informer.h"
#include "k8s/lease.h"
#include "k8s/record_writer.h"
#include "worker/peers.h"

namespace swg::worker {

struct MirrorOptions {
  LocalConfig local;
  RemoteConfig remote;
  std::string identity;        // this replica, in the Lease and the marker
  std::string namespace_name;  // of the records and the Lease
  std::chrono::seconds lease_duration{15};
  std::chrono::milliseconds renew_deadline{10000};
  std::chrono::milliseconds retry_period{2000};
  std::chrono::milliseconds marker_interval{30000};
  // Every remote of the mirror's configuration; the worker of the first one (by name) is the janitor.
  std::vector<std::string> configured_remotes;
  k8s::ClientOptions client;
  k8s::InformerOptions informer;
};

// "semaphore-wireguard-mirror-<remote>".
std::string MirrorLeaseName(const std::string& remote);

// The records the mirror wants for the remote's nodes (as its informer keeps them): one per node, by node
// name, with "<code>: <message>" as the rejection of a node an agent would reject. `rejected` (if given)
// receives the rejections.
std::map<std::string, k8s::RecordContent> DesiredRecords(const std::map<std::string, k8s::NodeInfo>& nodes,
                                                         const std::string& local_cluster,
                                                         const RemoteConfig& remote,
                                                         std::vector<Rejection>* rejected = nullptr);

// A label selector for the records of every remote but `configured`.
std::string OtherRemotesSelector(const std::vector<std::string>& configured);

class MirrorWorker {
 public:
  MirrorWorker(Loop& loop, MirrorOptions options, std::function<void()> on_status_change);
  ~MirrorWorker();
  MirrorWorker(const MirrorWorker&) = delete;
  MirrorWorker& operator=(const MirrorWorker&) = delete;

  // Creates the clients and starts the election. A configuration the clients or the elector refuse is an
  // Error with code kExitConfig.
  Status Start();
  // Stops leading; the Lease is released (a standby takes over at its next try). `done` from the loop.
  void Stop(std::function<void()> done);

  WorkerStatus CurrentStatus() const;
  WorkerStatus DetailedStatus() const;  // with the rejected nodes
  std::vector<metrics::Family> CollectMetrics();

 private:
  void StartedLeading();
  void StoppedLeading();
  void StartWriter();
  void ScheduleApply();
  void Apply();
  void WriteMarker();
  bool RemoteHealthy() const;
  void RunJanitor();
  void Changed();

  Loop& loop_;
  MirrorOptions options_;
  std::function<void()> on_status_change_;
  std::unique_ptr<k8s::Client> local_client_, remote_client_;
  std::unique_ptr<k8s::LeaderElector> elector_;
  std::unique_ptr<k8s::RecordWriter> writer_;
  std::unique_ptr<k8s::NodeInformer> informer_;
  bool leading_ = false;
  bool stopping_ = false;
  bool writer_ready_ = false;     // the writer listed the remote's records
  bool applying_ = false;         // an Apply (and its marker) is running
  bool apply_again_ = false;      // something changed while it ran
  bool records_current_ = false;  // the last Apply succeeded and nothing changed since
  bool complete_ = false;         // a complete marker was written while leading now
  bool marker_due_ = false;       // the marker's confirmation waits for the write pass that runs
  int64_t last_sync_ = 0;         // unix seconds of the last marker written
  size_t records_ = 0;
  std::vector<Rejection> rejected_;
  std::string leader_;  // as last seen in the Lease
  std::string last_error_;
  Timer apply_timer_, marker_timer_, retry_timer_, janitor_timer_;
  Backoff retry_backoff_;
  // The janitor's list in flight, and its writers deleting other remotes' records (by remote).
  std::unique_ptr<k8s::RequestCall> janitor_call_;
  bool janitor_listing_ = false;
  std::map<std::string, std::unique_ptr<k8s::RecordWriter>> janitor_writers_;
  k8s::RecordWriterCounters totals_;  // of writers gone
  uint64_t leaderships_ = 0, janitor_deletes_ = 0;
  metrics::Registry metrics_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace swg::worker
