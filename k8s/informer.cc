#include "k8s/informer.h"

#include <algorithm>
#include <random>

#include "common/backoff.h"
#include "common/log.h"
#include "common/loop.h"
#include "k8s/client.h"

namespace swg::k8s {
namespace {

using SteadyClock = std::chrono::steady_clock;

bool SameExceptVersion(const NodeInfo& a, const NodeInfo& b) {
  return a.name == b.name && a.uid == b.uid && a.creation_timestamp == b.creation_timestamp &&
         a.annotations == b.annotations && a.pod_cidrs == b.pod_cidrs && a.addresses == b.addresses;
}

std::string Ms(std::chrono::milliseconds d) { return std::to_string(d.count()); }

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
        silence_timer(c.loop()) {}

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
  InformerStatus status;
  uint64_t generation = 0;  // bumped by Start/Stop: callbacks of an older generation are ignored
  std::shared_ptr<bool> alive = std::make_shared<bool>(true);

  std::map<std::string, NodeInfo> listing;  // the list being read
  std::string list_continue;
  int list_restarts = 0;
  int pages = 0;
  SteadyClock::time_point list_started;

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
      cache.emplace(node.name, node);
      return Deliver(EventType::kAdded, node);
    }
    if (SameExceptVersion(it->second, node)) {
      it->second.resource_version = node.resource_version;
      ++status.unchanged;
      return true;
    }
    it->second = node;
    return Deliver(EventType::kModified, node);
  }

  void StartList();
  void RequestPage();
  void OnPage(Result<NodeListPage> page);
  void ApplyList(const std::string& resource_version);
  void StartWatch();
  void OnEvent(WatchEvent event);
  void OnWatchEnd(const Status& end);
  void Relist(bool failed);
  void WatchFailed(const std::string& error, int code);
  void ListFailed(const Error& error);
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

void NodeInformer::Impl::StartList() {
  status.state = InformerState::kListing;
  listing.clear();
  list_continue.clear();
  list_restarts = 0;
  pages = 0;
  list_started = SteadyClock::now();
  RequestPage();
}

void NodeInformer::Impl::RequestPage() {
  ListOptions opts;
  opts.label_selector = filter.label_selector;
  opts.field_selector = filter.field_selector;
  opts.limit = options.page_size;
  opts.continue_token = list_continue;
  client.ListNodes(opts, annotations, Guarded(&Impl::OnPage));
}

void NodeInformer::Impl::OnPage(Result<NodeListPage> page) {
  if (!page.ok()) {
    if (page.error().code == 410 && !list_continue.empty() && list_restarts < options.max_list_restarts) {
      // The continue token expired (etcd compacted meanwhile): the list starts again from the beginning.
      ++status.list_restarts;
      log::Info("list continue token expired; listing again from the start",
                {{"cluster", client.cluster()}, {"error", page.error().message}});
      int restarts = list_restarts + 1;
      StartList();
      list_restarts = restarts;
      return;
    }
    return ListFailed(page.error());
  }
  ++pages;
  for (NodeInfo& node : page->items) {
    std::string name = node.name;
    listing.insert_or_assign(std::move(name), std::move(node));
  }
  if (!page->continue_token.empty()) {
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
    NodeInfo last = std::move(cache[name]);
    cache.erase(name);
    if (!Deliver(EventType::kDeleted, last)) return;
  }
  for (auto& [name, node] : fresh) {
    if (!Apply(std::move(node))) return;
  }
  status.synced = true;
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
    return WatchFailed(text, s.code);
  }
  ++watch_events;
  if (!event.resource_version.empty()) status.resource_version = event.resource_version;
  switch (event.type) {
    case WatchEventType::kAdded:
    case WatchEventType::kModified:
      Apply(std::move(event.node));
      return;
    case WatchEventType::kDeleted:
      cache.erase(event.node.name);
      Deliver(EventType::kDeleted, event.node);
      return;
    case WatchEventType::kBookmark:
      ++status.bookmarks;
      return;
    case WatchEventType::kError:
      return;
  }
}

void NodeInformer::Impl::OnWatchEnd(const Status& end) {
  watch.reset();
  silence_timer.Stop();
  bool short_lived = watch_events == 0 && SteadyClock::now() - watch_started < options.short_watch;
  if (end.ok()) {
    if (short_lived)
      return WatchFailed(client.cluster() + ": watch: the server ended it at once without events", 0);
    log::Debug("watch ended; watching again", {{"cluster", client.cluster()}});
    return StartWatch();
  }
  if (end.error().code == 410) {
    log::Info("watch answered 410; relisting",
              {{"cluster", client.cluster()}, {"error", end.error().message}});
    return Relist(SuspiciousExpiry());
  }
  WatchFailed(end.error().message, end.error().code);
}

void NodeInformer::Impl::Relist(bool failed) {
  if (!failed) return StartList();
  auto delay = backoff.Next();
  status.state = InformerState::kBackoff;
  retry_timer.Start(delay, Guarded(&Impl::StartList));
}

void NodeInformer::Impl::WatchFailed(const std::string& error, int code) {
  ++status.watch_failures;
  status.last_error = error;
  status.state = InformerState::kBackoff;
  auto delay = backoff.Next();
  log::Fields fields = Fields("watch");
  fields.push_back({"error", error});
  fields.push_back({"retry_in_ms", Ms(delay)});
  if (code == 403) {
    log::Error("node watch forbidden: the credentials need get, list and watch on nodes", fields);
  } else {
    log::Warn("node watch failed", fields);
  }
  retry_timer.Start(delay, Guarded(&Impl::StartWatch));
}

void NodeInformer::Impl::ListFailed(const Error& error) {
  ++status.list_failures;
  status.last_error = error.message;
  status.state = InformerState::kBackoff;
  listing.clear();
  auto delay = backoff.Next();
  log::Fields fields = Fields("list");
  fields.push_back({"error", error.message});
  fields.push_back({"retry_in_ms", Ms(delay)});
  if (error.code == 403) {
    log::Error("node list forbidden: the credentials need get, list and watch on nodes", fields);
  } else {
    log::Warn("node list failed", fields);
  }
  retry_timer.Start(delay, Guarded(&Impl::StartList));
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
  WatchFailed(
      client.cluster() + ": watch: no data for " + Ms(silent) + " ms; the connection is presumed dead", 0);
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
  impl_->listing.clear();
  impl_->status.state = InformerState::kStopped;
}

const std::map<std::string, NodeInfo>& NodeInformer::nodes() const { return impl_->cache; }

InformerStatus NodeInformer::status() const { return impl_->status; }

}  // namespace swg::k8s
