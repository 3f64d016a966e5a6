#pragma once
// Advertises this node to a remote cluster: keeps the annotations
//   <remote>.wireguard.semaphore.uw.io/pubKey   = this interface's public key
//   <remote>.wireguard.semaphore.uw.io/endpoint = <first InternalIP>:<listen port> ([IPv6]:port)
// on this node's own Node object in the LOCAL cluster, and restores them if someone removes or changes them
// (it watches its own node, and follows a changed InternalIP).

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "common/backoff.h"
#include "common/loop.h"
#include "k8s/client.h"
#include "k8s/informer.h"

namespace swg::worker {

class Advertiser {
 public:
  struct Options {
    std::string node_name;
    std::string remote;  // names the annotations
    std::string public_key;
    uint16_t listen_port = 0;
  };
  // on_state(true, "") once the annotations are in place (again); on_state(false, error) when they cannot be.
  Advertiser(Loop& loop, k8s::Client& local, Options options,
             std::function<void(bool ok, const std::string& error)> on_state);
  ~Advertiser();

  void Start();
  const k8s::NodeInformer& informer() const { return *informer_; }

 private:
  void Check();
  void CheckNode(const k8s::NodeInfo& node);
  void SetState(bool ok, const std::string& error);

  k8s::Client& client_;
  Options options_;
  std::function<void(bool, const std::string&)> on_state_;
  std::unique_ptr<k8s::NodeInformer> informer_;
  Timer retry_;
  Backoff backoff_;
  bool patching_ = false;
  bool ok_ = false;
  bool ever_ok_ = false;
  std::string error_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

// The endpoint this node advertises: its first InternalIP with the port; nullopt when it has none.
std::optional<std::string> AdvertisedEndpoint(const k8s::NodeInfo& node, uint16_t port);

}  // namespace swg::worker
