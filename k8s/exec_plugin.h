#pragma once
// kubeconfig exec credential plugins: runs the command without blocking the loop (libuv process and pipe),
// with a timeout, and reads the ExecCredential it prints.

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"
#include "k8s/kubeconfig.h"

namespace swg {
class Loop;
}

namespace swg::k8s {

struct ExecCredential {
  std::string token;
  std::string cert_pem;
  std::string key_pem;
  std::optional<int64_t> expiry;  // unix seconds (status.expirationTimestamp)
};

// Parses a plugin's output; its apiVersion must be `api_version` (what the kubeconfig asked for).
Result<ExecCredential> ParseExecCredential(std::string_view json, std::string_view api_version);

class ExecPlugin {
 public:
  // `cluster_info` is the ExecCredential spec.cluster JSON object (or "" when not provided).
  ExecPlugin(Loop& loop, ExecConfig config, const std::string& cluster_info,
             std::chrono::milliseconds timeout);
  ~ExecPlugin();  // kills a running command; its callback is not called
  ExecPlugin(const ExecPlugin&) = delete;
  ExecPlugin& operator=(const ExecPlugin&) = delete;

  // Runs the command. One at a time: call again only after `done` ran.
  void Run(std::function<void(Result<ExecCredential>)> done);
  bool running() const { return run_ != nullptr; }

  struct RunState;

 private:
  Loop& loop_;
  ExecConfig config_;
  std::string exec_info_;  // KUBERNETES_EXEC_INFO
  std::chrono::milliseconds timeout_;
  RunState* run_ = nullptr;  // frees itself once its handles are closed
};

}  // namespace swg::k8s
