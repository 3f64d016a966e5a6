#pragma once
// kubeconfig files: the current context (or a named one) resolved to a server and credentials. `-data` fields
// are decoded; relative file paths are resolved against the kubeconfig's directory but not read here.

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.h"

namespace swg::k8s {

struct ExecConfig {
  std::string command;
  std::vector<std::string> args;
  std::vector<std::pair<std::string, std::string>> env;
  std::string api_version;  // client.authentication.k8s.io/v1 or /v1beta1
  bool provide_cluster_info = false;
  std::string install_hint;
};

struct Kubeconfig {
  std::string path;  // for messages
  std::string context;
  std::string server;
  std::string ca_file;  // certificate-authority (absolute)
  std::string ca_pem;   // certificate-authority-data (decoded)
  bool insecure_skip_tls_verify = false;
  std::string tls_server_name;
  std::string token;
  std::string token_file;           // absolute; wins over token
  std::string cert_file, cert_pem;  // client-certificate / client-certificate-data
  std::string key_file, key_pem;    // client-key / client-key-data
  std::optional<ExecConfig> exec;
};

// `dir` resolves relative paths; `context` overrides current-context when not empty. Errors start with
// `path`.
Result<Kubeconfig> ParseKubeconfig(std::string_view text, const std::string& path, const std::string& dir,
                                   const std::string& context = "");
Result<Kubeconfig> LoadKubeconfig(const std::string& path, const std::string& context = "");

// The names of the file's contexts, in file order (for tools that visit every cluster).
Result<std::vector<std::string>> ParseKubeconfigContexts(std::string_view text, const std::string& path);
Result<std::vector<std::string>> LoadKubeconfigContexts(const std::string& path);

}  // namespace swg::k8s
