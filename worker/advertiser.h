#pragma once
// Advertises this node to a remote cluster: keeps the annotations
//   <remote>.wireguard.semaphore.uw.io/pubKey   = this interface's public key
//   <remote>.wireguard.semaphore.uw.io/endpoint = <address>:<listen port> ([IPv6]:port)
// on this node's own Node object in the LOCAL cluster, and restores them if someone removes or changes them
// (it watches its own node, and follows a changed address).
// The address is the operator's override, when the Node carries one that is valid:
//   <remote>.wireguard.semaphore.uw.io/advertise-endpoint, else wireguard.semaphore.uw.io/advertise-endpoint
//   = IP, IP:port or [IPv6]:port (without a port, the listen port)
// else the first address of the node of the first type in the address types (default InternalIP). A bad
// override is never advertised: it is ignored with a warning (logged once, shown by warning()).

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/backoff.h"
#include "common/ip.h"
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
    std::vector<std::string> address_types = {"InternalIP"};  // ordered: the first type the node has wins
  };
  // on_state(true, "") once the annotations are in place (again); on_state(false, error) when they cannot be.
  Advertiser(Loop& loop, k8s::Client& local, Options options,
             std::function<void(bool ok, const std::string& error)> on_state);
  ~Advertiser();

  void Start();
  // After a key rotation: the annotation is patched to the new key (retried with backoff, as always).
  void SetPublicKey(const std::string& public_key);
  const k8s::NodeInformer& informer() const { return *informer_; }
  // The endpoint advertised now (once the annotations are in place), and where it came from.
  const std::optional<Endpoint>& endpoint() const { return endpoint_; }
  const std::string& endpoint_source() const { return source_; }
  // The node's InternalIP addresses, from the last look at the Node.
  const std::vector<IpAddr>& internal_ips() const { return internal_ips_; }
  // Why an override annotation is ignored; "" when none is.
  const std::string& warning() const { return warning_; }

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
  bool key_changed_ = false;  // the next patch is a rotation, not a repair of changed annotations
  std::string error_;
  std::optional<Endpoint> endpoint_;
  std::string source_;
  std::vector<IpAddr> internal_ips_;
  std::string warning_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

// The annotations an operator sets on the local Node to choose the advertised endpoint.
inline constexpr std::string_view kAdvertiseEndpointAnnotation = "wireguard.semaphore.uw.io/advertise-endpoint";
std::string AdvertiseEndpointAnnotation(std::string_view remote);  // "<remote>.wireguard.semaphore.uw.io/..."

// The endpoint this node advertises to `remote`, and why.
struct EndpointChoice {
  std::optional<Endpoint> endpoint;  // nullopt: nothing to advertise (`error` says why)
  std::string source;                // "InternalIP", "ExternalIP" or the annotation's key
  std::string warning;               // an override that was ignored, and why
  std::string error;
};
EndpointChoice ChooseEndpoint(const k8s::NodeInfo& node, std::string_view remote,
                              const std::vector<std::string>& address_types, uint16_t port);


}  // namespace swg::worker
