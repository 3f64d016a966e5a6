#pragma once
// A cluster's server and credentials from one of the three sources (in-cluster, kubeconfig, token + CA URL),
// kept fresh: token files are re-read when they change, at least every token_reload_interval and after a 401;
// exec plugins are re-run when their credential expires or after a 401; a CA URL is fetched again (at most
// once per ca_refetch_interval) and a CA file re-read after a certificate verification failure. The CA in use
// is kept when that fails: a bad backend behind a load balancer must not cost every request their working CA.

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "k8s/client_options.h"
#include "k8s/http.h"

namespace swg {
class Loop;
}

namespace swg::k8s {

// What one request to the apiserver needs.
struct Connection {
  std::string base_url;    // scheme://host:port[/prefix], no trailing slash (host = tls-server-name if set)
  std::string connect_to;  // set with tls-server-name (see HttpRequest::connect_to)
  TlsOptions tls;
  std::string bearer_token;  // empty: none
};

// A token file, re-read when it changes on disk, when older than max_age, or after Invalidate().
class TokenFile {
 public:
  explicit TokenFile(std::string path) : path_(std::move(path)) {}
  Result<std::string> Get(std::chrono::steady_clock::time_point now, std::chrono::milliseconds max_age);
  void Invalidate() { valid_ = false; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::string token_;
  bool valid_ = false;
  std::chrono::steady_clock::time_point read_at_{};
  uint64_t inode_ = 0, size_ = 0;
  int64_t mtime_ns_ = 0;
};

class Credentials {
 public:
  // Checks what can be checked at once (the kubeconfig parses, the environment is set, inline data decodes).
  static Result<std::unique_ptr<Credentials>> Create(Loop& loop, HttpClient& http,
                                                     const ClusterSource& source,
                                                     const ClientOptions& options);
  ~Credentials();
  Credentials(const Credentials&) = delete;
  Credentials& operator=(const Credentials&) = delete;

  // The settings for the next request: at once when nothing must be fetched or run, else later from the loop.
  // Errors say which file, URL or plugin failed. `done` is not called after destruction.
  void Get(std::function<void(Result<Connection>)> done);
  // The server answered 401: reload what can change. False when nothing can (a static token).
  bool OnUnauthorized();
  // The server's certificate did not verify: fetch the CA URL again / re-read the CA file before the next
  // request. False when nothing will be reloaded: inline CA data, the system store, or a CA URL fetched less
  // than ca_refetch_interval ago.
  bool OnVerifyFailed();

  const std::string& server() const { return server_; }
  const std::string& host() const { return host_; }  // host:port, for metrics
  const std::string& description() const { return description_; }

  struct Impl;

 private:
  explicit Credentials(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
  std::string server_, host_, description_;
};

// Splits "scheme://host[:port][/path]": host (IPv6 keeps its brackets), port (default from the scheme).
struct ParsedUrl {
  std::string scheme, host, path;
  int port = 0;
};
std::optional<ParsedUrl> ParseUrl(std::string_view url);

}  // namespace swg::k8s
