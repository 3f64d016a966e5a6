#pragma once
// Where a cluster's credentials come from, and the client's tunables (defaults follow client-go where it has
// one; every request has a timeout).

#include <chrono>
#include <cstddef>
#include <string>

namespace swg::k8s {

struct ClusterSource {
  enum class Kind { kInCluster, kKubeconfig, kTokenAndCaUrl };
  Kind kind = Kind::kInCluster;
  std::string kubeconfig_path;  // kKubeconfig
  std::string context;          // kKubeconfig: a context other than current-context (optional)
  // kTokenAndCaUrl: the config's remoteAPIURL, remoteCAURL and remoteSATokenPath.
  std::string api_url;
  std::string ca_url;
  std::string token_path;

  static ClusterSource InCluster() { return {}; }
  static ClusterSource Kubeconfig(std::string path) {
    ClusterSource s;
    s.kind = Kind::kKubeconfig;
    s.kubeconfig_path = std::move(path);
    return s;
  }
  static ClusterSource TokenAndCaUrl(std::string api_url, std::string ca_url, std::string token_path) {
    ClusterSource s;
    s.kind = Kind::kTokenAndCaUrl;
    s.api_url = std::move(api_url);
    s.ca_url = std::move(ca_url);
    s.token_path = std::move(token_path);
    return s;
  }
};

struct ClientOptions {
  std::chrono::milliseconds request_timeout{
      60000};  // get, patch, one list page; watches add their timeoutSeconds
  std::chrono::milliseconds connect_timeout{10000};
  // The most one Node may take, in JSON or protobuf (a list item, a watch event, a GET or PATCH answer): etcd
  // keeps objects up to 1.5 MiB (protobuf), and their JSON can be about twice that.
  size_t max_object_bytes = 4u << 20;
  // GET, list and watch of Nodes ask for protobuf (about 80% of JSON's bytes, read about 8 times faster) and
  // accept JSON: the response's Content-Type picks the reader. false: JSON only (tests, and an escape hatch
  // for a proxy that mangles protobuf).
  bool protobuf = true;
  // Token files (in-cluster, tokenFile, remoteSATokenPath) are re-read when they change on disk, at least
  // this often, and after every 401.
  std::chrono::milliseconds token_reload_interval{60000};
  std::chrono::milliseconds ca_fetch_timeout{10000};  // remoteCAURL
  // After a certificate that does not verify (a rotated CA, or one bad backend behind a load balancer), the
  // remoteCAURL is fetched again at most this often; the CA in use is kept until a different one is fetched.
  std::chrono::milliseconds ca_refetch_interval{60000};
  std::chrono::milliseconds exec_timeout{60000};      // kubeconfig exec credential plugins
  int max_retries = 3;                                // 429/5xx with Retry-After
  std::chrono::milliseconds max_retry_after{60000};   // longer Retry-After values are cut to this
  // CA bundle (PEM file) that verifies the remoteCAURL server; empty: the system store.
  std::string ca_url_trust_file;
  // In-cluster service-account files (token, ca.crt); KUBERNETES_SERVICE_HOST/PORT name the server.
  std::string in_cluster_dir = "/var/run/secrets/kubernetes.io/serviceaccount";
};

}  // namespace swg::k8s
