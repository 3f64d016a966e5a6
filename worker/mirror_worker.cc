#include "worker/mirror_worker.h"

#include <unistd.h>

#include <algorithm>
#include <ctime>

#include "common/duration.h"
#include "common/exit_codes.h"
#include "common/json.h"
#include "common/log.h"
#include "k8s/client_impl.h"  // UrlEscape
#include "k8s/peer_record.h"
#include "worker/peers.h"
#include "worker/worker.h"
#include "worker/worker_parts.h"

namespace swg::worker {

using std::chrono::milliseconds;

namespace {
constexpr milliseconds kApplyWindow{50};

// The counters of a writer that goes (a lost leadership, a retried start) are kept in the totals.
void Accumulate(k8s::RecordWriterCounters& into, const k8s::RecordWriterCounters& c) {
  into.creates += c.creates, into.updates += c.updates, into.deletes += c.deletes;
  into.marker_writes += c.marker_writes;
  into.errors += c.errors + c.conflicts, into.requests += c.requests;
}
}  // namespace

std::string MirrorLeaseName(const std::string& remote) { return "semaphore-wireguard-mirror-" + remote; }

std::map<std::string, k8s::RecordContent> DesiredRecords(const std::map<std::string, k8s::NodeInfo>& nodes,
                                                         const std::string& local_cluster,
                                                         const RemoteConfig& remote,
                                                         std::vector<Rejection>* rejected) {
  // Validated as an agent validates them, without an own key (each agent still rejects its own).
  PeerContext context{local_cluster, remote.pod_subnets, Key(), remote.max_peers,
                      static_cast<uint16_t>(remote.persistent_keepalive.count())};
  PeerSet set = ComputePeers(nodes, context);
  std::map<std::string, const Rejection*> by_node;
  for (const auto& r : set.rejected) by_node[r.node] = &r;
  std::map<std::string, k8s::RecordContent> desired;
  for (const auto& [name, node] : nodes) {
    auto it = by_node.find(name);
    desired.emplace(
        name, k8s::RecordFromNode(node, local_cluster,
                                  it == by_node.end() ? "" : it->second->code + ": " + it->second->message));
  }
  if (rejected) *rejected = std::move(set.rejected);
  return desired;
}

std::string OtherRemotesSelector(const std::vector<std::string>& configured) {
  std::string label(k8s::kRecordRemoteLabel);
  std::string list;
  for (const auto& r : configured) list += (list.empty() ? "" : ",") + r;
  return label + "," + label + " notin (" + list + ")";
}

MirrorWorker::MirrorWorker(Loop& loop, MirrorOptions options, std::function<void()> on_status_change)
    : loop_(loop),
      options_(std::move(options)),
      on_status_change_(std::move(on_status_change)),
      apply_timer_(loop),
      marker_timer_(loop),
      retry_timer_(loop),
      janitor_timer_(loop),
      retry_backoff_(
          Backoff::Options{milliseconds(1000), 2.0, milliseconds(30000), 0.3, milliseconds(120000)}) {
  metrics_.Counter(kHttpRequests,
                   "Total number of HTTP requests to the Kubernetes API by host, code and method",
                   {"host", "code", "method"});
  metrics_.Gauge("semaphore_wg_mirror_leader", "1 when this replica is the remote's active mirror.",
                 {"remote"});
  metrics_.Gauge("semaphore_wg_mirror_records", "Node records the active mirror keeps for the remote.",
                 {"remote"});
  metrics_.Gauge("semaphore_wg_mirror_rejected_nodes",
                 "Remote nodes whose record carries a rejection, by reason (as semaphore_wg_rejected_peers).",
                 {"remote", "reason"});
  metrics_.Counter(
      "semaphore_wg_mirror_writes_total",
      "Records written by this replica: create, update, delete (node records), marker (the sync marker), "
      "delete_removed_remote (records of remotes not configured).",
      {"remote", "op"});
  metrics_.Counter("semaphore_wg_mirror_write_errors_total",
                   "Record requests that failed (each retry counts; 409 conflicts included).", {"remote"});
  metrics_.Gauge("semaphore_wg_mirror_last_sync_timestamp_seconds",
                 "When this replica last wrote the remote's sync marker (unix seconds; 0: never).",
                 {"remote"});
  metrics_.Counter("semaphore_wg_mirror_leader_acquired_total",
                   "Times this replica became the remote's mirror.", {"remote"});
  metrics_.Counter("semaphore_wg_watch_events_total", "Watch events of the remote's nodes, by type.",
                   {"remote", "type"});
  metrics_.Counter("semaphore_wg_watch_relists_total", "Lists of the remote's nodes after the first.",
                   {"remote"});
  metrics_.Counter("semaphore_wg_node_watcher_failures_total",
                   "Number of times the node watcher's list or watch failed.", {"cluster", "verb"});
}

MirrorWorker::~MirrorWorker() {
  *alive_ = false;
  informer_.reset();
  writer_.reset();
  janitor_writers_.clear();
  janitor_call_.reset();
  elector_.reset();
}

Status MirrorWorker::Start() {
  auto make = [this](std::unique_ptr<k8s::Client>& client, const std::string& name,
                     const k8s::ClusterSource& source) -> Status {
    auto c = CreateCountedClient(loop_, name, source, options_.client, metrics_);
    if (!c.ok()) return std::move(c).error();
    client = std::move(*c);
    return Ok();
  };
  if (auto st = make(local_client_, options_.local.name, LocalSource(options_.local)); !st.ok()) return st;
  if (auto st = make(remote_client_, options_.remote.name, RemoteSource(options_.remote)); !st.ok())
    return st;
  k8s::LeaderElectionConfig lc{options_.namespace_name, MirrorLeaseName(options_.remote.name),
                               options_.identity,       options_.lease_duration,
                               options_.renew_deadline, options_.retry_period};
  k8s::LeaderCallbacks cb;
  cb.on_started_leading = [this] { StartedLeading(); };
  cb.on_stopped_leading = [this] { StoppedLeading(); };
  cb.on_new_leader = [this](const std::string& identity) {
    if (identity != options_.identity) {
      log::Info(identity.empty() ? "the remote's Lease was released" : "another replica mirrors the remote",
                {{"leader", identity},
                 {"lease", options_.namespace_name + "/" + MirrorLeaseName(options_.remote.name)}});
    }
    leader_ = identity;
    Changed();
  };
  auto elector = k8s::LeaderElector::Create(*local_client_, lc, cb);
  if (!elector.ok()) return Error{elector.error().message, kExitConfig};
  elector_ = std::move(*elector);
  log::Info("mirror starting: trying the remote's Lease",
            {{"lease", options_.namespace_name + "/" + MirrorLeaseName(options_.remote.name)},
             {"identity", options_.identity},
             {"remote_api", remote_client_->server()},
             {"local_api", local_client_->server()}});
  elector_->Start();
  Changed();
  return Ok();
}

void MirrorWorker::Stop(std::function<void()> done) {
  stopping_ = true;
  if (!elector_) {
    retry_timer_.Start(milliseconds(0), std::move(done));
    return;
  }
  elector_->Stop(/*release=*/true, std::move(done));
}

void MirrorWorker::StartedLeading() {
  leading_ = true;
  leaderships_++;
  complete_ = false;
  records_current_ = false;
  leader_ = options_.identity;
  log::Info("leading: mirroring the remote's nodes into records",
            {{"namespace", options_.namespace_name}, {"identity", options_.identity}});
  StartWriter();
  k8s::NodeFilter filter;
  // What an agent keeps of a remote node (Worker::StartRemoteWatch): nodes without our annotations are not
  // peers, get no record and take no memory.
  filter.annotation_keys = PeerAnnotationKeys(options_.local.name);
  filter.only_annotated = true;
  filter.keep_addresses = false;
  filter.max_annotation_bytes = 256;
  filter.metadata_watch = true;  // as the agent's
  k8s::NodeInformer::Handler h;
  h.on_event = [this](k8s::EventType, const k8s::NodeInfo&) {
    records_current_ = false;
    ScheduleApply();
  };
  h.on_synced = [this] {
    records_current_ = false;
    ScheduleApply();
    Changed();
  };
  k8s::InformerOptions io = options_.informer;
  io.max_cache_bytes = std::max(io.max_cache_bytes, options_.remote.max_peers * 1638);
  io.max_list_items = std::max(io.max_list_items, options_.remote.max_peers * 4);
  informer_ = std::make_unique<k8s::NodeInformer>(*remote_client_, filter, h, io);
  informer_->Start();
  marker_timer_.StartRepeating(options_.marker_interval, [this] {
    // Confirm only what is true now: the records hold the remote's nodes as the watch has them. While a write
    // pass runs (a burst of changes), the confirmation follows the pass that succeeds.
    if (!complete_ || !RemoteHealthy()) return;
    if (records_current_ && !applying_) {
      WriteMarker();
    } else {
      marker_due_ = true;
    }
    Changed();
  });
  const auto& all = options_.configured_remotes;
  if (!all.empty() && *std::min_element(all.begin(), all.end()) == options_.remote.name) {
    RunJanitor();
    janitor_timer_.StartRepeating(options_.marker_interval, [this] { RunJanitor(); });
  }
  Changed();
}

void MirrorWorker::StoppedLeading() {
  const bool was = leading_;
  leading_ = false;
  complete_ = false;
  writer_ready_ = false;
  applying_ = false;
  apply_again_ = false;
  records_current_ = false;
  marker_due_ = false;
  informer_.reset();
  if (writer_) {
    const auto& c = writer_->counters();
    Accumulate(totals_, c);
    writer_.reset();
  }
  janitor_call_.reset();
  janitor_listing_ = false;
  janitor_writers_.clear();
  apply_timer_.Stop();
  marker_timer_.Stop();
  retry_timer_.Stop();
  janitor_timer_.Stop();
  if (was && stopping_) {
    log::Info("stopped leading: the Lease is given up for a standby", {{"identity", options_.identity}});
  } else if (was) {
    log::Warn("stopped leading: no more watching or writing for this remote",
              {{"identity", options_.identity}});
  }
  Changed();
}

void MirrorWorker::StartWriter() {
  if (writer_) {
    const auto& c = writer_->counters();
    Accumulate(totals_, c);
  }
  writer_ready_ = false;
  writer_ = std::make_unique<k8s::RecordWriter>(
      *local_client_, k8s::RecordWriterOptions{options_.namespace_name, options_.remote.name});
  writer_->Start([this](Status st) {
    if (!st.ok()) {
      auto delay = retry_backoff_.Next();
      last_error_ = "cannot list the remote's records: " + st.error().message;
      log::Warn("cannot list the remote's records; trying again",
                {{"error", st.error().message}, {"retry_in", FormatDuration(delay)}});
      retry_timer_.Start(delay, [this] {
        if (leading_) StartWriter();
      });
      Changed();
      return;
    }
    writer_ready_ = true;
    ScheduleApply();
  });
}

void MirrorWorker::ScheduleApply() {
  if (!leading_ || apply_timer_.active()) return;
  // The events read in one turn of the loop become one write pass; under a burst, at most one per window.
  apply_timer_.Start(applying_ ? kApplyWindow : milliseconds(0), [this] { Apply(); });
}

void MirrorWorker::Apply() {
  if (!leading_ || !writer_ready_ || !informer_ || !informer_->status().synced) return;
  if (applying_) {
    apply_again_ = true;
    return;
  }
  applying_ = true;
  apply_again_ = false;
  std::vector<Rejection> rejected;
  auto desired = DesiredRecords(informer_->nodes(), options_.local.name, options_.remote, &rejected);
  const size_t n = desired.size();
  writer_->Apply(std::move(desired), /*complete_list=*/true,
                 [this, n, rejected = std::move(rejected)](Status st) mutable {
                   applying_ = false;
                   if (!st.ok()) {
                     auto delay = retry_backoff_.Next();
                     last_error_ = "cannot write the records: " + st.error().message;
                     log::Warn("cannot write every record; trying again",
                               {{"error", st.error().message}, {"retry_in", FormatDuration(delay)}});
                     records_current_ = false;
                     retry_timer_.Start(delay, [this] { ScheduleApply(); });
                     Changed();
                     return;
                   }
                   retry_backoff_.Reset();
                   if (last_error_.rfind("cannot ", 0) == 0) last_error_.clear();
                   records_ = n;
                   rejected_ = std::move(rejected);
                   records_current_ = !apply_again_ && !apply_timer_.active();
                   // The marker says "complete" once, after the first complete list is written; then it is
                   // only refreshed (every marker_interval): each write of it is an event for every agent.
                   if (!complete_ || marker_due_) {
                     marker_due_ = false;
                     WriteMarker();
                   }
                   if (apply_again_) ScheduleApply();
                   Changed();
                 });
}

void MirrorWorker::WriteMarker() {
  if (!writer_) return;
  writer_->WriteMarker(true, options_.identity, static_cast<int64_t>(records_), [this](Status st) {
    if (!st.ok()) {
      last_error_ = "cannot write the sync marker: " + st.error().message;
      log::Warn("cannot write the sync marker", {{"error", st.error().message}});
      Changed();
      return;
    }
    if (!complete_) {
      log::Info("the records hold a complete list of the remote's nodes; sync marker written",
                {{"records", std::to_string(records_)}, {"rejected", std::to_string(rejected_.size())}});
    }
    complete_ = true;
    last_sync_ = static_cast<int64_t>(time(nullptr));
    if (last_error_.rfind("cannot write the sync marker", 0) == 0) last_error_.clear();
    Changed();
  });
}

bool MirrorWorker::RemoteHealthy() const {
  if (!informer_) return false;
  auto st = informer_->status();
  return st.synced && (st.state == k8s::InformerState::kWatching || st.state == k8s::InformerState::kListing);
}

void MirrorWorker::RunJanitor() {
  if (!leading_ || janitor_listing_ || !janitor_writers_.empty()) return;
  janitor_listing_ = true;
  std::string path = k8s::PeerRecordsPath(options_.namespace_name) + "?limit=500&labelSelector=" +
                     k8s::UrlEscape(OtherRemotesSelector(options_.configured_remotes));
  std::weak_ptr<bool> alive = alive_;
  janitor_call_ = local_client_->RequestJson("GET", path, "", "", [this, alive](Result<std::string> body) {
    if (alive.expired()) return;
    janitor_listing_ = false;  // the call itself is replaced by the next run, not destroyed from its callback
    if (!body.ok()) {
      log::Warn("cannot list the records of remotes not configured", {{"error", body.error().message}});
      return;
    }
    json_error_t err;
    JsonPtr list(json_loadb(body->data(), body->size(), 0, &err));
    std::set<std::string> remotes;
    size_t i;
    json_t* item;
    json_array_foreach(json_object_get(list.get(), "items"), i, item) {
      const json_t* labels = json_object_get(json_object_get(item, "metadata"), "labels");
      const char* r =
          json_string_value(json_object_get(labels, std::string(k8s::kRecordRemoteLabel).c_str()));
      if (r && *r) remotes.insert(r);
    }
    for (const auto& r : remotes) {
      log::Info("deleting the records of a remote that is not in the mirror's configuration",
                {{"removed_remote", r}, {"namespace", options_.namespace_name}});
      auto w = std::make_unique<k8s::RecordWriter>(*local_client_,
                                                   k8s::RecordWriterOptions{options_.namespace_name, r});
      k8s::RecordWriter* raw = w.get();
      janitor_writers_[r] = std::move(w);
      raw->DeleteAll([this, r, alive](Status st) {
        if (alive.expired()) return;
        if (st.ok()) {
          log::Info("deleted the records of the removed remote", {{"removed_remote", r}});
        } else {
          log::Warn("cannot delete every record of the removed remote; trying again later",
                    {{"removed_remote", r}, {"error", st.error().message}});
        }
        auto it = janitor_writers_.find(r);
        if (it != janitor_writers_.end()) {
          const auto& c = it->second->counters();
          janitor_deletes_ += c.deletes, totals_.errors += c.errors + c.conflicts,
              totals_.requests += c.requests;
          janitor_writers_.erase(it);  // the writer may be destroyed from its own done
        }
      });
    }
  });
}

void MirrorWorker::Changed() {
  if (on_status_change_) on_status_change_();
}

WorkerStatus MirrorWorker::CurrentStatus() const {
  WorkerStatus s;
  s.remote = options_.remote.name;
  s.pid = getpid();
  s.leader = leader_;
  s.initialised = elector_ != nullptr;
  s.peers = records_;
  s.rejected = rejected_.size();
  s.last_error = last_error_;
  if (informer_) {
    auto st = informer_->status();
    s.watch = std::string(k8s::InformerStateName(st.state));
    if (s.last_error.empty() && !st.last_error.empty() && st.state != k8s::InformerState::kWatching) {
      s.last_error = st.last_error;
    }
  }
  if (!elector_) {
    s.state = "starting";
  } else if (!leading_) {
    s.state = "standby";
    s.synced = true;  // nothing to do: the standby is as ready as it can be
    s.peers = 0;
    s.rejected = 0;
    auto es = elector_->status();
    if (!es.last_error.empty()) s.last_error = "leader election: " + es.last_error;
  } else if (!complete_) {
    s.state = "syncing";
  } else if (!RemoteHealthy() || !last_error_.empty()) {
    s.state = "degraded";
    s.reason = RemoteHealthy() ? "records not written" : "remote watch failing";
    s.synced = true;
    if (s.last_error.empty()) s.last_error = "the remote watch is " + s.watch;
  } else {
    s.state = "ready";
    s.synced = true;
  }
  return s;
}

WorkerStatus MirrorWorker::DetailedStatus() const {
  WorkerStatus s = CurrentStatus();
  if (!leading_) return s;
  for (const auto& r : rejected_) s.rejected_list.push_back(RejectedStatus{r.node, r.code, r.message});
  return s;
}

std::vector<metrics::Family> MirrorWorker::CollectMetrics() {
  const std::string& remote = options_.remote.name;
  metrics::Registry& m = metrics_;
  m.Set("semaphore_wg_mirror_leader", {remote}, leading_ ? 1 : 0);
  m.Set("semaphore_wg_mirror_records", {remote}, leading_ ? static_cast<double>(records_) : 0);
  std::map<std::string, double> by_reason;
  for (const char* code : kReasonCodes) by_reason[code] = 0;
  if (leading_) {
    for (const auto& r : rejected_) by_reason[r.code]++;
  }
  for (const auto& [reason, n] : by_reason) m.Set("semaphore_wg_mirror_rejected_nodes", {remote, reason}, n);
  k8s::RecordWriterCounters c = totals_;
  if (writer_) Accumulate(c, writer_->counters());
  uint64_t removed = janitor_deletes_;
  for (const auto& [_, w] : janitor_writers_) removed += w->counters().deletes;
  m.Set("semaphore_wg_mirror_writes_total", {remote, "create"}, static_cast<double>(c.creates));
  m.Set("semaphore_wg_mirror_writes_total", {remote, "update"}, static_cast<double>(c.updates));
  m.Set("semaphore_wg_mirror_writes_total", {remote, "delete"}, static_cast<double>(c.deletes));
  m.Set("semaphore_wg_mirror_writes_total", {remote, "marker"}, static_cast<double>(c.marker_writes));
  m.Set("semaphore_wg_mirror_writes_total", {remote, "delete_removed_remote"}, static_cast<double>(removed));
  m.Set("semaphore_wg_mirror_write_errors_total", {remote}, static_cast<double>(c.errors));
  m.Set("semaphore_wg_mirror_last_sync_timestamp_seconds", {remote}, static_cast<double>(last_sync_));
  m.Set("semaphore_wg_mirror_leader_acquired_total", {remote}, static_cast<double>(leaderships_));
  if (informer_) {
    SetWatchEvents(m, remote, *informer_);
    SetWatcherFailures(m, remote, *informer_);
  }
  return m.Snapshot();
}

}  // namespace swg::worker
