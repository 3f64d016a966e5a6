#pragma once
// The clusters configuration file, compatible with the original's JSON: the local cluster and the remote
// clusters to pair with. Parsing reports every problem at once, each naming the field path and the value.

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/ip.h"
#include "common/result.h"

namespace swg {

inline constexpr uint32_t kDefaultMtu = 1420;
inline constexpr uint16_t kDefaultListenPort = 51820;
inline constexpr std::chrono::seconds kDefaultPersistentKeepalive{25};
inline constexpr size_t kMaxClusterName = 5;  // "wireguard." + name must fit IFNAMSIZ-1 = 15
inline constexpr size_t kDefaultMaxPeers = 10000;
inline constexpr size_t kMaxMaxPeers = 100000;
// The worker reconciles everything at least this often; a longer or zero resyncPeriod means this.
inline constexpr std::chrono::milliseconds kMaxResyncPeriod{300000};
inline constexpr std::string_view kInterfacePrefix = "wireguard.";
inline constexpr std::string_view kAnnotationDomain = ".wireguard.semaphore.uw.io";

// Where a remote's nodes are read: its apiserver (the default), or the mirror's records in the local cluster
// (README "Scale: the mirror"), which need no credentials for the remote.
enum class PeerSource { kDirect, kMirror };
inline constexpr std::chrono::seconds kDefaultMirrorStaleAfter{120};
inline constexpr std::chrono::seconds kMinMirrorStaleAfter{5};
inline constexpr std::string_view kDefaultMirrorNamespace = "semaphore-wireguard";

struct LocalConfig {
  std::string name;
  std::string kube_config_path;  // empty: in-cluster credentials
  // The namespace of the mirror's records; empty: the agent's own (the pod's namespace, else
  // kDefaultMirrorNamespace). See MirrorNamespace().
  std::string mirror_namespace;
};

struct RemoteConfig {
  std::string name;
  std::string remote_api_url;
  std::string remote_ca_url;
  std::string remote_sa_token_path;
  std::string kube_config_path;  // when set, it is used and the three fields above are ignored
  // The remote's pod subnets, at most one per address family: `podSubnet` (one CIDR) or `podSubnets` (a list).
  // Each gets a route via the interface; remote nodes' pod CIDRs of a family must lie inside its subnet.
  std::vector<Cidr> pod_subnets;
  bool pod_subnets_listed = false;  // given as podSubnets: written back that way
  uint32_t wg_device_mtu = kDefaultMtu;
  uint16_t wg_listen_port = kDefaultListenPort;
  std::chrono::nanoseconds resync_period{0};  // 0 disables
  size_t max_peers = kDefaultMaxPeers;        // remote nodes beyond it are rejected (too_many_peers)
  // Reach (README "Reach"): wgDeviceMTU "auto" or 0 -> the underlay's MTU minus WireGuard's overhead;
  // advertiseAddressType: empty -> the -advertise-address-type flag; persistentKeepalive: 0 disables.
  bool wg_device_mtu_auto = false;
  std::vector<std::string> advertise_address_types;
  std::chrono::seconds persistent_keepalive{kDefaultPersistentKeepalive};
  // peerSource "direct" or "mirror"; mirrorStaleAfter: a sync marker older than this makes the remote stale.
  PeerSource peer_source = PeerSource::kDirect;
  std::chrono::seconds mirror_stale_after{kDefaultMirrorStaleAfter};
  bool mirrored() const { return peer_source == PeerSource::kMirror; }

  // How often the worker really reconciles in full: resyncPeriod capped at kMaxResyncPeriod (also when 0),
  // and at least a second.
  std::chrono::nanoseconds EffectiveResyncPeriod() const;

  std::string InterfaceName() const { return std::string(kInterfacePrefix) + name; }
  std::string PodSubnetsText() const;  // "10.4.0.0/16" or "10.4.0.0/16,fd00:4::/48"
};

struct Config {
  LocalConfig local;
  std::vector<RemoteConfig> remotes;
};

struct ConfigParse {
  Config config;
  std::vector<std::string> errors;    // empty when the file is valid
  std::vector<std::string> warnings;  // valid but probably not what was meant
};

// Who reads the file: an agent, or `semaphore-wireguard mirror`, which has no interfaces (wgListenPort and the
// other device fields are accepted and not used: two remotes on the default port are not a conflict).
enum class ConfigUse { kAgent, kMirror };

ConfigParse ParseConfig(std::string_view json_text, ConfigUse use = ConfigUse::kAgent);

// Reads and parses a file; a read failure is reported as one error naming the path.
ConfigParse LoadConfigFile(const std::string& path, ConfigUse use = ConfigUse::kAgent);

// The resolved configuration (defaults filled in) as JSON with the original's field names; compact (one line)
// unless pretty. With effective, resyncPeriod is the period the worker really uses (check-config shows it);
// without, the configured value (what the supervisor hands its workers).
std::string ConfigToJson(const Config& config, bool pretty = true, bool effective = false);

// An address type list such as "ExternalIP,InternalIP" (InternalIP and ExternalIP, each once, comma
// separated); an error names the bad part. Used by the flag and by advertiseAddressType.
Result<std::vector<std::string>> ParseAddressTypes(std::string_view text);

// The namespace an agent reads mirror records from: local.mirrorNamespace, else $POD_NAMESPACE, else the
// service account's namespace file of an in-cluster pod, else kDefaultMirrorNamespace.
std::string MirrorNamespace(const LocalConfig& local);

// Annotation keys: "<cluster>.wireguard.semaphore.uw.io/<name>"; "<cluster>...pubKey" and ".../endpoint".
std::string ClusterAnnotation(std::string_view cluster, std::string_view name);
std::string PubKeyAnnotation(std::string_view cluster);
std::string EndpointAnnotation(std::string_view cluster);

}  // namespace swg
