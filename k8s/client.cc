#include "k8s/client.h"

#include "common/json.h"
#include "common/log.h"
#include "k8s/client_impl.h"
#include "k8s/list_stream.h"
#include "k8s/node_proto.h"
#include "k8s/peer_record.h"

namespace swg::k8s {
namespace {

constexpr const char* kNodesPath = "/api/v1/nodes";

// Adds "&name=value" (escaped) to a query when value is not empty.
void AddParam(std::string& query, std::string& shown, std::string_view name, const std::string& value,
              bool elide = false) {
  if (value.empty()) return;
  const char sep = query.empty() ? '?' : '&';
  query += sep + std::string(name) + "=" + UrlEscape(value);
  shown += sep + std::string(name) + "=" + (elide ? std::string("...") : UrlEscape(value));
}

Error Malformed(const Client::Impl& impl, const RequestSpec& spec, const Error& e) {
  return Error{impl.Describe(spec, "unexpected response: " + e.message), e.code};
}

// Asks for protobuf with JSON as the fallback when the client reads Nodes as protobuf.
void AcceptNodes(const Client::Impl& impl, RequestSpec& spec) {
  if (impl.options.protobuf) spec.accept = std::string(kNodeAccept);
}

// Where a list or watch reads: the Nodes, or the mirror's records (AnnotationFilter::records).
std::string ObjectsPath(const AnnotationFilter& filter) {
  return filter.records ? PeerRecordsPath(filter.records->namespace_name) : std::string(kNodesPath);
}

// Counts a Node body by the encoding its Content-Type names; true for protobuf.
bool NodeEncoding(Client::Impl& impl, std::string_view content_type) {
  const bool protobuf = IsProtobufContentType(content_type);
  ++(protobuf ? impl.protobuf_reads : impl.json_reads);
  return protobuf;
}

// A request whose answer is one Node (GET, PATCH): parsed with every annotation kept.
void BeginNodeRequest(Client::Impl& impl, RequestSpec spec, std::function<void(Result<NodeInfo>)> done,
                      AnnotationFilter filter = AnnotationFilter::All()) {
  Client::Impl* self = &impl;
  RequestSpec copy = spec;
  impl.Begin(std::move(spec), nullptr,
             [self, copy, filter = std::move(filter), done = std::move(done)](Result<HttpResponse> r) {
    if (!r.ok()) return done(std::move(r).error());
    Result<NodeInfo> node = NodeEncoding(*self, r->content_type) ? ParseNodeProto(r->body, filter)
                                                                 : ParseNodeJson(r->body, filter);
    if (!node.ok()) return done(Malformed(*self, copy, node.error()));
    done(std::move(node));
  });
}

struct ListState {
  // Made once the response's Content-Type is known, with item_callback.
  std::unique_ptr<ListBodyParser> parser;
  NodeListStreamParser::ItemCallback item_callback;
  AnnotationFilter filter;
  size_t max_item_bytes = 0;
  Client::ItemCallback on_item;
  std::function<void(Result<NodeListPage>)> on_done;
  RequestSpec spec;
  uint64_t op = 0;
  size_t limit = 0;
  bool continued = false;  // the request carried a continue token
  bool refused = false;    // stopped by a bound or by on_item, not by a malformed body
  bool finished = false;

  Status Refuse() const {
    return Error{"the page holds more than the " + std::to_string(limit) + " items asked for",
                 kErrorOverLimit};
  }
  // Ends the page once.
  void Finish(Client::Impl& impl, Result<NodeListPage> result) {
    finished = true;
    impl.Cancel(op);  // a no-op when the request is over
    if (auto cb = std::move(on_done)) cb(std::move(result));
  }
  ListBodyParser& Parser(Client::Impl& impl, std::string_view content_type) {
    if (!parser) {
      if (NodeEncoding(impl, content_type)) {
        parser = std::make_unique<ProtoListStreamParser>(filter, max_item_bytes, item_callback);
      } else {
        parser = std::make_unique<NodeListStreamParser>(filter, max_item_bytes, item_callback);
      }
    }
    return *parser;
  }
  // Ends it with an error about the body or a bound, naming the cluster and the request.
  void Fail(Client::Impl& impl, const Error& e) {
    std::string detail = refused ? e.message : "unexpected response: " + e.message;
    Finish(impl, Error{impl.Describe(spec, detail), e.code});
  }
};

struct WatchState {
  std::unique_ptr<WatchBodyParser> parser;  // made once the response's Content-Type is known
  AnnotationFilter filter;
  size_t max_event_bytes;
  std::function<void(WatchEvent)> on_event;
  std::function<void(Status)> on_end;
  RequestSpec spec;
  uint64_t op = 0;
  bool cancelled = false;
  WatchState(AnnotationFilter f, size_t max_bytes) : filter(std::move(f)), max_event_bytes(max_bytes) {}
  WatchBodyParser& Parser(Client::Impl& impl, std::string_view content_type) {
    if (!parser) {
      if (NodeEncoding(impl, content_type)) {
        parser = std::make_unique<ProtoWatchStreamParser>(filter, max_event_bytes);
      } else {
        parser = std::make_unique<WatchStreamParser>(filter, max_event_bytes);
      }
    }
    return *parser;
  }
};

class RequestHandle : public RequestCall {
 public:
  RequestHandle(std::weak_ptr<Client::Impl> impl, uint64_t op) : impl_(std::move(impl)), op_(op) {}
  ~RequestHandle() override {
    if (auto impl = impl_.lock()) impl->Cancel(op_);  // a no-op once the request is over
  }

 private:
  std::weak_ptr<Client::Impl> impl_;
  uint64_t op_;
};

class WatchHandle : public WatchCall {
 public:
  WatchHandle(std::weak_ptr<Client::Impl> impl, std::shared_ptr<WatchState> state)
      : impl_(std::move(impl)), state_(std::move(state)) {}
  ~WatchHandle() override {
    state_->cancelled = true;
    if (auto impl = impl_.lock()) impl->Cancel(state_->op);
  }
  std::chrono::steady_clock::time_point last_data() const override {
    auto impl = impl_.lock();
    return impl ? impl->LastData(state_->op) : std::chrono::steady_clock::now();
  }

 private:
  std::weak_ptr<Client::Impl> impl_;
  std::shared_ptr<WatchState> state_;
};

}  // namespace

Client::Client(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

Client::~Client() = default;

Result<std::unique_ptr<Client>> Client::Create(Loop& loop, std::string cluster, const ClusterSource& source,
                                               ClientOptions options) {
  auto impl = std::make_shared<Impl>(loop, std::move(cluster), std::move(options));
  impl->http = std::make_unique<HttpClient>(loop);
  Result<std::unique_ptr<Credentials>> creds = Credentials::Create(loop, *impl->http, source, impl->options);
  if (!creds.ok()) return Error{impl->cluster + ": " + creds.error().message};
  impl->credentials = std::move(creds).value();
  log::Debug("kubernetes client ready", {{"cluster", impl->cluster},
                                         {"server", impl->credentials->server()},
                                         {"credentials", impl->credentials->description()}});
  return std::unique_ptr<Client>(new Client(std::move(impl)));
}

const std::string& Client::cluster() const { return impl_->cluster; }
const std::string& Client::server() const { return impl_->credentials->server(); }
Loop& Client::loop() { return impl_->loop; }

void Client::SetRequestObserver(RequestObserver observer) { impl_->observer = std::move(observer); }

Client::NodeReads Client::node_reads() const { return {impl_->protobuf_reads, impl_->json_reads}; }

void Client::GetNode(const std::string& name, std::function<void(Result<NodeInfo>)> done,
                     const AnnotationFilter& filter) {
  RequestSpec spec;
  spec.path = std::string(kNodesPath) + "/" + UrlEscape(name);
  spec.shown = "GET " + spec.path;
  spec.timeout = impl_->options.request_timeout;
  spec.max_body = impl_->options.max_object_bytes;
  AcceptNodes(*impl_, spec);
  BeginNodeRequest(*impl_, std::move(spec), std::move(done), filter);
}

void Client::PatchNodeAnnotations(const std::string& name,
                                  const std::map<std::string, std::optional<std::string>>& changes,
                                  std::function<void(Result<NodeInfo>)> done) {
  JsonPtr annotations(json_object());
  for (const auto& [key, value] : changes) {
    json_object_set_new(annotations.get(), key.c_str(),
                        value ? json_stringn(value->data(), value->size()) : json_null());
  }
  JsonPtr metadata(json_object());
  json_object_set(metadata.get(), "annotations", annotations.get());
  JsonPtr patch(json_object());
  json_object_set(patch.get(), "metadata", metadata.get());

  RequestSpec spec;
  spec.method = "PATCH";
  spec.path = std::string(kNodesPath) + "/" + UrlEscape(name);
  spec.shown = "PATCH " + spec.path;
  spec.body = JsonDump(patch.get());
  spec.content_type = "application/merge-patch+json";
  spec.timeout = impl_->options.request_timeout;
  spec.max_body = impl_->options.max_object_bytes;
  BeginNodeRequest(*impl_, std::move(spec), std::move(done));
}

void Client::PatchNodeStatus(const std::string& name, std::string strategic_merge_patch,
                             std::function<void(Result<NodeInfo>)> done) {
  RequestSpec spec;
  spec.method = "PATCH";
  spec.path = std::string(kNodesPath) + "/" + UrlEscape(name) + "/status";
  spec.shown = "PATCH " + spec.path;
  spec.body = std::move(strategic_merge_patch);
  spec.content_type = "application/strategic-merge-patch+json";
  spec.timeout = impl_->options.request_timeout;
  spec.max_body = impl_->options.max_object_bytes;
  BeginNodeRequest(*impl_, std::move(spec), std::move(done));
}

std::unique_ptr<RequestCall> Client::RequestJson(std::string method, std::string path, std::string body,
                                                 std::string content_type,
                                                 std::function<void(Result<std::string>)> done,
                                                 std::chrono::milliseconds timeout) {
  RequestSpec spec;
  spec.shown = method + " " + path;
  spec.method = std::move(method);
  spec.path = std::move(path);
  spec.body = std::move(body);
  spec.content_type = std::move(content_type);
  spec.timeout = timeout.count() > 0 ? timeout : impl_->options.request_timeout;
  spec.max_body = impl_->options.max_object_bytes;
  uint64_t op = impl_->Begin(std::move(spec), nullptr, [done = std::move(done)](Result<HttpResponse> r) {
    if (!r.ok()) return done(std::move(r).error());
    done(std::move(r->body));
  });
  return std::make_unique<RequestHandle>(impl_, op);
}

void Client::ListNodes(const ListOptions& options, const AnnotationFilter& filter,
                       std::function<void(Result<NodeListPage>)> done) {
  auto items = std::make_shared<std::vector<NodeInfo>>();
  ListNodes(
      options, filter,
      [items](NodeInfo node) {
        items->push_back(std::move(node));
        return Ok();
      },
      [items, done = std::move(done)](Result<NodeListPage> page) {
        if (page.ok()) page->items = std::move(*items);
        done(std::move(page));
      });
}

void Client::ListNodes(const ListOptions& options, const AnnotationFilter& filter, ItemCallback on_item,
                       std::function<void(Result<NodeListPage>)> done) {
  auto state = std::make_shared<ListState>();
  state->on_item = std::move(on_item);
  state->on_done = std::move(done);
  state->limit = options.limit > 0 ? static_cast<size_t>(options.limit) : 0;
  state->continued = !options.continue_token.empty();
  RequestSpec& spec = state->spec;
  std::string query, shown;
  if (options.limit > 0) AddParam(query, shown, "limit", std::to_string(options.limit));
  AddParam(query, shown, "continue", options.continue_token, /*elide=*/true);
  AddParam(query, shown, "labelSelector", options.label_selector);
  AddParam(query, shown, "fieldSelector", options.field_selector);
  AddParam(query, shown, "resourceVersion", options.resource_version);
  const std::string path = ObjectsPath(filter);
  spec.path = path + query;
  spec.shown = "GET " + path + shown;
  spec.stream = true;
  spec.timeout = impl_->options.request_timeout;
  if (options.timeout.count() > 0) spec.timeout = std::min(spec.timeout, options.timeout);
  if (!filter.records) AcceptNodes(*impl_, spec);  // custom resources are served as JSON only
  Impl* impl = impl_.get();
  std::weak_ptr<ListState> weak = state;
  state->filter = filter;
  state->max_item_bytes = impl_->options.max_object_bytes;
  // The parser calls back with each item; its own errors are about the body, the callback's are the caller's.
  state->item_callback = [weak](NodeInfo node) -> Status {
    auto s = weak.lock();
    if (!s) return Error{"cancelled"};
    const std::optional<std::string>& cont = s->parser->continue_token();
    Status result = Ok();
    if (s->limit > 0 && s->parser->items() > s->limit && (s->continued || (cont && !cont->empty()))) {
      result = s->Refuse();
    } else {
      result = s->on_item(std::move(node));
    }
    if (!result.ok()) s->refused = true;
    return result;
  };
  auto on_data = [weak, impl](std::string_view chunk) {
    auto s = weak.lock();
    if (!s || s->finished) return;
    // The Content-Type is looked up once, for the first chunk: the parser it picks reads every later one.
    ListBodyParser& parser = s->parser ? *s->parser : s->Parser(*impl, impl->ContentType(s->op));
    Status fed = parser.Feed(chunk);
    if (!fed.ok()) s->Fail(*impl, fed.error());
  };
  // The op owns the state through on_done: it lives until the page ends or the client goes away.
  auto on_done = [s = state, impl](Result<HttpResponse> r) {
    if (s->finished) return;
    if (!r.ok()) return s->Finish(*impl, std::move(r).error());
    Result<NodeListPage> page = s->Parser(*impl, r->content_type).Finish();
    if (!page.ok()) return s->Fail(*impl, page.error());
    if (s->limit > 0 && s->parser->items() > s->limit && !page->continue_token.empty()) {
      s->refused = true;
      return s->Fail(*impl, s->Refuse().error());
    }
    s->Finish(*impl, std::move(page));
  };
  state->op = impl_->Begin(spec, on_data, on_done);
}

std::unique_ptr<WatchCall> Client::WatchNodes(const WatchOptions& options, const AnnotationFilter& filter,
                                              std::function<void(WatchEvent event)> on_event,
                                              std::function<void(Status)> on_end) {
  auto state = std::make_shared<WatchState>(filter, impl_->options.max_object_bytes);
  state->on_event = std::move(on_event);
  state->on_end = std::move(on_end);
  std::string query = "?watch=1", shown = "?watch=1";
  if (options.allow_bookmarks) {
    query += "&allowWatchBookmarks=true";
    shown += "&allowWatchBookmarks=true";
  }
  AddParam(query, shown, "resourceVersion", options.resource_version);
  AddParam(query, shown, "timeoutSeconds", std::to_string(options.timeout_seconds));
  AddParam(query, shown, "labelSelector", options.label_selector);
  AddParam(query, shown, "fieldSelector", options.field_selector);
  RequestSpec& spec = state->spec;
  const std::string path = ObjectsPath(filter);
  spec.path = path + query;
  spec.shown = "GET " + path + shown;
  spec.stream = true;
  spec.identity = true;  // a regular watch is sent uncompressed, an event at a time
  // The server ends the watch after timeoutSeconds; the request timeout is a safety net beyond that.
  spec.timeout =
      std::chrono::seconds(std::max<int64_t>(options.timeout_seconds, 0)) + impl_->options.request_timeout;
  if (!filter.records) AcceptNodes(*impl_, spec);  // as above
  if (!filter.records && options.metadata_only) {
    spec.accept = std::string(impl_->options.protobuf ? kNodeMetadataAccept : kNodeMetadataAcceptJson);
  }
  Impl* impl = impl_.get();
  std::weak_ptr<WatchState> weak = state;

  auto fail = [impl, weak](const Error& error) {
    auto s = weak.lock();
    if (!s || s->cancelled) return;
    s->cancelled = true;
    impl->Cancel(s->op);
    if (auto cb = std::move(s->on_end)) cb(Error{impl->Describe(s->spec, error.message), error.code});
  };
  auto on_data = [weak, fail, impl](std::string_view chunk) {
    auto s = weak.lock();
    if (!s || s->cancelled) return;
    // Each event is handed over as soon as it is decoded: a chunk of many small events is never held at once.
    WatchBodyParser& parser = s->parser ? *s->parser : s->Parser(*impl, impl->ContentType(s->op));  // as above
    Status parsed = parser.Feed(chunk, [&s](WatchEvent&& e) {
      if (s->cancelled) return false;
      if (s->on_event) s->on_event(std::move(e));
      return !s->cancelled;
    });
    if (!parsed.ok() && !s->cancelled) fail(parsed.error());
  };
  auto on_done = [weak, impl](Result<HttpResponse> r) {
    auto s = weak.lock();
    if (!s || s->cancelled) return;
    s->cancelled = true;
    auto cb = std::move(s->on_end);
    if (!cb) return;
    if (!r.ok()) return cb(std::move(r).error());
    if (s->parser && s->parser->buffered() > 0) {
      return cb(Error{impl->Describe(s->spec, "the stream ended inside an event (" +
                                                  std::to_string(s->parser->buffered()) + " bytes)"),
                      0});
    }
    cb(Ok());
  };
  state->op = impl_->Begin(spec, on_data, on_done);
  return std::make_unique<WatchHandle>(impl_, state);
}

}  // namespace swg::k8s
