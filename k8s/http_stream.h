#pragma once
// A streamed GET read by the client itself over the connection libcurl made for it (CURLOPT_CONNECT_ONLY):
// libcurl resolves, connects (through a proxy if one is configured), and does TLS and its verification; this
// sends the request and reads the response (k8s/http_response.h) straight from the socket, one read per
// arriving event. For watches, whose every event would otherwise cost a pass through libcurl's transfer
// machinery and an extra poll(2).

#include <curl/curl.h>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"
#include "k8s/http.h"
#include "k8s/http_response.h"

typedef struct uv_poll_s uv_poll_t;
typedef struct uv_timer_s uv_timer_t;

namespace swg::k8s {

// Response headers as both ways of reading report them.
std::optional<std::chrono::seconds> ParseRetryAfter(std::string_view value);
// Notes one header (name lower-cased) in `response`; for an identity request, returns a Content-Encoding it
// did not accept ("" otherwise).
std::string NoteHeader(HttpResponse& response, std::string_view name, std::string_view value, bool identity);
std::string UnaskedEncodingError(std::string_view encoding);
std::string BodyTooLargeError(size_t max_body);

class ConnectedStream {
 public:
  // What it fills in, owned by the transfer that outlives it.
  struct Sink {
    HttpResponse* response = nullptr;
    std::string* pending = nullptr;  // 2xx body bytes not yet handed to on_data
    std::chrono::steady_clock::time_point* last_data = nullptr;
    char* errbuf = nullptr;        // the easy handle's CURLOPT_ERRORBUFFER
    std::function<void()> notify;  // pending grew, or the stream ended: never called from Start or Resume
  };
  // Sends the request on easy's connection and starts reading; `time_left` bounds the whole exchange.
  static Result<std::unique_ptr<ConnectedStream>> Start(Loop& loop, CURL* easy, const HttpRequest& request,
                                                        std::chrono::milliseconds time_left, Sink sink);
  ~ConnectedStream();  // stops polling; the connection stays libcurl's to close
  ConnectedStream(const ConnectedStream&) = delete;
  ConnectedStream& operator=(const ConnectedStream&) = delete;

  bool done() const { return done_; }  // the response ended, or failed (response->error)
  // Once done: the connection carried the whole response and nothing else, and the server keeps it open.
  bool reusable() const { return reusable_; }
  // Once done: it failed before a byte arrived (a kept connection the server had closed meanwhile).
  bool failed_before_response() const { return failed_ && bytes_in_ == 0 && !timed_out_; }
  // Reads again once pending has room (reading stops while it holds request.max_pending bytes).
  void Resume();

 private:
  ConnectedStream(Loop& loop, CURL* easy, const HttpRequest& request, Sink sink);
  static void OnPoll(uv_poll_t* handle, int status, int events) noexcept;
  static void OnTimeout(uv_timer_t* timer) noexcept;
  static void OnKick(uv_timer_t* timer) noexcept;
  void Send();
  void Read();
  bool OnHead();
  void Finish(std::string error, bool timed_out = false);
  void Notify();
  bool Streaming() const { return reader_.head_done() && reader_.status() / 100 == 2; }  // body to pending
  std::string CurlError(std::string_view doing, CURLcode rc) const;
  void Watch(int events);

  CURL* easy_;
  const HttpRequest& request_;
  Sink sink_;
  void* ssl_ =
      nullptr;  // OpenSSL's SSL, to tell whether it holds decrypted bytes; null for other TLS or none
  uv_poll_t* poll_ = nullptr;
  uv_timer_t* timer_ = nullptr;  // the request's time bound
  uv_timer_t* kick_ = nullptr;   // a read from the loop, for bytes no poll event announces
  std::string out_;              // request bytes not yet sent
  HttpResponseReader reader_;
  std::chrono::steady_clock::time_point started_;
  int events_ = 0;         // what poll_ waits for
  uint64_t bytes_in_ = 0;  // received, head included
  bool done_ = false;
  bool failed_ = false;
  bool timed_out_ = false;
  bool keep_alive_ = false;  // HTTP/1.1 without Connection: close
  bool reusable_ = false;
};

}  // namespace swg::k8s
