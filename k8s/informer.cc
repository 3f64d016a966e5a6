#include "k8s/informer.h"

#include <algorithm>
#include <random>

#include "common/backoff.h"
#include "common/duration.h"
#include "common/log.h"
#include "common/loop.h"
#include "k8s/client.h"
#include "k8s/json_load.h"

namespace swg::k8s {
namespace {

using SteadyClock = std::chrono::steady_clock;

bool SameExceptVersion(const NodeInfo& a, const NodeInfo& b) {
  return a.name == b.name && a.uid == b.uid && a.creation_timestamp == b.creation_timestamp &&
         a.annotations == b.annotations && a.pod_cidrs == b.pod_cidrs && a.addresses == b.addresses;
}

std::string Ms(std::chrono::milliseconds d) { return std::to_string(d.count()); }

bool HasAnnotation(const NodeInfo& node, const NodeFilter& filter) {
  return !filter.only_annotated || !node.annotations.empty();
}

// Drops what the caller does not keep (see NodeFilter).
void Trim(NodeInfo& node, const NodeFilter& filter) {
  if (!filter.keep_addresses) std::vector<NodeAddress>().swap(node.addresses);
  if (filter.max_annotation_bytes > 0) {
    for (auto& [key, value] : node.annotations) {
      if (value.size() > filter.max_annotation_bytes) {
        value.resize(filter.max_annotation_bytes);
        value.shrink_to_fit();
      }
    }
  }
}

Error OverLimit(const std::string& cluster, const std::string& what) {
  return Error{cluster + ": list: " + what, kErrorOverLimit};
}

}  // namespace

std::string_view InformerStateName(InformerState state) {
  switch (state) {
    case InformerState::kIdle:
      return "idle";
    case InformerState::kListing:
      return "listing";
    case InformerState::kWatching:
      return "watching";
    case InformerState::kBackoff:
      return "backoff";
    case InformerState::kStopped:
      return "stopped";
  }
  return "?";
}

struct NodeInformer::Impl {
  Impl(Client& c, NodeFilter f, Handler h, InformerOptions o)
      : client(c),
        filter(std::move(f)),
        annotations(AnnotationFilter::Only(filter.annotation_keys)),
        handler(std::move(h)),
        options(o),
        backoff(
            Backoff::Options{options.backoff_initial, 2.0, options.backoff_cap, 0.5, options.backoff_reset}),
        retry_timer(c.loop()),
        silence_timer(c.loop()) {
    annotations.records = filter.records;
  }

  Client& client;
  NodeFilter filter;
  AnnotationFilter annotations;
  Handler handler;
  InformerOptions options;
  Backoff backoff;
  Timer retry_timer;
  Timer silence_timer;
  std::mt19937_64 rng{std::random_device{}()};

  std::map<std::string, NodeInfo> cache;
  size_t cache_bytes = 0;
  InformerStatus status;
  uint64_t generation = 0;  // bumped by Start/Stop: callbacks of an older generation are ignored
  std::shared_ptr<bool> alive = std::make_shared<bool>(true);

  std::map<std::string, NodeInfo> listing;  // the list being read
  size_t listing_bytes = 0;
  size_t list_items = 0;  // received in this list, kept or not
  std::string list_continue;
  int list_restarts = 0;
  int pages = 0;
  SteadyClock::time_point list_started;
  SteadyClock::time_point list_deadline;  // for the list and its restarts
  bool over_limit_logged = false;         // a bound hit is logged once until a list succeeds

  // metadata_watch: the GETs in flight by node name; `again`: an event came meanwhile, read it once more. An
  // answer whose id is no longer the node's (dropped, or started again) is ignored.
  struct Fetch {
    uint64_t id = 0;
    bool again = false;
  };
  std::map<std::string, Fetch> fetches;
  uint64_t last_fetch_id = 0;

  std::unique_ptr<WatchCall> watch;
  SteadyClock::time_point watch_started;
  uint64_t watch_events = 0;
  bool just_listed = false;       // the next watch starts from a fresh list
  bool watch_after_list = false;  // the current one did

  // A 410 right after a fresh list means something is wrong (a loop): back off instead of relisting at once.
  bool SuspiciousExpiry() const {
    return watch_after_list && watch_events == 0 && SteadyClock::now() - watch_started < options.short_watch;
  }

  log::Fields Fields(std::string verb) const {
    return {{"cluster", client.cluster()}, {"verb", std::move(verb)}};
  }

  // Calls the handler; false when the informer was stopped or destroyed meanwhile.
  bool Deliver(EventType type, const NodeInfo& node) {
    if (type == EventType::kAdded) ++status.added;
    if (type == EventType::kModified) ++status.modified;
    if (type == EventType::kDeleted) ++status.deleted;
    status.last_event = std::chrono::system_clock::now();
    if (!handler.on_event) return true;
    std::weak_ptr<bool> guard = alive;
    uint64_t gen = generation;
    handler.on_event(type, node);
    return !guard.expired() && gen == generation;
  }

  // An ADDED or MODIFIED state from the server: updates the cache and delivers what changed.
  bool Apply(NodeInfo node) {
    auto it = cache.find(node.name);
    if (it == cache.end()) {
      cache_bytes += ApproxBytes(node);
      // Moved, not copied (the list's thousands of nodes); handlers only read the cache.
      std::string name = node.name;
      auto added = cache.emplace(std::move(name), std::move(node)).first;
      return Deliver(EventType::kAdded, added->second);
    }
    if (SameExceptVersion(it->second, node)) {
      cache_bytes -= std::min(cache_bytes, ApproxBytes(it->second));
      it->second.resource_version = node.resource_version;
      cache_bytes += ApproxBytes(it->second);
      ++status.unchanged;
      return true;
    }
    cache_bytes -= std::min(cache_bytes, ApproxBytes(it->second));
    cache_bytes += ApproxBytes(node);
    it->second = std::move(node);
    return Deliver(EventType::kModified, it->second);
  }

  // Removes a cached node and delivers DELETED with its last state as the server sent it.
  bool Remove(const std::string& name, const NodeInfo& last) {
    auto it = cache.find(name);
    if (it != cache.end()) {
      cache_bytes -= std::min(cache_bytes, ApproxBytes(it->second));
      cache.erase(it);
    }
    return Deliver(EventType::kDeleted, last);
  }

  void StartList();
  void BeginList();
  void RequestPage();
  Status OnItem(NodeInfo node);
  void OnPage(Result<NodeListPage> page);
  void ApplyList(const std::string& resource_version);
  void StartWatch();
  void OnEvent(WatchEvent event);
  // NodeFilter::metadata_watch, where it applies: Nodes (not records) without addresses.
  bool MetadataOnly() const { return filter.metadata_watch && !filter.records && !filter.keep_addresses; }
  bool Complete(NodeInfo& node);
  void StartFetch(const std::string& name);
  void OnFetched(const std::string& name, Result<NodeInfo> node);
  void Upsert(NodeInfo node);
  void OnWatchEnd(const Status& end);
  void Relist(bool failed);
  void WatchFailed(const Error& error);
  void ListFailed(const Error& error);
  void LogFailure(std::string_view verb, const Error& error, std::chrono::milliseconds retry_in);
  void CheckSilence();
  template <typename F>
  auto Guarded(F f) {
    std::weak_ptr<bool> guard = alive;
    uint64_t gen = generation;
    return [this, guard, gen, f](auto&&... args) {
      if (guard.expired() || gen != generation) return;
      (this->*f)(std::forward<decltype(args)>(args)...);
    };
  }
};

// A new list, with a new time bound.
void NodeInformer::Impl::StartList() {
  list_deadline = SteadyClock::now() + options.list_timeout;
  list_restarts = 0;
  BeginList();
}

// The list from its first page (again, after an expired continue token).
void NodeInformer::Impl::BeginList() {
  status.state = InformerState::kListing;
  listing.clear();
  listing_bytes = 0;
  list_items = 0;
  list_continue.clear();
  pages = 0;
  list_started = SteadyClock::now();
  RequestPage();
}

void NodeInformer::Impl::RequestPage() {
  // Rounded up, so that a page cut short by the deadline ends after it, and is reported as the time bound.
  auto left = std::chrono::ceil<std::chrono::milliseconds>(list_deadline - SteadyClock::now());
  if (left.count() <= 0) {
    return ListFailed(OverLimit(client.cluster(), "not complete after " +
                                                      FormatDuration(options.list_timeout) + " (" +
                                                      std::to_string(pages) + " pages)"));
  }
  ListOptions opts;
  opts.label_selector = filter.label_selector;
  opts.field_selector = filter.field_selector;
  opts.limit = options.page_size;
  opts.continue_token = list_continue;
  opts.timeout = left + std::chrono::milliseconds(1);
  std::weak_ptr<bool> guard = alive;
  uint64_t gen = generation;
  client.ListNodes(
      opts, annotations,
      [this, guard, gen](NodeInfo node) -> Status {
        if (guard.expired() || gen != generation) return Error{"the informer stopped"};
        return OnItem(std::move(node));
      },
      Guarded(&Impl::OnPage));
}

// Each node of a page as it arrives: counted, and kept when wanted, within the bounds.
Status NodeInformer::Impl::OnItem(NodeInfo node) {
  // Errors here end the page; the client adds the cluster and the request.
  if (++list_items > options.max_list_items) {
    return Error{"more than " + std::to_string(options.max_list_items) + " nodes in one list",
                 kErrorOverLimit};
  }
  Trim(node, filter);
  if (!HasAnnotation(node, filter)) {
    if (auto it = listing.find(node.name);
        it != listing.end()) {  // a name listed twice: the later one counts
      listing_bytes -= std::min(listing_bytes, ApproxBytes(it->second));
      listing.erase(it);
    }
    return Ok();
  }
  size_t bytes = ApproxBytes(node);
  if (auto it = listing.find(node.name); it != listing.end()) {
    listing_bytes -= std::min(listing_bytes, ApproxBytes(it->second));
  }
  if (listing_bytes + bytes > options.max_cache_bytes) {
    return Error{"the nodes to keep take more than " + SizeText(options.max_cache_bytes) + " (" +
                     std::to_string(listing.size()) + " nodes so far)",
                 kErrorOverLimit};
  }
  listing_bytes += bytes;
  std::string name = node.name;
  listing.insert_or_assign(std::move(name), std::move(node));
  return Ok();
}

void NodeInformer::Impl::OnPage(Result<NodeListPage> page) {
  if (!page.ok()) {
    if (page.error().code == 410 && !list_continue.empty() && list_restarts < options.max_list_restarts) {
      // The continue token expired (etcd compacted meanwhile): the list starts again from the beginning.
      ++status.list_restarts;
      ++list_restarts;
      log::Info("list continue token expired; listing again from the start",
                {{"cluster", client.cluster()}, {"error", page.error().message}});
      return BeginList();
    }
    if (SteadyClock::now() >= list_deadline) {
      return ListFailed(
          OverLimit(client.cluster(), "not complete after " + FormatDuration(options.list_timeout) + " (" +
                                          std::to_string(pages) + " pages): " + page.error().message));
    }
    return ListFailed(page.error());
  }
  ++pages;
  if (!page->continue_token.empty()) {
    if (pages >= options.max_list_pages) {
      return ListFailed(OverLimit(client.cluster(), "more than " + std::to_string(options.max_list_pages) +
                                                        " pages (" + std::to_string(list_items) + " nodes)"));
    }
    list_continue = std::move(page->continue_token);
    return RequestPage();
  }
  ApplyList(page->resource_version);
}

void NodeInformer::Impl::ApplyList(const std::string& resource_version) {
  std::map<std::string, NodeInfo> fresh;
  fresh.swap(listing);
  ++status.lists;
  if (status.lists > 1) ++status.relists;
  status.resource_version = resource_version;
  const uint64_t added = status.added, deleted = status.deleted;
  // Nodes that went away while we were not watching: client-go reports them as deletions too.
  std::vector<std::string> gone;
  for (const auto& [name, node] : cache) {
    if (!fresh.count(name)) gone.push_back(name);
  }
  for (const std::string& name : gone) {
    NodeInfo last = cache[name];
    if (!Remove(name, last)) return;
  }
  listing_bytes = 0;
  for (auto& [name, node] : fresh) {
    if (!Apply(std::move(node))) return;
  }
  status.synced = true;
  over_limit_logged = false;
  auto took = std::chrono::duration_cast<std::chrono::milliseconds>(SteadyClock::now() - list_started);
  log::Info("listed nodes", {{"cluster", client.cluster()},
                             {"nodes", std::to_string(cache.size())},
                             {"pages", std::to_string(pages)},
                             {"resource_version", resource_version},
                             {"added", std::to_string(status.added - added)},
                             {"deleted", std::to_string(status.deleted - deleted)},
                             {"took_ms", Ms(took)}});
  if (handler.on_synced) {
    std::weak_ptr<bool> guard = alive;
    uint64_t gen = generation;
    handler.on_synced();
    if (guard.expired() || gen != generation) return;
  }
  just_listed = true;
  StartWatch();
}

void NodeInformer::Impl::StartWatch() {
  status.state = InformerState::kWatching;
  std::uniform_int_distribution<int64_t> pick(
      options.watch_timeout_min.count(),
      std::max(options.watch_timeout_min, options.watch_timeout_max).count());
  WatchOptions opts;
  opts.label_selector = filter.label_selector;
  opts.field_selector = filter.field_selector;
  opts.resource_version = status.resource_version;
  opts.timeout_seconds = pick(rng);
  opts.allow_bookmarks = true;
  opts.metadata_only = MetadataOnly();
  watch_started = SteadyClock::now();
  watch_events = 0;
  watch_after_list = just_listed;
  just_listed = false;
  ++status.watches;
  watch = client.WatchNodes(opts, annotations, Guarded(&Impl::OnEvent), Guarded(&Impl::OnWatchEnd));
  auto every = std::clamp<std::chrono::milliseconds>(
      options.silence_timeout / 4, std::chrono::milliseconds(10), std::chrono::milliseconds(5000));
  silence_timer.StartRepeating(every, Guarded(&Impl::CheckSilence));
}

void NodeInformer::Impl::OnEvent(WatchEvent event) {
  status.last_bytes = std::chrono::system_clock::now();
  if (event.type == WatchEventType::kError) {
    const ApiStatus& s = event.status;
    std::string text = client.cluster() + ": watch from resourceVersion " + status.resource_version +
                       ": ERROR event " + std::to_string(s.code) + (s.reason.empty() ? "" : " " + s.reason) +
                       ": " + s.message;
    watch.reset();
    silence_timer.Stop();
    if (s.code == 410) {
      log::Info("watch resourceVersion too old; relisting", {{"cluster", client.cluster()},
                                                             {"resource_version", status.resource_version},
                                                             {"error", s.message}});
      return Relist(SuspiciousExpiry());
    }
    return WatchFailed(Error{text, s.code});
  }
  ++watch_events;
  if (!event.resource_version.empty()) status.resource_version = event.resource_version;
  switch (event.type) {
    case WatchEventType::kAdded:
    case WatchEventType::kModified: {
      Trim(event.node, filter);
      if (HasAnnotation(event.node, filter) && !Complete(event.node)) return;  // read whole first
      return Upsert(std::move(event.node));
    }
    case WatchEventType::kDeleted:
      fetches.erase(event.node.name);  // an answer still in flight is dropped
      Trim(event.node, filter);
      if (cache.count(event.node.name)) {
        Remove(event.node.name, event.node);
      } else if (HasAnnotation(event.node, filter)) {
        Deliver(EventType::kDeleted, event.node);
      }
      return;
    case WatchEventType::kBookmark:
      ++status.bookmarks;
      return;
    case WatchEventType::kError:
      return;
  }
}

// An ADDED or MODIFIED state, whole: into the cache (or out of it, without the annotations asked for).
void NodeInformer::Impl::Upsert(NodeInfo node) {
  auto it = cache.find(node.name);
  if (!HasAnnotation(node, filter)) {  // out of the filter: gone for the handler
    if (it != cache.end()) Remove(node.name, node);
    return;
  }
  size_t bytes = cache_bytes + ApproxBytes(node) - (it == cache.end() ? 0 : ApproxBytes(it->second));
  if (bytes > options.max_cache_bytes) {
    watch.reset();
    silence_timer.Stop();
    return WatchFailed(Error{client.cluster() + ": watch: the nodes kept would take more than " +
                                 SizeText(options.max_cache_bytes) + " (" + std::to_string(cache.size()) +
                                 " nodes)",
                             kErrorOverLimit});
  }
  Apply(std::move(node));
}

// A metadata-only event (no pod CIDRs) gets them from the cached node, which the API does not let change once
// set; false when the cache cannot (a GET is started, or marked to run again, and the event waits for it).
// Whole Nodes (a server that sent them anyway) pass as they are.
bool NodeInformer::Impl::Complete(NodeInfo& node) {
  if (!MetadataOnly() || !node.pod_cidrs.empty()) return true;
  auto pending = fetches.find(node.name);
  if (pending != fetches.end()) {
    pending->second.again = true;
    return false;
  }
  auto it = cache.find(node.name);
  if (it != cache.end() && it->second.uid == node.uid && !it->second.pod_cidrs.empty()) {
    node.pod_cidrs = it->second.pod_cidrs;
    return true;
  }
  StartFetch(node.name);
  return false;
}

void NodeInformer::Impl::StartFetch(const std::string& name) {
  const uint64_t id = ++last_fetch_id;
  fetches[name] = Fetch{id, false};
  ++status.fetches;
  std::weak_ptr<bool> guard = alive;
  uint64_t gen = generation;
  // Read with the watch's own filter: the annotations asked for, no conditions.
  client.GetNode(
      name,
      [this, guard, gen, name, id](Result<NodeInfo> node) {
        if (guard.expired() || gen != generation) return;
        auto it = fetches.find(name);
        if (it == fetches.end() || it->second.id != id) return;  // dropped meanwhile
        OnFetched(name, std::move(node));
      },
      annotations);
}

void NodeInformer::Impl::OnFetched(const std::string& name, Result<NodeInfo> node) {
  bool again = fetches[name].again;
  fetches.erase(name);
  if (!node.ok()) {
    if (node.error().code == 404) {  // gone: the DELETED event may still come, or came before the watch
      auto it = cache.find(name);
      if (it != cache.end()) {
        NodeInfo last = it->second;
        Remove(name, last);
      }
      return;
    }
    // Any other failure: the watch would not tell this node again; a new list reads every node whole.
    log::Warn("cannot read a node whole after a metadata-only event; listing again",
              {{"cluster", client.cluster()}, {"node", name}, {"error", node.error().message}});
    watch.reset();
    silence_timer.Stop();
    return Relist(true);
  }
  Trim(*node, filter);
  if (again) StartFetch(name);  // an event came while this one was read: read it once more
  Upsert(std::move(node).value());
}

void NodeInformer::Impl::OnWatchEnd(const Status& end) {
  watch.reset();
  silence_timer.Stop();
  bool short_lived = watch_events == 0 && SteadyClock::now() - watch_started < options.short_watch;
  if (end.ok()) {
    if (short_lived)
      return WatchFailed(Error{client.cluster() + ": watch: the server ended it at once without events", 0});
    log::Debug("watch ended; watching again", {{"cluster", client.cluster()}});
    return StartWatch();
  }
  if (end.error().code == 410) {
    log::Info("watch answered 410; relisting",
              {{"cluster", client.cluster()}, {"error", end.error().message}});
    return Relist(SuspiciousExpiry());
  }
  WatchFailed(end.error());
}

void NodeInformer::Impl::Relist(bool failed) {
  if (!failed) return StartList();
  auto delay = backoff.Next();
  status.state = InformerState::kBackoff;
  retry_timer.Start(delay, Guarded(&Impl::StartList));
}

void NodeInformer::Impl::WatchFailed(const Error& error) {
  ++status.watch_failures;
  status.last_error = error.message;
  status.last_error_code = error.code;
  status.state = InformerState::kBackoff;
  auto delay = backoff.Next();
  LogFailure("watch", error, delay);
  retry_timer.Start(delay, Guarded(&Impl::StartWatch));
}

void NodeInformer::Impl::ListFailed(const Error& error) {
  ++status.list_failures;
  status.last_error = error.message;
  status.last_error_code = error.code;
  status.state = InformerState::kBackoff;
  std::map<std::string, NodeInfo>().swap(listing);
  listing_bytes = 0;
  auto delay = backoff.Next();
  LogFailure("list", error, delay);
  retry_timer.Start(delay, Guarded(&Impl::StartList));
}

void NodeInformer::Impl::LogFailure(std::string_view verb, const Error& error,
                                    std::chrono::milliseconds retry_in) {
  log::Fields fields = Fields(std::string(verb));
  fields.push_back({"error", error.message});
  fields.push_back({"retry_in_ms", Ms(retry_in)});
  const bool records = filter.records.has_value();
  const std::string what = (records ? "record " : "node ") + std::string(verb);
  if (error.code == 403) {
    log::Error(what + (records ? " forbidden: the credentials need get, list and watch on wireguardpeers "
                                 "(wireguard.semaphore.uw.io) in the namespace " + filter.records->namespace_name
                               : " forbidden: the credentials need get, list and watch on nodes"),
               fields);
  } else if (error.code == kErrorOverLimit && !over_limit_logged) {
    // A hostile or broken apiserver does it again at every retry: once is enough until a list succeeds.
    over_limit_logged = true;
    log::Error(what + " refused: the apiserver's answer exceeds a bound", fields);
  } else if (error.code == kErrorOverLimit) {
    log::Debug(what + " refused again: the apiserver's answer exceeds a bound", fields);
  } else {
    log::Warn(what + " failed", fields);
  }
}

void NodeInformer::Impl::CheckSilence() {
  if (!watch) return;
  auto now = SteadyClock::now();
  auto last = watch->last_data();
  status.last_bytes = std::chrono::system_clock::now() -
                      std::chrono::duration_cast<std::chrono::system_clock::duration>(now - last);
  if (now - last < options.silence_timeout) return;
  watch.reset();
  silence_timer.Stop();
  auto silent = std::chrono::duration_cast<std::chrono::milliseconds>(now - last);
  WatchFailed(Error{
      client.cluster() + ": watch: no data for " + Ms(silent) + " ms; the connection is presumed dead", 0});
}

NodeInformer::NodeInformer(Client& client, NodeFilter filter, Handler handler, InformerOptions options)
    : impl_(std::make_unique<Impl>(client, std::move(filter), std::move(handler), options)) {}

NodeInformer::~NodeInformer() = default;

void NodeInformer::Start() {
  if (impl_->status.state != InformerState::kIdle && impl_->status.state != InformerState::kStopped) return;
  ++impl_->generation;
  impl_->StartList();
}

void NodeInformer::Stop() {
  ++impl_->generation;
  impl_->watch.reset();
  impl_->retry_timer.Stop();
  impl_->silence_timer.Stop();
  impl_->fetches.clear();
  std::map<std::string, NodeInfo>().swap(impl_->listing);
  impl_->listing_bytes = 0;
  impl_->status.state = InformerState::kStopped;
}

const std::map<std::string, NodeInfo>& NodeInformer::nodes() const { return impl_->cache; }

InformerStatus NodeInformer::status() const {
  InformerStatus s = impl_->status;
  s.cache_bytes = impl_->cache_bytes;
  return s;
}

}  // namespace swg::k8s
