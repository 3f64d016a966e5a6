#include "k8s/http.h"

#include <curl/curl.h>
#include <openssl/ssl.h>
#include <uv.h>

#include <algorithm>
#include <cctype>
#include <ctime>
#include <map>
#include <mutex>
#include <new>
#include <set>

#include "common/loop.h"
#include "common/strings.h"
#include "k8s/http_stream.h"

namespace swg::k8s {
namespace {

constexpr size_t kKeptBuffer = 64u << 10;  // see Drain
constexpr size_t kMaxIdle = 4;             // connections kept for streams (see Impl::idle)
constexpr std::chrono::milliseconds kIdleFor{10000};

struct EasyDeleter {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};
struct SlistDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};
using EasyPtr = std::unique_ptr<CURL, EasyDeleter>;
using SlistPtr = std::unique_ptr<curl_slist, SlistDeleter>;

void GlobalInit() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

}  // namespace

struct Transfer {
  uint64_t id = 0;
  HttpClient::Impl* impl = nullptr;
  EasyPtr easy;
  SlistPtr headers;
  SlistPtr connect_to;
  HttpRequest request;
  HttpResponse response;
  std::string pending;  // streamed bytes not yet handed to on_data
  HttpClient::DataCallback on_data;
  HttpClient::DoneCallback on_done;
  bool queued = false;  // in Impl::ready_
  bool done = false;    // finished in libcurl; on_done not yet called
  bool too_large = false;
  bool paused = false;  // a stream's write callback paused libcurl: pending is full
  // An identity request (a watch): libcurl connects (CURLOPT_CONNECT_ONLY), `stream` does the rest.
  bool reused = false;  // on the connection of an earlier stream
  std::string key;      // where it connects (see StreamKey)
  std::unique_ptr<ConnectedStream> stream;
  std::chrono::steady_clock::time_point started;
  std::chrono::steady_clock::time_point last_data;
  char errbuf[CURL_ERROR_SIZE] = {};
};

struct SocketWatch {
  uv_poll_t poll;
  curl_socket_t fd;
  HttpClient::Impl* impl;
};

struct HttpClient::Impl : std::enable_shared_from_this<HttpClient::Impl> {
  explicit Impl(Loop& l) : loop(l) {}

  Loop& loop;
  CURLM* multi = nullptr;
  uv_timer_t* timer = nullptr;
  std::map<uint64_t, std::unique_ptr<Transfer>> transfers;
  std::set<SocketWatch*> sockets;
  std::vector<uint64_t> ready;
  uint64_t next_id = 1;
  bool destroyed = false;
  // Connections of streams that ended cleanly, kept a little for the next stream to the same server (an
  // informer's next watch follows its last at once): a TLS handshake saved per watch, for the remote
  // apiserver as much as for us. Their easy handles stay in the multi handle, which owns the connection.
  struct Idle {
    EasyPtr easy;
    std::string key;
    std::chrono::steady_clock::time_point since;
  };
  std::vector<Idle> idle;
  uv_timer_t* idle_timer = nullptr;

  void Queue(Transfer* t) {
    if (!t->queued) {
      t->queued = true;
      ready.push_back(t->id);
    }
  }
  void Action(curl_socket_t fd, int flags);
  void Drain();
  void Connected(Transfer* t);
  void OnStreamProgress(uint64_t id);
  std::string Launch(Transfer* t);
  void KeepIdle(EasyPtr easy, std::string key);
  EasyPtr TakeIdle(const std::string& key);
  void PruneIdle(bool all);
  void Remove(uint64_t id);
  void CloseWatch(SocketWatch* w);
  void Shutdown();
  void WakeSoon() { uv_timer_start(timer, OnTimer, 0, 0); }

  static void OnTimer(uv_timer_t* t) noexcept { static_cast<Impl*>(t->data)->Action(CURL_SOCKET_TIMEOUT, 0); }
  static void OnPoll(uv_poll_t* handle, int status, int events) noexcept;
  static int OnSocket(CURL*, curl_socket_t fd, int what, void* userp, void* socketp) noexcept;
  static int OnCurlTimer(CURLM*, long timeout_ms, void* userp) noexcept;
};

namespace {

class CallHandle : public HttpCall {
 public:
  CallHandle(std::weak_ptr<HttpClient::Impl> impl, uint64_t id, const Transfer* t)
      : impl_(std::move(impl)), id_(id), transfer_(t) {}
  ~CallHandle() override {
    if (auto impl = impl_.lock()) impl->Remove(id_);
  }
  std::chrono::steady_clock::time_point last_data() const override {
    auto impl = impl_.lock();
    if (impl && impl->transfers.count(id_)) return transfer_->last_data;
    return std::chrono::steady_clock::now();
  }
  std::string content_type() const override {
    auto impl = impl_.lock();
    if (impl && impl->transfers.count(id_)) return transfer_->response.content_type;
    return {};
  }

 private:
  std::weak_ptr<HttpClient::Impl> impl_;
  uint64_t id_;
  const Transfer* transfer_;
};

size_t OnWrite(char* data, size_t size, size_t n, void* userp) noexcept {
  auto* t = static_cast<Transfer*>(userp);
  const size_t len = size * n;
  t->response.bytes += len;
  t->last_data = std::chrono::steady_clock::now();
  long code = 0;
  curl_easy_getinfo(t->easy.get(), CURLINFO_RESPONSE_CODE, &code);
  if (t->request.stream && code >= 200 && code < 300) {
    if (t->pending.size() >= t->request.max_pending) {
      // Backpressure: libcurl keeps this data and reads no more until Drain has handed the pending bytes
      // over.
      t->paused = true;
      t->impl->Queue(t);
      return CURL_WRITEFUNC_PAUSE;
    }
    t->pending.append(data, len);
    t->impl->Queue(t);
    return len;
  }
  if (t->response.body.size() + len > t->request.max_body) {
    t->too_large = true;
    return 0;  // aborts the transfer (CURLE_WRITE_ERROR)
  }
  t->response.body.append(data, len);
  return len;
}

size_t OnHeader(char* data, size_t size, size_t n, void* userp) noexcept {
  auto* t = static_cast<Transfer*>(userp);
  std::string_view line = Trim(std::string_view(data, size * n));
  if (StartsWith(line, "HTTP/")) {  // a new response (after 100 Continue, say): forget the previous headers
    t->response.retry_after.reset();
    t->response.warnings.clear();
    t->response.content_type.clear();
    return size * n;
  }
  size_t colon = line.find(':');
  if (colon == std::string_view::npos) return size * n;
  std::string name = ToLower(Trim(line.substr(0, colon)));
  std::string_view value = Trim(line.substr(colon + 1));
  NoteHeader(t->response, name, value, /*identity=*/false);  // identity requests are streams' (see Start)
  return size * n;
}

void Finish(Transfer* t, CURLcode code) {
  long status = 0;
  curl_easy_getinfo(t->easy.get(), CURLINFO_RESPONSE_CODE, &status);
  t->response.status = status;
  if (code == CURLE_OK) return;
  if (t->too_large) {
    t->response.error = BodyTooLargeError(t->request.max_body);
  } else {
    t->response.error = t->errbuf[0] ? std::string(Trim(t->errbuf)) : curl_easy_strerror(code);
  }
  t->response.too_large = t->too_large;
  t->response.tls_verify_failed = code == CURLE_PEER_FAILED_VERIFICATION;
  t->response.timed_out = code == CURLE_OPERATION_TIMEDOUT;
}

}  // namespace

void HttpClient::Impl::OnPoll(uv_poll_t* handle, int status, int events) noexcept {
  auto* w = static_cast<SocketWatch*>(handle->data);
  int flags = 0;
  if (status < 0) {
    flags = CURL_CSELECT_ERR;
  } else {
    if (events & UV_READABLE) flags |= CURL_CSELECT_IN;
    if (events & UV_WRITABLE) flags |= CURL_CSELECT_OUT;
  }
  w->impl->Action(w->fd, flags);
}

int HttpClient::Impl::OnSocket(CURL*, curl_socket_t fd, int what, void* userp, void* socketp) noexcept {
  auto* impl = static_cast<Impl*>(userp);
  auto* w = static_cast<SocketWatch*>(socketp);
  if (what == CURL_POLL_REMOVE) {
    if (w) {
      curl_multi_assign(impl->multi, fd, nullptr);
      impl->CloseWatch(w);
    }
    return 0;
  }
  if (!w) {
    w = new (std::nothrow) SocketWatch{};
    if (!w) return -1;
    if (uv_poll_init_socket(impl->loop.uv(), &w->poll, fd) != 0) {
      delete w;
      return -1;
    }
    w->fd = fd;
    w->impl = impl;
    w->poll.data = w;
    impl->sockets.insert(w);
    curl_multi_assign(impl->multi, fd, w);
  }
  int events = 0;
  if (what & CURL_POLL_IN) events |= UV_READABLE;
  if (what & CURL_POLL_OUT) events |= UV_WRITABLE;
  uv_poll_start(&w->poll, events, OnPoll);
  return 0;
}

int HttpClient::Impl::OnCurlTimer(CURLM*, long timeout_ms, void* userp) noexcept {
  auto* impl = static_cast<Impl*>(userp);
  if (timeout_ms < 0) {
    uv_timer_stop(impl->timer);
  } else {
    // Even a 0 ms timeout goes through the loop: libcurl must not be re-entered from its own callback.
    uv_timer_start(impl->timer, OnTimer, static_cast<uint64_t>(timeout_ms), 0);
  }
  return 0;
}

void HttpClient::Impl::CloseWatch(SocketWatch* w) {
  sockets.erase(w);
  uv_poll_stop(&w->poll);
  uv_close(reinterpret_cast<uv_handle_t*>(&w->poll),
           [](uv_handle_t* h) { delete static_cast<SocketWatch*>(h->data); });
}

void HttpClient::Impl::Action(curl_socket_t fd, int flags) {
  auto self = shared_from_this();  // a callback may destroy the HttpClient
  int running = 0;
  curl_multi_socket_action(multi, fd, flags, &running);
  Drain();
}

void HttpClient::Impl::Drain() {
  auto self = shared_from_this();
  int left = 0;
  while (CURLMsg* msg = curl_multi_info_read(multi, &left)) {
    if (msg->msg != CURLMSG_DONE) continue;
    char* priv = nullptr;
    curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
    auto* t = reinterpret_cast<Transfer*>(priv);
    CURLcode code = msg->data.result;
    if (t->request.identity && code == CURLE_OK) {
      Connected(t);
      continue;
    }
    Finish(t, code);
    curl_multi_remove_handle(multi, t->easy.get());
    t->done = true;
    Queue(t);
  }
  std::vector<uint64_t> batch;
  batch.swap(ready);
  for (uint64_t id : batch) {
    auto it = transfers.find(id);
    if (it == transfers.end()) continue;
    Transfer* t = it->second.get();
    t->queued = false;
    if (!t->pending.empty()) {
      std::string chunk;
      chunk.swap(t->pending);
      if (HttpClient::DataCallback cb = t->on_data) cb(chunk);
      if (destroyed) return;
      it = transfers.find(id);
      if (it == transfers.end()) continue;
      // The buffer back for the next bytes: a watch then appends each event without allocating. A large one
      // (a list page's burst) is let go.
      if (chunk.capacity() <= kKeptBuffer && t->pending.empty()) {
        chunk.clear();
        t->pending.swap(chunk);
      }
      if (t->stream) t->stream->Resume();  // if it stopped reading for room
      if (t->paused && !t->done) {
        // Room again. libcurl may hand over what it kept at once: that waits for the next turn.
        t->paused = false;
        curl_easy_pause(t->easy.get(), CURLPAUSE_CONT);
      }
    }
    if (t->done) {
      HttpClient::DoneCallback cb = std::move(t->on_done);
      HttpResponse response = std::move(t->response);
      transfers.erase(it);
      if (cb) cb(std::move(response));
      if (destroyed) return;
    }
  }
  if (!ready.empty()) WakeSoon();  // bytes that arrived on unpausing
}

// libcurl connected a stream's transfer (it stays in the multi handle, which owns the connection): the
// request and response are the stream's from here.
void HttpClient::Impl::Connected(Transfer* t) {
  const auto elapsed = std::chrono::steady_clock::now() - t->started;
  const auto left = t->request.timeout - std::chrono::duration_cast<std::chrono::milliseconds>(elapsed);
  uint64_t id = t->id;
  ConnectedStream::Sink sink{&t->response, &t->pending, &t->last_data, t->errbuf,
                             [this, id] { OnStreamProgress(id); }};
  Result<std::unique_ptr<ConnectedStream>> stream =
      ConnectedStream::Start(loop, t->easy.get(), t->request, left, std::move(sink));
  if (stream.ok()) {
    t->stream = std::move(stream).value();
    return;
  }
  curl_multi_remove_handle(multi, t->easy.get());
  std::string problem = stream.error().message;
  if (t->reused) {  // a kept connection that cannot be used: a new one
    t->reused = false;
    problem = Launch(t);
    if (problem.empty()) return;
  }
  t->response.error = problem;
  t->done = true;
  Queue(t);
  WakeSoon();
}

void HttpClient::Impl::OnStreamProgress(uint64_t id) {
  auto self = shared_from_this();
  auto it = transfers.find(id);
  if (it == transfers.end()) return;
  Transfer* t = it->second.get();
  if (t->stream->done()) {
    const bool retry = t->reused && t->stream->failed_before_response();
    const bool keep = t->stream->reusable();
    t->stream.reset();  // stops polling before libcurl closes the socket
    if (keep) {
      KeepIdle(std::move(t->easy), t->key);
    } else {
      curl_multi_remove_handle(multi, t->easy.get());
    }
    if (retry) {
      // The kept connection was closed meanwhile: a new one, as if it had never been kept.
      t->reused = false;
      t->response = HttpResponse{};
      std::string problem = Launch(t);
      if (problem.empty()) return;
      t->response.error = problem;
    }
    t->done = true;
  }
  Queue(t);
  Drain();
}

void HttpClient::Impl::KeepIdle(EasyPtr easy, std::string key) {
  // Nothing of the finished transfer stays pointed at.
  curl_easy_setopt(easy.get(), CURLOPT_PRIVATE, nullptr);
  curl_easy_setopt(easy.get(), CURLOPT_ERRORBUFFER, nullptr);
  if (idle.size() >= kMaxIdle) {
    curl_multi_remove_handle(multi, idle.front().easy.get());
    idle.erase(idle.begin());
  }
  idle.push_back(Idle{std::move(easy), std::move(key), std::chrono::steady_clock::now()});
  if (!uv_is_active(reinterpret_cast<uv_handle_t*>(idle_timer))) {
    uv_timer_start(
        idle_timer, [](uv_timer_t* h) noexcept { static_cast<Impl*>(h->data)->PruneIdle(false); },
        static_cast<uint64_t>(kIdleFor.count()), static_cast<uint64_t>(kIdleFor.count()));
  }
}

EasyPtr HttpClient::Impl::TakeIdle(const std::string& key) {
  for (auto it = idle.rbegin(); it != idle.rend(); ++it) {
    if (it->key != key || std::chrono::steady_clock::now() - it->since > kIdleFor) continue;
    EasyPtr easy = std::move(it->easy);
    idle.erase(std::next(it).base());
    return easy;
  }
  return nullptr;
}

void HttpClient::Impl::PruneIdle(bool all) {
  const auto now = std::chrono::steady_clock::now();
  for (auto it = idle.begin(); it != idle.end();) {
    if (all || now - it->since >= kIdleFor) {
      curl_multi_remove_handle(multi, it->easy.get());  // closes the connection
      it = idle.erase(it);
    } else {
      ++it;
    }
  }
  if (idle.empty()) uv_timer_stop(idle_timer);
}

void HttpClient::Impl::Remove(uint64_t id) {
  auto it = transfers.find(id);
  if (it == transfers.end()) return;
  if (!it->second->done) {
    it->second->stream.reset();
    curl_multi_remove_handle(multi, it->second->easy.get());
  }
  transfers.erase(it);
}

void HttpClient::Impl::Shutdown() {
  destroyed = true;
  for (auto& [id, t] : transfers) {
    if (t->done) continue;
    t->stream.reset();
    curl_multi_remove_handle(multi, t->easy.get());
  }
  transfers.clear();
  PruneIdle(/*all=*/true);
  uv_close(reinterpret_cast<uv_handle_t*>(idle_timer),
           [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
  idle_timer = nullptr;
  curl_multi_cleanup(multi);  // closes cached connections (their sockets are reported as removed)
  multi = nullptr;
  for (SocketWatch* w : std::set<SocketWatch*>(sockets)) CloseWatch(w);
  uv_timer_stop(timer);
  uv_close(reinterpret_cast<uv_handle_t*>(timer),
           [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
  timer = nullptr;
}

HttpClient::HttpClient(Loop& loop) : impl_(std::make_shared<Impl>(loop)) {
  GlobalInit();
  impl_->multi = curl_multi_init();
  impl_->timer = new uv_timer_t;
  uv_timer_init(loop.uv(), impl_->timer);
  impl_->timer->data = impl_.get();
  impl_->idle_timer = new uv_timer_t;
  uv_timer_init(loop.uv(), impl_->idle_timer);
  impl_->idle_timer->data = impl_.get();
  curl_multi_setopt(impl_->multi, CURLMOPT_SOCKETFUNCTION, &Impl::OnSocket);
  curl_multi_setopt(impl_->multi, CURLMOPT_SOCKETDATA, impl_.get());
  curl_multi_setopt(impl_->multi, CURLMOPT_TIMERFUNCTION, &Impl::OnCurlTimer);
  curl_multi_setopt(impl_->multi, CURLMOPT_TIMERDATA, impl_.get());
}

HttpClient::~HttpClient() { impl_->Shutdown(); }

size_t HttpClient::active() const { return impl_->transfers.size(); }

namespace {

CURLcode ReadAhead(CURL*, void* ssl_ctx, void*) noexcept {
  SSL_CTX_set_read_ahead(static_cast<SSL_CTX*>(ssl_ctx), 1);
  return CURLE_OK;
}

// Applies the request to a new easy handle; "" or what could not be set.
std::string Configure(Transfer& t) {
  CURL* e = t.easy.get();
  const HttpRequest& r = t.request;
  bool ok = true;
  auto set = [&](CURLcode c) { ok = ok && c == CURLE_OK; };
  set(curl_easy_setopt(e, CURLOPT_URL, r.url.c_str()));
  set(curl_easy_setopt(e, CURLOPT_PRIVATE, reinterpret_cast<char*>(&t)));
  set(curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t.errbuf));
  set(curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L));
  set(curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &OnWrite));
  set(curl_easy_setopt(e, CURLOPT_WRITEDATA, &t));
  set(curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, &OnHeader));
  set(curl_easy_setopt(e, CURLOPT_HEADERDATA, &t));
  // HTTP/1.1: a watch then owns its connection, so a dead one affects only that watch.
  set(curl_easy_setopt(e, CURLOPT_HTTP_VERSION, static_cast<long>(CURL_HTTP_VERSION_1_1)));
  // gzip only, what apiservers send: every other decoder libcurl has is one more way to expand a few bytes.
  if (!r.identity) set(curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "gzip"));
  if (r.stream) {
    // While a stream is paused (see max_pending), libcurl keeps what it already read, decompressed: up to
    // 1032 times its read size with gzip, held about three times over while handed back. Reads of 2 KiB bound
    // that to about 6 MiB instead of 50 with the default 16 KiB.
    set(curl_easy_setopt(e, CURLOPT_BUFFERSIZE, 2048L));
  }
  set(curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, static_cast<long>(std::max<int64_t>(1, r.timeout.count()))));
  set(curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
                       static_cast<long>(std::max<int64_t>(1, r.connect_timeout.count()))));
  set(curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L));
  set(curl_easy_setopt(e, CURLOPT_TCP_KEEPIDLE, 30L));
  set(curl_easy_setopt(e, CURLOPT_TCP_KEEPINTVL, 10L));
  set(curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "https,http"));
  set(curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L));
  set(curl_easy_setopt(e, CURLOPT_USERAGENT, "semaphore-wireguard/" SWG_VERSION));
  if (r.identity) {
    set(curl_easy_setopt(e, CURLOPT_CONNECT_ONLY, 1L));
    // Through a proxy, a tunnel to the server for http:// as well: the stream talks to the server itself.
    set(curl_easy_setopt(e, CURLOPT_HTTPPROXYTUNNEL, 1L));
    // OpenSSL reads a whole record (or more) per read(2) instead of its header and then its body: the stream
    // asks OpenSSL whether it holds more before waiting on the socket. Other TLS libraries: not offered, and
    // the stream reads until the socket is empty.
    curl_easy_setopt(e, CURLOPT_SSL_CTX_FUNCTION, &ReadAhead);
  }
  if (r.method == "GET") {
    set(curl_easy_setopt(e, CURLOPT_HTTPGET, 1L));
  } else {
    set(curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, r.method.c_str()));
    set(curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(r.body.size())));
    set(curl_easy_setopt(e, CURLOPT_COPYPOSTFIELDS, r.body.c_str()));
  }
  for (const std::string& h : r.headers) {
    curl_slist* l = curl_slist_append(t.headers.get(), h.c_str());  // returns the head, new only when empty
    if (!l) return "out of memory";
    if (!t.headers) t.headers.reset(l);
  }
  if (t.headers) set(curl_easy_setopt(e, CURLOPT_HTTPHEADER, t.headers.get()));
  if (!r.connect_to.empty()) {
    t.connect_to.reset(curl_slist_append(nullptr, r.connect_to.c_str()));
    set(curl_easy_setopt(e, CURLOPT_CONNECT_TO, t.connect_to.get()));
  }
  set(curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, r.tls.insecure ? 0L : 1L));
  set(curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, r.tls.insecure ? 0L : 2L));
  if (!r.tls.ca_pem.empty()) {
    curl_blob ca{const_cast<char*>(r.tls.ca_pem.data()), r.tls.ca_pem.size(), CURL_BLOB_COPY};
    set(curl_easy_setopt(e, CURLOPT_CAINFO_BLOB, &ca));
    // Only this CA: not the system store as well.
    set(curl_easy_setopt(e, CURLOPT_CAINFO, nullptr));
    set(curl_easy_setopt(e, CURLOPT_CAPATH, nullptr));
  }
  if (!r.tls.cert_pem.empty()) {
    curl_blob cert{const_cast<char*>(r.tls.cert_pem.data()), r.tls.cert_pem.size(), CURL_BLOB_COPY};
    curl_blob key{const_cast<char*>(r.tls.key_pem.data()), r.tls.key_pem.size(), CURL_BLOB_COPY};
    set(curl_easy_setopt(e, CURLOPT_SSLCERT_BLOB, &cert));
    set(curl_easy_setopt(e, CURLOPT_SSLCERTTYPE, "PEM"));
    set(curl_easy_setopt(e, CURLOPT_SSLKEY_BLOB, &key));
    set(curl_easy_setopt(e, CURLOPT_SSLKEYTYPE, "PEM"));
  }
  return ok ? "" : "libcurl refused an option (is it older than 7.85?)";
}

// Where a stream connects, as far as a kept connection can serve another: scheme and authority, the address
// connected to instead, and the TLS settings (credentials sent in headers play no part).
std::string StreamKey(const HttpRequest& r) {
  const size_t scheme = r.url.find("://");
  const size_t path = scheme == std::string::npos ? std::string::npos : r.url.find_first_of("/?#", scheme + 3);
  return r.url.substr(0, path) + '\n' + r.connect_to + '\n' + (r.tls.insecure ? "insecure" : "verify") + '\n' +
         r.tls.ca_pem + '\n' + r.tls.cert_pem + '\n' + r.tls.key_pem;
}

}  // namespace

// A new easy handle for t, configured and added to the multi handle; "" or what went wrong.
std::string HttpClient::Impl::Launch(Transfer* t) {
  t->easy.reset(curl_easy_init());
  if (!t->easy) return "curl_easy_init failed";
  std::string problem = Configure(*t);
  if (!problem.empty()) return problem;
  CURLMcode mc = curl_multi_add_handle(multi, t->easy.get());
  return mc == CURLM_OK ? "" : curl_multi_strerror(mc);
}

std::unique_ptr<HttpCall> HttpClient::Start(HttpRequest request, DataCallback on_data, DoneCallback on_done) {
  auto t = std::make_unique<Transfer>();
  t->id = impl_->next_id++;
  t->impl = impl_.get();
  t->request = std::move(request);
  t->on_data = std::move(on_data);
  t->on_done = std::move(on_done);
  t->last_data = t->started = std::chrono::steady_clock::now();
  Transfer* raw = t.get();
  uint64_t id = t->id;
  std::string problem;
  if (t->request.identity && !(t->request.stream && t->request.method == "GET")) {
    problem = "an identity request must be a streamed GET";
  } else if (t->request.identity) {
    t->key = StreamKey(t->request);
    t->easy = impl_->TakeIdle(t->key);
  }
  if (t->easy) {  // a kept connection
    t->reused = true;
    curl_easy_setopt(t->easy.get(), CURLOPT_PRIVATE, reinterpret_cast<char*>(raw));
    curl_easy_setopt(t->easy.get(), CURLOPT_ERRORBUFFER, raw->errbuf);
  } else if (problem.empty()) {
    problem = impl_->Launch(raw);
  }
  impl_->transfers.emplace(id, std::move(t));
  if (raw->reused) {
    impl_->Connected(raw);  // never calls back from here
  } else if (!problem.empty()) {  // reported from the loop, like any other failure
    raw->response.error = problem;
    raw->done = true;
    impl_->Queue(raw);
    impl_->WakeSoon();
  }
  return std::make_unique<CallHandle>(impl_, id, raw);
}

}  // namespace swg::k8s
