#include "k8s/credentials.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstdlib>
#include <ctime>

#include "common/base64.h"
#include "common/files.h"
#include "common/log.h"
#include "common/strings.h"
#include "k8s/exec_plugin.h"
#include "k8s/kubeconfig.h"

namespace swg::k8s {
namespace {

constexpr std::string_view kPemCertificate = "-----BEGIN CERTIFICATE-----";
constexpr int64_t kExecExpirySkewSeconds = 10;

std::string JsonQuote(std::string_view s) { return Quote(s); }

Result<std::string> ReadPem(const std::string& path, std::string_view what) {
  Result<std::string> text = ReadFile(path, 1u << 20);
  if (!text.ok()) return Error{std::string(what) + ": " + text.error().message};
  if (text->find("-----BEGIN ") == std::string::npos) {
    return Error{std::string(what) + " " + path + " holds no PEM data"};
  }
  return text;
}

}  // namespace

std::optional<ParsedUrl> ParseUrl(std::string_view url) {
  ParsedUrl out;
  size_t sep = url.find("://");
  if (sep == std::string_view::npos) return std::nullopt;
  out.scheme = std::string(url.substr(0, sep));
  if (out.scheme != "https" && out.scheme != "http") return std::nullopt;
  std::string_view rest = url.substr(sep + 3);
  size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  out.path = slash == std::string_view::npos ? "" : std::string(rest.substr(slash));
  while (!out.path.empty() && out.path.back() == '/') out.path.pop_back();
  if (authority.empty() || authority.find('@') != std::string_view::npos) return std::nullopt;
  size_t colon = authority.rfind(':');
  if (authority.front() == '[') {
    size_t close = authority.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    if (colon < close) colon = std::string_view::npos;
  }
  out.host = std::string(authority.substr(0, colon));
  out.port = out.scheme == "https" ? 443 : 80;
  if (colon != std::string_view::npos) {
    std::optional<uint64_t> port = ParseUint(authority.substr(colon + 1), 65535);
    if (!port || *port == 0) return std::nullopt;
    out.port = static_cast<int>(*port);
  }
  if (out.host.empty() || out.host == "[]") return std::nullopt;
  return out;
}

Result<std::string> TokenFile::Get(std::chrono::steady_clock::time_point now,
                                   std::chrono::milliseconds max_age) {
  struct stat st;
  if (stat(path_.c_str(), &st) != 0) {
    valid_ = false;
    return Error{"token file " + path_ + ": " + ErrnoText(errno)};
  }
  int64_t mtime_ns = int64_t(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  bool changed = uint64_t(st.st_ino) != inode_ || uint64_t(st.st_size) != size_ || mtime_ns != mtime_ns_;
  // File timestamps are coarse (a few ms): a token rewritten in place with one of the same length can leave
  // inode, size and mtime as they were. A recently modified file is therefore read again whatever stat says.
  auto since_change = std::chrono::system_clock::now().time_since_epoch() - std::chrono::nanoseconds(mtime_ns);
  bool recent = since_change < std::chrono::seconds(2);
  if (valid_ && !changed && !recent && now - read_at_ < max_age) return token_;
  Result<std::string> text = ReadFile(path_, 64u << 10);
  if (!text.ok()) {
    valid_ = false;
    return Error{"token file: " + text.error().message};
  }
  std::string token(Trim(*text));
  if (token.empty()) {
    valid_ = false;
    return Error{"token file " + path_ + " is empty"};
  }
  token_ = std::move(token);
  valid_ = true;
  read_at_ = now;
  inode_ = uint64_t(st.st_ino);
  size_ = uint64_t(st.st_size);
  mtime_ns_ = mtime_ns;
  return token_;
}

struct Credentials::Impl {
  Impl(Loop& l, HttpClient& h, const ClientOptions& o) : loop(l), http(h), options(o) {}

  Loop& loop;
  HttpClient& http;
  ClientOptions options;
  std::string base_url, connect_to;

  enum class Ca { kSystem, kInline, kFile, kUrl };
  Ca ca_kind = Ca::kSystem;
  std::string ca_pem;
  std::string ca_source;  // file path or URL
  bool ca_reload = false;  // a certificate did not verify: reload before the next request
  std::optional<std::chrono::steady_clock::time_point> ca_fetched_at;  // the last fetch from the URL began
  bool insecure = false;
  std::string ca_url_trust_pem;
  std::unique_ptr<HttpCall> ca_fetch;

  std::string static_token;
  std::optional<TokenFile> token_file;
  std::string cert_file, key_file, cert_pem, key_pem;
  std::unique_ptr<ExecPlugin> exec;
  std::optional<ExecCredential> exec_cred;
  bool exec_fresh = false;

  std::vector<std::function<void(Result<Connection>)>> waiters;
  bool busy = false;
  std::shared_ptr<bool> alive = std::make_shared<bool>(true);

  void Continue();
  void Deliver(const Result<Connection>& result);
  void FetchCa();
};

void Credentials::Impl::Deliver(const Result<Connection>& result) {
  std::vector<std::function<void(Result<Connection>)>> batch;
  batch.swap(waiters);
  std::weak_ptr<bool> guard = alive;
  for (auto& cb : batch) {
    if (guard.expired()) return;
    cb(result);
  }
}

void Credentials::Impl::FetchCa() {
  busy = true;
  ca_reload = false;
  ca_fetched_at = std::chrono::steady_clock::now();
  HttpRequest req;
  req.url = ca_source;
  req.timeout = options.ca_fetch_timeout;
  req.connect_timeout = std::min(options.connect_timeout, options.ca_fetch_timeout);
  req.tls.ca_pem = ca_url_trust_pem;
  req.max_body = 1u << 20;
  ca_fetch = http.Start(std::move(req), nullptr, [this](HttpResponse r) {
    ca_fetch.reset();
    busy = false;
    std::string problem;
    if (!r.error.empty()) {
      problem = r.error;
    } else if (r.status != 200) {
      problem = "HTTP " + std::to_string(r.status);
    } else if (r.body.find(kPemCertificate) == std::string::npos) {
      problem = "the answer is not a PEM certificate";
    }
    if (!problem.empty() && ca_pem.empty())
      return Deliver(Error{"fetching the CA from " + ca_source + ": " + problem});
    if (!problem.empty()) {
      log::Warn("cannot fetch the CA again; keeping the one in use",
                {{"url", ca_source}, {"error", problem}});
    } else if (r.body != ca_pem) {
      if (!ca_pem.empty()) log::Info("fetched a new CA", {{"url", ca_source}});
      ca_pem = std::move(r.body);
    }
    Continue();
  });
}

void Credentials::Impl::Continue() {
  if (busy || waiters.empty()) return;
  if (ca_kind == Ca::kUrl && (ca_pem.empty() || ca_reload)) return FetchCa();
  if (ca_kind == Ca::kFile && (ca_pem.empty() || ca_reload)) {
    ca_reload = false;
    Result<std::string> pem = ReadPem(ca_source, "CA file");
    if (!pem.ok() && ca_pem.empty()) return Deliver(pem.error());
    if (pem.ok()) {
      ca_pem = std::move(pem).value();
    } else {
      log::Warn("cannot read the CA file again; keeping the CA in use", {{"error", pem.error().message}});
    }
  }
  if (exec) {
    bool expired =
        exec_cred && exec_cred->expiry && *exec_cred->expiry - kExecExpirySkewSeconds <= time(nullptr);
    // A credential just obtained serves the requests that waited for it, even one that expires very soon.
    if (!exec_cred || (expired && !exec_fresh)) {
      busy = true;
      exec->Run([this](Result<ExecCredential> cred) {
        busy = false;
        if (!cred.ok()) return Deliver(cred.error());
        exec_cred = std::move(cred).value();
        exec_fresh = true;
        Continue();
      });
      return;
    }
    exec_fresh = false;
  }
  Connection c;
  c.base_url = base_url;
  c.connect_to = connect_to;
  c.tls.insecure = insecure;
  if (!insecure) c.tls.ca_pem = ca_pem;
  c.bearer_token = static_token;
  if (token_file) {
    Result<std::string> token =
        token_file->Get(std::chrono::steady_clock::now(), options.token_reload_interval);
    if (!token.ok()) return Deliver(token.error());
    c.bearer_token = *token;
  }
  if (!cert_file.empty() && cert_pem.empty()) {
    Result<std::string> cert = ReadPem(cert_file, "client certificate");
    if (!cert.ok()) return Deliver(cert.error());
    Result<std::string> key = ReadPem(key_file, "client key");
    if (!key.ok()) return Deliver(key.error());
    cert_pem = std::move(cert).value();
    key_pem = std::move(key).value();
  }
  c.tls.cert_pem = cert_pem;
  c.tls.key_pem = key_pem;
  if (exec_cred) {
    if (!exec_cred->token.empty()) c.bearer_token = exec_cred->token;
    if (!exec_cred->cert_pem.empty()) {
      c.tls.cert_pem = exec_cred->cert_pem;
      c.tls.key_pem = exec_cred->key_pem;
    }
  }
  Deliver(c);
}

Credentials::Credentials(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Credentials::~Credentials() = default;

void Credentials::Get(std::function<void(Result<Connection>)> done) {
  impl_->waiters.push_back(std::move(done));
  impl_->Continue();
}

bool Credentials::OnUnauthorized() {
  bool reloadable = false;
  if (impl_->token_file) {
    impl_->token_file->Invalidate();
    reloadable = true;
  }
  if (impl_->exec) {
    impl_->exec_cred.reset();
    reloadable = true;
  }
  if (!impl_->cert_file.empty()) {
    impl_->cert_pem.clear();
    impl_->key_pem.clear();
    reloadable = true;
  }
  return reloadable;
}

bool Credentials::OnVerifyFailed() {
  Impl& i = *impl_;
  if (i.insecure) return false;
  if (i.ca_kind == Impl::Ca::kUrl && i.ca_fetched_at && !i.ca_pem.empty() &&
      std::chrono::steady_clock::now() - *i.ca_fetched_at < i.options.ca_refetch_interval) {
    return false;  // one bad backend must not make every request fetch it
  }
  if (i.ca_kind == Impl::Ca::kUrl || i.ca_kind == Impl::Ca::kFile) {
    i.ca_reload = true;
    return true;
  }
  return false;
}

Result<std::unique_ptr<Credentials>> Credentials::Create(Loop& loop, HttpClient& http,
                                                         const ClusterSource& source,
                                                         const ClientOptions& options) {
  auto impl = std::make_unique<Impl>(loop, http, options);
  std::string server, tls_server_name, description;
  using Kind = ClusterSource::Kind;
  if (source.kind == Kind::kInCluster) {
    const char* host = getenv("KUBERNETES_SERVICE_HOST");
    const char* port = getenv("KUBERNETES_SERVICE_PORT");
    if (!host || !*host || !port || !*port) {
      return Error{
          "in-cluster credentials: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set "
          "(not running in a pod? set kubeConfigPath)"};
    }
    std::string h = host;
    if (h.find(':') != std::string::npos) h = "[" + h + "]";
    server = "https://" + h + ":" + port;
    impl->token_file.emplace(options.in_cluster_dir + "/token");
    impl->ca_kind = Impl::Ca::kFile;
    impl->ca_source = options.in_cluster_dir + "/ca.crt";
    description = "in-cluster service account (" + options.in_cluster_dir + ")";
  } else if (source.kind == Kind::kKubeconfig) {
    Result<Kubeconfig> kc = LoadKubeconfig(source.kubeconfig_path, source.context);
    if (!kc.ok()) return kc.error();
    server = kc->server;
    tls_server_name = kc->tls_server_name;
    impl->insecure = kc->insecure_skip_tls_verify;
    if (impl->insecure && (!kc->ca_pem.empty() || !kc->ca_file.empty())) {
      return Error{"kubeconfig " + kc->path + ": insecure-skip-tls-verify cannot be combined with a CA"};
    }
    if (!kc->ca_pem.empty()) {
      if (kc->ca_pem.find(kPemCertificate) == std::string::npos) {
        return Error{"kubeconfig " + kc->path + ": certificate-authority-data holds no PEM certificate"};
      }
      impl->ca_kind = Impl::Ca::kInline;
      impl->ca_pem = kc->ca_pem;
    } else if (!kc->ca_file.empty()) {
      impl->ca_kind = Impl::Ca::kFile;
      impl->ca_source = kc->ca_file;
    }
    impl->static_token = kc->token;
    if (!kc->token_file.empty()) impl->token_file.emplace(kc->token_file);
    impl->cert_file = kc->cert_file;
    impl->key_file = kc->key_file;
    impl->cert_pem = kc->cert_pem;
    impl->key_pem = kc->key_pem;
    if (impl->cert_file.empty() != impl->key_file.empty()) {  // one from a file, the other inline
      if (!impl->cert_file.empty()) {
        Result<std::string> cert = ReadPem(impl->cert_file, "client certificate");
        if (!cert.ok()) return Error{"kubeconfig " + kc->path + ": " + cert.error().message};
        impl->cert_pem = *cert;
      } else {
        Result<std::string> key = ReadPem(impl->key_file, "client key");
        if (!key.ok()) return Error{"kubeconfig " + kc->path + ": " + key.error().message};
        impl->key_pem = *key;
      }
      impl->cert_file.clear();
      impl->key_file.clear();
    }
    if (kc->exec) {
      std::string info = "{\"server\":" + JsonQuote(server);
      if (!kc->tls_server_name.empty()) info += ",\"tls-server-name\":" + JsonQuote(kc->tls_server_name);
      if (!kc->ca_pem.empty()) info += ",\"certificate-authority-data\":\"" + Base64Encode(kc->ca_pem) + "\"";
      if (kc->insecure_skip_tls_verify) info += ",\"insecure-skip-tls-verify\":true";
      info += "}";
      impl->exec = std::make_unique<ExecPlugin>(loop, *kc->exec, info, options.exec_timeout);
    }
    description = "kubeconfig " + kc->path + " (context " + kc->context + ")";
  } else {
    server = source.api_url;
    if (!StartsWith(source.ca_url, "https://")) {
      return Error{"remoteCAURL " + Quote(source.ca_url) + " is not an https:// URL"};
    }
    if (source.token_path.empty()) return Error{"remoteSATokenPath is empty"};
    impl->ca_kind = Impl::Ca::kUrl;
    impl->ca_source = source.ca_url;
    impl->token_file.emplace(source.token_path);
    if (!options.ca_url_trust_file.empty()) {
      Result<std::string> pem = ReadPem(options.ca_url_trust_file, "CA bundle for remoteCAURL");
      if (!pem.ok()) return pem.error();
      impl->ca_url_trust_pem = *pem;
    }
    description = "token " + source.token_path + ", CA from " + source.ca_url;
  }

  std::optional<ParsedUrl> url = ParseUrl(server);
  if (!url) return Error{"server " + Quote(server) + " is not a valid http(s) URL"};
  std::string port = std::to_string(url->port);
  if (tls_server_name.empty()) {
    impl->base_url = url->scheme + "://" + url->host + ":" + port + url->path;
  } else {
    // Verify the certificate (and send SNI) for tls-server-name while connecting to the server's address.
    impl->base_url = url->scheme + "://" + tls_server_name + ":" + port + url->path;
    impl->connect_to = tls_server_name + ":" + port + ":" + url->host + ":" + port;
  }
  auto creds = std::unique_ptr<Credentials>(new Credentials(std::move(impl)));
  creds->server_ = server;
  creds->host_ = url->host + ":" + port;
  creds->description_ = description;
  return creds;
}

}  // namespace swg::k8s
