#include "k8s/http_stream.h"

#include <openssl/ssl.h>
#include <uv.h>

#include <ctime>

#include "common/loop.h"
#include "common/strings.h"

namespace swg::k8s {
namespace {

constexpr size_t kReadSize = 16384;  // a whole TLS record
constexpr int kReadsPerWake = 64;    // then the loop runs others and comes back

struct UrlDeleter {
  void operator()(CURLU* u) const { curl_url_cleanup(u); }
};
struct CurlStringDeleter {
  void operator()(char* s) const { curl_free(s); }
};
using CurlString = std::unique_ptr<char, CurlStringDeleter>;

CurlString UrlPart(CURLU* url, CURLUPart part) {
  char* value = nullptr;
  if (curl_url_get(url, part, &value, 0) != CURLUE_OK) return nullptr;
  return CurlString(value);
}

// The request's bytes as libcurl would send them for a GET: the target and Host from the URL (the port only
// when not the scheme's own), then User-Agent and the request's headers.
Result<std::string> RequestText(const HttpRequest& request) {
  std::unique_ptr<CURLU, UrlDeleter> url(curl_url());
  if (!url || curl_url_set(url.get(), CURLUPART_URL, request.url.c_str(), 0) != CURLUE_OK)
    return Error{"cannot parse the URL " + Quote(request.url)};
  CurlString scheme = UrlPart(url.get(), CURLUPART_SCHEME), host = UrlPart(url.get(), CURLUPART_HOST),
             port = UrlPart(url.get(), CURLUPART_PORT), path = UrlPart(url.get(), CURLUPART_PATH),
             query = UrlPart(url.get(), CURLUPART_QUERY);
  if (!scheme || !host || !path) return Error{"cannot parse the URL " + Quote(request.url)};
  std::string host_field = host.get();
  const std::string_view default_port = std::string_view(scheme.get()) == "https" ? "443" : "80";
  if (port && default_port != port.get()) host_field += std::string(":") + port.get();
  std::string text = "GET " + std::string(path.get()) + (query ? std::string("?") + query.get() : "") +
                     " HTTP/1.1\r\nHost: " + host_field +
                     "\r\nUser-Agent: semaphore-wireguard/" SWG_VERSION "\r\n";
  for (const std::string& h : request.headers) {
    if (h.find_first_of("\r\n") != std::string::npos) return Error{"a request header holds a line break"};
    text += h + "\r\n";
  }
  return text + "\r\n";
}

}  // namespace

std::optional<std::chrono::seconds> ParseRetryAfter(std::string_view value) {
  value = Trim(value);
  if (std::optional<uint64_t> s = ParseUint(value, 86400)) return std::chrono::seconds(*s);
  std::string date(value);
  time_t when = curl_getdate(date.c_str(), nullptr);
  if (when < 0) return std::nullopt;
  time_t now = time(nullptr);
  return std::chrono::seconds(when > now ? when - now : 0);
}

std::string NoteHeader(HttpResponse& response, std::string_view name, std::string_view value, bool identity) {
  if (name == "retry-after") {
    response.retry_after = ParseRetryAfter(value);
  } else if (name == "content-type") {
    response.content_type.assign(value.substr(0, 256));
  } else if (name == "content-encoding" && identity && !value.empty() && value != "identity") {
    return std::string(value.substr(0, 64));
  } else if (name == "warning" && response.warnings.size() < 16) {
    response.warnings.emplace_back(value);
  }
  return "";
}

std::string UnaskedEncodingError(std::string_view encoding) {
  return "the response came with Content-Encoding " + Quote(encoding) + ", which the request did not accept";
}

std::string BodyTooLargeError(size_t max_body) {
  return "response body larger than " + std::to_string(max_body) + " bytes";
}

ConnectedStream::ConnectedStream(Loop& loop, CURL* easy, const HttpRequest& request, Sink sink)
    : easy_(easy), request_(request), sink_(std::move(sink)), started_(std::chrono::steady_clock::now()) {
  timer_ = new uv_timer_t;
  uv_timer_init(loop.uv(), timer_);
  timer_->data = this;
  kick_ = new uv_timer_t;
  uv_timer_init(loop.uv(), kick_);
  kick_->data = this;
}

ConnectedStream::~ConnectedStream() {
  if (poll_) {
    uv_poll_stop(poll_);
    uv_close(reinterpret_cast<uv_handle_t*>(poll_),
             [](uv_handle_t* h) { delete reinterpret_cast<uv_poll_t*>(h); });
  }
  for (uv_timer_t* t : {timer_, kick_}) {
    uv_timer_stop(t);
    uv_close(reinterpret_cast<uv_handle_t*>(t),
             [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
  }
}

Result<std::unique_ptr<ConnectedStream>> ConnectedStream::Start(Loop& loop, CURL* easy,
                                                                const HttpRequest& request,
                                                                std::chrono::milliseconds time_left,
                                                                Sink sink) {
  std::unique_ptr<ConnectedStream> s(new ConnectedStream(loop, easy, request, std::move(sink)));
  curl_socket_t fd = CURL_SOCKET_BAD;
  if (curl_easy_getinfo(easy, CURLINFO_ACTIVESOCKET, &fd) != CURLE_OK || fd == CURL_SOCKET_BAD)
    return Error{"libcurl connected but has no socket to read"};
  curl_tlssessioninfo* tls = nullptr;
  if (curl_easy_getinfo(easy, CURLINFO_TLS_SSL_PTR, &tls) == CURLE_OK && tls &&
      tls->backend == CURLSSLBACKEND_OPENSSL) {
    s->ssl_ = tls->internals;
  }
  Result<std::string> text = RequestText(request);
  if (!text.ok()) return text.error();
  s->out_ = std::move(text).value();
  s->poll_ = new uv_poll_t;
  if (int rc = uv_poll_init_socket(loop.uv(), s->poll_, fd); rc != 0) {
    delete s->poll_;
    s->poll_ = nullptr;
    return Error{std::string("cannot poll the connection: ") + uv_strerror(rc)};
  }
  s->poll_->data = s.get();
  uv_timer_start(s->timer_, OnTimeout, static_cast<uint64_t>(std::max<int64_t>(1, time_left.count())), 0);
  s->Watch(UV_WRITABLE);  // the request goes out from the loop: Start never notifies
  return s;
}

void ConnectedStream::Watch(int events) {
  if (!poll_ || events == events_) return;
  events_ = events;
  if (events == 0) {
    uv_poll_stop(poll_);
  } else {
    uv_poll_start(poll_, events, OnPoll);
  }
}

void ConnectedStream::OnPoll(uv_poll_t* handle, int status, int events) noexcept {
  auto* s = static_cast<ConnectedStream*>(handle->data);
  if (status < 0) return s->Finish(std::string("polling the connection: ") + uv_strerror(status));
  if (!s->out_.empty()) {
    if (events & UV_WRITABLE) s->Send();
    return;
  }
  s->Read();
}

void ConnectedStream::OnTimeout(uv_timer_t* timer) noexcept {
  auto* s = static_cast<ConnectedStream*>(timer->data);
  const auto took =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - s->started_);
  s->Finish("Operation timed out after " + std::to_string(took.count()) + " milliseconds with " +
                std::to_string(s->sink_.response->bytes) + " bytes received",
            /*timed_out=*/true);
}

void ConnectedStream::OnKick(uv_timer_t* timer) noexcept {
  static_cast<ConnectedStream*>(timer->data)->Read();
}

void ConnectedStream::Notify() {
  std::function<void()> notify = sink_.notify;  // the call may destroy this stream, sink_ with it
  notify();
}

void ConnectedStream::Resume() {
  if (done_ || !out_.empty() || events_ != 0) return;  // reading, or not yet
  Watch(UV_READABLE);
  uv_timer_start(kick_, OnKick, 0, 0);  // bytes TLS already holds raise no poll event
}

void ConnectedStream::Send() {
  while (!out_.empty()) {
    size_t n = 0;
    sink_.errbuf[0] = '\0';
    CURLcode rc = curl_easy_send(easy_, out_.data(), out_.size(), &n);
    if (rc == CURLE_AGAIN) return Watch(UV_WRITABLE);
    if (rc != CURLE_OK) return Finish(CurlError("sending the request", rc));
    out_.erase(0, n);
  }
  std::string().swap(out_);
  Watch(UV_READABLE);
}

// The head is in: what HttpResponse reports of it. False when the stream ended on it.
bool ConnectedStream::OnHead() {
  HttpResponse& r = *sink_.response;
  r.status = reader_.status();
  keep_alive_ = reader_.minor_version() >= 1;
  for (const auto& [name, value] : reader_.headers()) {
    if (name == "connection" && value.find("close") != std::string::npos) keep_alive_ = false;
    std::string unasked = NoteHeader(r, name, value, request_.identity);
    if (!unasked.empty()) {
      Finish(UnaskedEncodingError(unasked));
      return false;
    }
  }
  return true;
}

// Reads what arrived: one read per TLS record, and no read that would only find the socket empty.
void ConnectedStream::Read() {
  char buf[kReadSize];
  HttpResponse& r = *sink_.response;
  bool grew = false;
  for (int round = 0; round < kReadsPerWake; ++round) {
    if (Streaming() && sink_.pending->size() >= request_.max_pending) {
      Watch(0);  // Resume reads on
      break;
    }
    size_t n = 0;
    sink_.errbuf[0] = '\0';  // not what a failed connection attempt before this one left there
    CURLcode rc = curl_easy_recv(easy_, buf, sizeof buf, &n);
    if (rc == CURLE_AGAIN) break;
    if (rc != CURLE_OK) return Finish(CurlError("receiving", rc));
    if (n == 0) {
      keep_alive_ = false;
      Status end = reader_.End();
      return Finish(end.ok() ? "" : end.error().message);
    }
    bytes_in_ += n;
    bool too_large = false;
    auto on_body = [&](std::string_view body) {
      r.bytes += body.size();
      if (Streaming()) {
        sink_.pending->append(body);
        grew = true;
      } else if (r.body.size() + body.size() > request_.max_body) {
        too_large = true;
      } else {
        r.body.append(body);
      }
    };
    // The head first (the reader stops after it), so that no body byte is taken before it is known.
    std::string_view data(buf, n);
    while (!data.empty() && !reader_.done()) {
      const bool had_head = reader_.head_done();
      Result<size_t> used = reader_.Feed(data, on_body);
      if (!used.ok()) return Finish(used.error().message);
      data.remove_prefix(*used);
      if (!had_head && reader_.head_done() && !OnHead()) return;
      if (*used == 0) break;
    }
    *sink_.last_data = std::chrono::steady_clock::now();
    if (too_large) {
      r.too_large = true;
      return Finish(BodyTooLargeError(request_.max_body));
    }
    if (reader_.done()) {
      // Bytes after the response, or held by TLS, would be read as the start of the next one.
      if (!data.empty() || (ssl_ && SSL_has_pending(static_cast<SSL*>(ssl_)))) keep_alive_ = false;
      return Finish("");
    }
    // A record read whole and nothing more held by TLS: the socket's poll says when the next one is in.
    if (ssl_ && n < sizeof buf && !SSL_has_pending(static_cast<SSL*>(ssl_))) break;
    if (round + 1 == kReadsPerWake) uv_timer_start(kick_, OnKick, 0, 0);
  }
  if (grew) Notify();  // last: the callback may destroy this stream
}

std::string ConnectedStream::CurlError(std::string_view doing, CURLcode rc) const {
  return std::string(doing) + ": " +
         (sink_.errbuf[0] ? std::string(Trim(sink_.errbuf)) : curl_easy_strerror(rc));
}

void ConnectedStream::Finish(std::string error, bool timed_out) {
  if (done_) return;
  done_ = true;
  Watch(0);
  uv_timer_stop(timer_);
  uv_timer_stop(kick_);
  failed_ = !error.empty();
  timed_out_ = timed_out;
  reusable_ = !failed_ && keep_alive_ && reader_.done();
  if (failed_) {
    sink_.response->error = std::move(error);
    sink_.response->timed_out = timed_out;
  }
  Notify();  // last, as above
}

}  // namespace swg::k8s
