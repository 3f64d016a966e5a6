#pragma once
// Internal to k8s/: the Client's request machinery (credentials -> HTTP -> retries -> error text), shared by
// client.cc (the Node API) and request.cc (one request's life).

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "common/loop.h"
#include "k8s/client.h"
#include "k8s/credentials.h"
#include "k8s/http.h"

namespace swg::k8s {

struct RequestSpec {
  std::string method = "GET";
  std::string path;   // with the query, escaped
  std::string shown;  // how messages show the request: "GET /api/v1/nodes/n1"
  std::string body;
  std::string content_type;
  std::string accept;  // "" = application/json
  bool stream = false;
  bool identity = false;  // HttpRequest::identity
  std::chrono::milliseconds timeout{0};
  size_t max_body = 1u << 20;  // a buffered body: the answer, or a stream's error (a Status)
};

// A request's outcome: the 2xx response, or an Error whose message already names cluster and request.
using RequestDone = std::function<void(Result<HttpResponse>)>;

// One logical request and its retries.
struct Op {
  Op(Loop& loop, uint64_t i) : id(i), timer(loop) {}
  uint64_t id;
  RequestSpec spec;
  HttpClient::DataCallback on_data;
  RequestDone done;
  Timer timer;
  std::unique_ptr<HttpCall> call;
  bool reauthed = false;    // retried after a 401
  bool reverified = false;  // retried after a certificate verification failure
  bool reset_retried = false;
  int retries = 0;  // Retry-After retries
};

struct Client::Impl : std::enable_shared_from_this<Client::Impl> {
  Impl(Loop& l, std::string c, ClientOptions o) : loop(l), cluster(std::move(c)), options(std::move(o)) {}
  ~Impl();

  Loop& loop;
  std::string cluster;
  ClientOptions options;
  std::unique_ptr<HttpClient> http;
  std::unique_ptr<Credentials> credentials;
  RequestObserver observer;
  std::map<uint64_t, std::unique_ptr<Op>> ops;
  uint64_t next_id = 1;

  // Starts a request (from the loop, never synchronously); returns its id for Cancel and LastData.
  uint64_t Begin(RequestSpec spec, HttpClient::DataCallback on_data, RequestDone done);
  void Cancel(uint64_t id);
  std::chrono::steady_clock::time_point LastData(uint64_t id) const;
  // The response's Content-Type once its headers are in ("" before, or when the op is over).
  std::string ContentType(uint64_t id) const;
  // Node bodies read, by encoding (Client::NodeReads).
  uint64_t protobuf_reads = 0, json_reads = 0;

  std::string Describe(const RequestSpec& spec, const std::string& detail) const {
    return cluster + ": " + spec.shown + ": " + detail;
  }

 private:
  void Step(uint64_t id);
  void Send(Op& op, const Connection& conn);
  void OnResponse(uint64_t id, HttpResponse response);
  void Retry(Op& op, std::chrono::milliseconds delay);
  void Finish(uint64_t id, Result<HttpResponse> result);
};

// "HTTP 404 NotFound: nodes "n1" not found", from a response's status and body.
std::string HttpErrorText(const HttpResponse& response);

// Percent-encodes everything but RFC 3986 unreserved characters.
std::string UrlEscape(std::string_view s);

}  // namespace swg::k8s
