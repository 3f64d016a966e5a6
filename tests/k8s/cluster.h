#pragma once
// Test access to the clusters scripts/control-plane started (the CTest fixture): their env files, and an
// admin that drives the real apiserver and etcd with plain blocking libcurl, independent of the client under
// test.

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace swg::test {

struct ClusterEnv {
  std::string name, dir, server, ca_file, ca_key, admin_token, nobody_token, admin_cert, admin_key,
      kubeconfig, etcd_url, kubectl;
  int api_port = 0;
};

// $SWG_K8S_CP_DIR/<name>/env, read afresh (restarts change pids). Fails the test when missing.
ClusterEnv LoadCluster(const std::string& name);

// Runs scripts/control-plane with `args` (plus --dir); fails the test on a non-zero exit.
void ControlPlane(const std::string& args);

struct NodeSpec {
  std::string name;
  std::map<std::string, std::string> labels;
  std::map<std::string, std::string> annotations;
  std::string pod_cidr;
  std::string internal_ip;
  // Also what a kubelet reports (conditions, capacity, node info, 35 images): about 10 KB of JSON, as a real
  // node's, where the fields above alone make about 300 bytes.
  bool kubelet_status = false;
};

class Admin {
 public:
  explicit Admin(ClusterEnv env) : env_(std::move(env)) {}
  struct Response {
    long code = 0;
    std::string body;
  };
  Response Request(const std::string& method, const std::string& path, const std::string& body = "",
                   const std::string& content_type = "application/json") const;
  // These fail the test when the apiserver does not answer 2xx.
  void CreateNode(const NodeSpec& node) const;
  void CreateNodes(const std::vector<NodeSpec>& nodes, int parallel = 16) const;
  void DeleteNode(const std::string& name) const;
  void PatchAnnotations(const std::string& name, const std::string& annotations_json) const;
  void DeleteNodes(const std::string& label_selector) const;
  // name -> annotations of the nodes matching a label selector, read from the apiserver.
  std::map<std::string, std::map<std::string, std::string>> Nodes(const std::string& label_selector) const;
  // A real bound service-account token (TokenRequest API) for namespace default.
  std::string CreateToken(const std::string& service_account, int expiration_seconds = 3600) const;

  // etcd, behind the apiserver's back.
  long long EtcdRevision() const;
  void EtcdCompact() const;  // at the current revision: every older resourceVersion expires
  void EtcdDeleteNode(const std::string& name) const;

  const ClusterEnv& env() const { return env_; }

 private:
  ClusterEnv env_;
};

std::string NodeJson(const NodeSpec& node);

// Polls `done` (running nothing else) until it is true or `timeout` passes.
bool WaitFor(const std::function<bool()>& done, std::chrono::milliseconds timeout);

}  // namespace swg::test

// Small helpers shared by the k8s tests.
#include "common/loop.h"
#include "common/result.h"
#include "k8s/client.h"

namespace swg::test {

void WriteText(const std::string& path, const std::string& text);
std::string ReadText(const std::string& path);
std::string Base64(const std::string& data);

// A kubeconfig with one cluster, user and context; `cluster_fields` and `user_fields` are YAML flow mappings'
// contents, e.g. "server: https://..., certificate-authority: /x" and "token: abc".
std::string WriteKubeconfig(const std::string& path, const std::string& cluster_fields,
                            const std::string& user_fields);

std::unique_ptr<k8s::Client> MakeClient(Loop& loop, const std::string& cluster, k8s::ClusterSource source,
                                        k8s::ClientOptions options = {});

// Runs the loop until the call completes (fails the test after 30 s).
Result<k8s::NodeInfo> GetNodeSync(Loop& loop, k8s::Client& client, const std::string& name);
Result<k8s::NodeInfo> PatchSync(Loop& loop, k8s::Client& client, const std::string& name,
                                const std::map<std::string, std::optional<std::string>>& changes);
Result<k8s::NodeListPage> ListSync(Loop& loop, k8s::Client& client, const k8s::ListOptions& options);

}  // namespace swg::test
