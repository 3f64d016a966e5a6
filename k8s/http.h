#pragma once
// HTTPS requests on a swg::Loop: one libcurl multi handle driven by libuv (a poll handle per socket, one
// timer). Callbacks never run inside libcurl: data and completion are delivered after libcurl returns, so a
// callback may start or cancel any call. Nothing is delivered after its HttpCall is destroyed.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace swg {
class Loop;
}

namespace swg::k8s {

struct TlsOptions {
  std::string ca_pem;     // trusted CA certificates (PEM); empty: the system store
  bool insecure = false;  // skip server verification (kubeconfig insecure-skip-tls-verify)
  std::string cert_pem;   // client certificate (PEM), with key_pem
  std::string key_pem;
};

struct HttpRequest {
  std::string method = "GET";
  std::string url;
  std::vector<std::string> headers;  // "Name: value"
  std::string body;
  TlsOptions tls;
  // "HOST:PORT:CONNECT_HOST:CONNECT_PORT": verify and send SNI for HOST but connect elsewhere
  // (tls-server-name).
  std::string connect_to;
  std::chrono::milliseconds timeout{60000};  // the whole request; always set
  std::chrono::milliseconds connect_timeout{10000};
  bool stream = false;          // a 2xx body goes to on_data as it arrives instead of into HttpResponse::body
  // A streamed GET (a watch) asking for the body as it is (no gzip; apiservers do not compress watch events),
  // read by the client itself over the connection libcurl makes (k8s/http_stream.h), which is kept a little for
  // the next one to the same server. Other requests with identity are refused.
  bool identity = false;
  size_t max_body = 64u << 20;  // larger buffered bodies fail the request
  // Stream bytes (decompressed) waiting for the loop to hand them to on_data: beyond this libcurl is paused
  // until they have been handed over. One turn of the loop can read a whole compressed page, 10 to 50 times
  // larger decompressed, or a gzip bomb, a thousand times larger.
  size_t max_pending = 1u << 20;
};

struct HttpResponse {
  long status = 0;   // HTTP status; 0 when no response arrived
  std::string body;  // the buffered body (for a stream: only a non-2xx body)
  std::optional<std::chrono::seconds> retry_after;
  std::vector<std::string> warnings;  // Warning: headers
  std::string content_type;           // the Content-Type header ("" when none)
  std::string error;                  // transport error ("" when the transfer completed)
  bool tls_verify_failed = false;
  bool timed_out = false;
  bool too_large = false;  // the buffered body exceeded max_body
  uint64_t bytes = 0;      // body bytes received
};

// A started request; destroying it cancels the request and its callbacks.
class HttpCall {
 public:
  virtual ~HttpCall() = default;
  // When body bytes last arrived (or the request started).
  virtual std::chrono::steady_clock::time_point last_data() const = 0;
  // The response's Content-Type once its headers are in (a stream's, before its first data).
  virtual std::string content_type() const = 0;
};

class HttpClient {
 public:
  explicit HttpClient(Loop& loop);
  ~HttpClient();  // cancels every call; must not be destroyed from one of its callbacks
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  using DataCallback = std::function<void(std::string_view chunk)>;
  using DoneCallback = std::function<void(HttpResponse response)>;
  // on_data (stream requests, 2xx only) zero or more times, then on_done exactly once unless cancelled.
  std::unique_ptr<HttpCall> Start(HttpRequest request, DataCallback on_data, DoneCallback on_done);

  size_t active() const;  // calls in flight (for tests)

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace swg::k8s
