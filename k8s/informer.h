#pragma once
// A node informer with client-go's reflector semantics: list (paginated) then watch from the list's
// resourceVersion; re-watch when a watch ends normally; relist on 410 (HTTP or ERROR event) and report the
// nodes that went away meanwhile as DELETED; back off on failures (0.8 s doubling to 30 s with jitter, reset
// after 2 minutes of health); treat a watch that sends nothing for silence_timeout as dead.
//
// It keeps only NodeInfo (with the annotations asked for), never whole objects. MODIFIED events whose
// NodeInfo is unchanged apart from resourceVersion (status heartbeats, other annotations) are not delivered;
// ADDED or MODIFIED follows the cache (a node already cached is MODIFIED), as client-go's handlers do.
//
// The apiserver is not trusted to behave: a list is bounded in pages, items and time, and what is kept in
// bytes (InformerOptions). A bound hit fails the list or the watch like any failure (backoff, then again),
// with code kErrorOverLimit in status().last_error_code, and is logged once until a list succeeds again.

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "k8s/node.h"
#include "k8s/parse.h"

namespace swg::k8s {

class Client;

struct NodeFilter {
  std::vector<std::string> annotation_keys;  // kept in NodeInfo.annotations; the others are dropped
  std::string field_selector;                // e.g. metadata.name=n1 (optional)
  std::string label_selector;                // optional
  // Keep only nodes with at least one of annotation_keys, like a selector evaluated here: the others are
  // never kept nor delivered, and a kept node that loses the last one is DELETED.
  bool only_annotated = false;
  bool keep_addresses = true;       // status.addresses
  // Watch the Nodes' metadata only (WatchOptions::metadata_only): about a fifth of the bytes of each event,
  // and a status update costs little more than its resourceVersion. Lists still read whole Nodes; spec.podCIDRs,
  // which the API lets be set once and never changed, is taken from the cache, and a node the cache cannot
  // complete (new, recreated with another uid, or without pod CIDRs yet) is read whole with one GET. Needs
  // keep_addresses false (status is not in the events).
  bool metadata_watch = false;
  size_t max_annotation_bytes = 0;  // longer annotation values are kept cut to this length; 0: whole
  // Set: the mirror's WireGuardPeer records are listed and watched instead of Nodes (k8s/peer_record.h).
  std::optional<PeerRecords> records;
};

struct InformerOptions {
  int64_t page_size = 500;
  std::chrono::milliseconds backoff_initial{800};
  std::chrono::milliseconds backoff_cap{30000};
  std::chrono::milliseconds backoff_reset{120000};  // failures further apart than this start again at initial
  std::chrono::seconds watch_timeout_min{300};      // timeoutSeconds is drawn from [min, max]
  std::chrono::seconds watch_timeout_max{600};
  std::chrono::milliseconds silence_timeout{180000};  // no bytes for this long: the watch is dead
  std::chrono::milliseconds short_watch{1000};        // a watch ending sooner without events is a failure
  int max_list_restarts = 3;                          // after expired continue tokens, per list
  // Bounds. A real list of 10,000 nodes takes 20 pages, about 10 MB kept and seconds.
  int max_list_pages = 1000;
  size_t max_list_items = 50000;                   // nodes received in one list, kept or not
  std::chrono::milliseconds list_timeout{300000};  // one list, all its pages and restarts
  // What the nodes kept may take (ApproxBytes): the cache, and the list being read, each.
  size_t max_cache_bytes = 16u << 20;
};

enum class InformerState { kIdle, kListing, kWatching, kBackoff, kStopped };
std::string_view InformerStateName(InformerState state);

struct InformerStatus {
  InformerState state = InformerState::kIdle;
  bool synced = false;  // a complete list has been applied
  std::string last_error;
  int last_error_code = 0;  // the failure's Error::code: an HTTP status, kErrorOverLimit, 0
  std::string resource_version;
  uint64_t added = 0, modified = 0, deleted = 0;  // events delivered
  uint64_t unchanged = 0;                         // MODIFIED events not delivered (nothing kept changed)
  uint64_t bookmarks = 0;
  uint64_t fetches = 0;  // nodes read whole (GET) to complete a metadata-only event (NodeFilter::metadata_watch)
  uint64_t lists = 0;          // complete lists applied (the first and each relist)
  uint64_t relists = 0;        // lists after the first
  uint64_t list_restarts = 0;  // lists restarted after an expired continue token
  uint64_t list_failures = 0;
  uint64_t watch_failures = 0;
  uint64_t watches = 0;                                // watches started
  size_t cache_bytes = 0;                              // what the cache takes (ApproxBytes)
  std::chrono::system_clock::time_point last_event{};  // epoch: never
  std::chrono::system_clock::time_point last_bytes{};
};

class NodeInformer {
 public:
  struct Handler {
    // ADDED/MODIFIED/DELETED, after the cache was updated.
    std::function<void(k8s::EventType, const NodeInfo&)> on_event;
    // After every complete list (the first and each relist), once its events were delivered.
    std::function<void()> on_synced;
  };

  NodeInformer(Client& client, NodeFilter filter, Handler handler, InformerOptions options = {});
  ~NodeInformer();
  NodeInformer(const NodeInformer&) = delete;
  NodeInformer& operator=(const NodeInformer&) = delete;

  void Start();
  void Stop();  // no callback after Stop() or destruction; Start() may be called again
  const std::map<std::string, NodeInfo>& nodes() const;  // the cache, by name
  InformerStatus status() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace swg::k8s
