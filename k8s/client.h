#pragma once
// A client for one Kubernetes cluster's Node API on a swg::Loop.
//
// Every request has a timeout. A 401 reloads the credentials and retries once; a certificate that does not
// verify makes a CA URL be fetched again (at most once a minute, keeping the CA in use if that fails) or a CA
// file re-read, and retries once; a 429 or 5xx with Retry-After
// is retried after that delay (max_retries times). Every error message names the cluster, the request and
// what the server said (its Status message): "c2: GET /api/v1/nodes/n1: HTTP 404 NotFound: nodes "n1" not
// found". Error::code is the HTTP status (0 when no response arrived). Callbacks run from the loop, never
// inside the call that started them, and never after the Client is destroyed.

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"
#include "k8s/client_options.h"
#include "k8s/node.h"
#include "k8s/parse.h"
#include "k8s/watch_stream.h"

namespace swg {
class Loop;
}

namespace swg::k8s {

struct ListOptions {
  std::string label_selector;
  std::string field_selector;
  int64_t limit = 500;           // 0: no limit
  std::string continue_token;    // from the previous page
  std::string resource_version;  // "" = a consistent (quorum) read
  std::chrono::milliseconds timeout{0};  // shortens the page's request_timeout (0: no)
};

struct WatchOptions {
  std::string label_selector;
  std::string field_selector;
  std::string resource_version;
  int64_t timeout_seconds = 300;  // the server ends the watch after this
  bool allow_bookmarks = true;
  // Events carry the Nodes' metadata only (kNodeMetadataAccept): no spec, no status, so NodeInfo's pod_cidrs,
  // addresses and conditions are empty (whole Nodes from a server that cannot; NodeInformer merges).
  bool metadata_only = false;
};

// A request in flight (Client::RequestJson); destroying it cancels the request and its callback.
class RequestCall {
 public:
  virtual ~RequestCall() = default;
};

// A running watch; destroying it stops the watch and its callbacks.
class WatchCall {
 public:
  virtual ~WatchCall() = default;
  virtual std::chrono::steady_clock::time_point last_data() const = 0;  // when bytes last arrived
};

class Client {
 public:
  using RequestObserver = std::function<void(std::string_view method, std::string_view host, int code)>;

  // `cluster` names the cluster in every error and log line. Fails on what can be checked at once: the
  // kubeconfig parses and names a server, in-cluster variables are set, inline data decodes.
  static Result<std::unique_ptr<Client>> Create(Loop& loop, std::string cluster, const ClusterSource& source,
                                                ClientOptions options = {});
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  const std::string& cluster() const;
  const std::string& server() const;
  Loop& loop();

  // NodeInfo from GetNode keeps the annotations (and conditions) `filter` asks for, every one by default; from
  // PatchNodeAnnotations, every annotation.
  void GetNode(const std::string& name, std::function<void(Result<NodeInfo>)> done,
               const AnnotationFilter& filter = AnnotationFilter::All());
  // A JSON merge patch of metadata.annotations; a nullopt value becomes JSON null, which removes the key
  // (removing an absent key is a no-op). `done` gets the node as the server stored it.
  void PatchNodeAnnotations(const std::string& name,
                            const std::map<std::string, std::optional<std::string>>& changes,
                            std::function<void(Result<NodeInfo>)> done);
  // PATCH /api/v1/nodes/NAME/status with a strategic merge patch (JSON text), e.g. a condition, which the
  // server merges by type into the others. Needs `nodes/status` patch.
  void PatchNodeStatus(const std::string& name, std::string strategic_merge_patch,
                       std::function<void(Result<NodeInfo>)> done);
  // One page of GET /api/v1/nodes, parsed as it arrives: on_item gets each node at once, in order (an error
  // it returns ends the page with that error), and done gets the page's resourceVersion and continue token
  // (items empty) or the error. A page may hold at most `limit` items when it has a continue token or the
  // request had one: a server that ignores limit sends the whole list in one page, which only the caller's
  // own bounds limit. Refusals for a bound have code kErrorOverLimit; an expired continue token fails with
  // code 410 (reason Expired).
  using ItemCallback = std::function<Status(NodeInfo node)>;
  void ListNodes(const ListOptions& options, const AnnotationFilter& filter, ItemCallback on_item,
                 std::function<void(Result<NodeListPage>)> done);
  // The same, with the page's items collected in NodeListPage::items.
  void ListNodes(const ListOptions& options, const AnnotationFilter& filter,
                 std::function<void(Result<NodeListPage>)> done);
  // GET /api/v1/nodes?watch=1. on_event gets each event in order (it may destroy the WatchCall). on_end once:
  // Ok when the server ended the stream cleanly, else the error (HTTP status, transport, malformed stream).
  // An ERROR event is passed to on_event; the watch goes on until the caller drops it or the server ends it.
  std::unique_ptr<WatchCall> WatchNodes(const WatchOptions& options, const AnnotationFilter& filter,
                                        std::function<void(WatchEvent event)> on_event,
                                        std::function<void(Status)> on_end);

  // Any API request, for objects without a typed call here (a Lease): `method` on `path` (with its query,
  // escaped), with `body` of `content_type` when not empty, answered in JSON. `done` gets the 2xx body, or
  // the error as for every request: code is the HTTP status (404 NotFound, 409 Conflict, ...) or 0 without a
  // response. timeout 0: ClientOptions::request_timeout.
  [[nodiscard]] std::unique_ptr<RequestCall> RequestJson(std::string method, std::string path,
                                                         std::string body, std::string content_type,
                                                         std::function<void(Result<std::string>)> done,
                                                         std::chrono::milliseconds timeout = {});

  // Called once per HTTP request finished, retries included (code 0 = no response), for
  // semaphore_wg_kube_http_request_total{host,code,method}.
  void SetRequestObserver(RequestObserver observer);

  // Node bodies (a GET answer, a list page, a watch) read so far, by the encoding the server chose (see
  // ClientOptions::protobuf).
  struct NodeReads {
    uint64_t protobuf = 0;
    uint64_t json = 0;
  };
  NodeReads node_reads() const;

  struct Impl;

 private:
  explicit Client(std::shared_ptr<Impl> impl);
  std::shared_ptr<Impl> impl_;
};

}  // namespace swg::k8s
