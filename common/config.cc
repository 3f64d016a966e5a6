#include "common/config.h"

#include <algorithm>
#include <cstdlib>
#include <optional>

#include "common/duration.h"
#include "common/files.h"
#include "common/json.h"
#include "common/strings.h"

namespace swg {
namespace {

constexpr std::string_view kRootFields[] = {"local", "remotes"};
constexpr std::string_view kLocalFields[] = {"name", "kubeConfigPath", "mirrorNamespace"};
constexpr std::string_view kRemoteFields[] = {"name",          "remoteAPIURL", "remoteCAURL",
                                              "remoteSATokenPath", "kubeConfigPath", "podSubnet",
                                              "podSubnets",    "wgDeviceMTU",  "wgListenPort",
                                              "resyncPeriod",  "maxPeers",     "advertiseAddressType",
                                              "persistentKeepalive", "peerSource", "mirrorStaleAfter"};

std::string Shown(const json_t* v) {
  std::string s = JsonDump(v);
  if (s.size() > 80) s = s.substr(0, 77) + "...";
  return s;
}

class Parser {
 public:
  ConfigParse result;

  void Error(const std::string& path, const std::string& message) {
    result.errors.push_back(path + ": " + message);
  }

  // Reports members of `obj` that are not in `known`, suggesting the closest known name.
  template <size_t N>
  void CheckUnknown(const json_t* obj, const std::string& prefix, const std::string_view (&known)[N]) {
    const char* key;
    json_t* value;
    std::vector<std::string_view> names(std::begin(known), std::end(known));
    json_object_foreach(const_cast<json_t*>(obj), key, value) {
      if (std::find(names.begin(), names.end(), std::string_view(key)) != names.end()) continue;
      std::string msg = "unknown field";
      std::string guess = ClosestMatch(key, names);
      if (!guess.empty()) msg += ", did you mean " + Quote(guess) + "?";
      Error(prefix + key, msg);
    }
  }

  // A string member: absent, null or "" leave `out` empty. Wrong types are reported.
  void String(const json_t* obj, const std::string& prefix, const char* key, std::string* out) {
    const json_t* v = json_object_get(obj, key);
    if (!v || json_is_null(v)) return;
    if (!json_is_string(v)) {
      Error(prefix + key, "expected a string, got " + std::string(JsonTypeName(v)) + " " + Shown(v));
      return;
    }
    *out = std::string(json_string_value(v), json_string_length(v));
  }

  // A whole-number member within [lo, hi]; absent or null keep the default.
  template <typename T>
  void Number(const json_t* obj, const std::string& prefix, const char* key, int64_t lo, int64_t hi, T* out) {
    const json_t* v = json_object_get(obj, key);
    if (!v || json_is_null(v)) return;
    if (!json_is_integer(v)) {
      Error(prefix + key, "expected a whole number, got " + std::string(JsonTypeName(v)) + " " + Shown(v));
      return;
    }
    json_int_t n = json_integer_value(v);
    if (n < lo || n > hi) {
      Error(prefix + key,
            std::to_string(n) + " is out of range " + std::to_string(lo) + ".." + std::to_string(hi));
      return;
    }
    *out = static_cast<T>(n);
  }

  void ClusterName(const std::string& path, const std::string& name) {
    if (name.empty()) {
      Error(path, "required");
      return;
    }
    if (!IsDnsLabel(name)) {
      Error(path, Quote(name) + " must be a lower-case DNS label (a-z, 0-9 and '-', starting and ending with a "
                                "letter or digit): it becomes part of annotation keys");
      return;
    }
    if (name.size() > kMaxClusterName) {
      Error(path, Quote(name) + " is longer than 5 characters: the interface name \"" +
                      std::string(kInterfacePrefix) + name +
                      "\" would exceed Linux's 15-character limit (the original's README allows 6, which the "
                      "kernel rejects)");
    }
  }

  void HttpsUrl(const std::string& path, const std::string& url) {
    if (url.empty()) return;
    std::string_view rest = url;
    bool https = StartsWith(rest, "https://");
    if (https) rest.remove_prefix(8);
    std::string_view host = rest.substr(0, rest.find_first_of("/?#"));
    bool bad_chars = std::any_of(url.begin(), url.end(), [](char c) {
      return static_cast<unsigned char>(c) <= ' ' || static_cast<unsigned char>(c) == 0x7f;
    });
    if (!https) {
      Error(path, Quote(url) + " must be an https:// URL");
    } else if (host.empty() || host.front() == ':' || bad_chars) {
      Error(path, Quote(url) + " is not a valid URL");
    }
  }

  void Local(const json_t* local) {
    if (!local || json_is_null(local)) {
      Error("local", "required");
      return;
    }
    if (!json_is_object(local)) {
      Error("local", "expected an object, got " + std::string(JsonTypeName(local)) + " " + Shown(local));
      return;
    }
    CheckUnknown(local, "local.", kLocalFields);
    LocalConfig& c = result.config.local;
    String(local, "local.", "name", &c.name);
    String(local, "local.", "kubeConfigPath", &c.kube_config_path);
    String(local, "local.", "mirrorNamespace", &c.mirror_namespace);
    if (!c.mirror_namespace.empty() && !IsDnsLabel(c.mirror_namespace)) {
      Error("local.mirrorNamespace", Quote(c.mirror_namespace) + " is not a namespace name (a DNS label)");
    }
    const json_t* name = json_object_get(local, "name");
    if (!name || json_is_null(name) || json_is_string(name)) ClusterName("local.name", c.name);
  }

  void Resync(const json_t* obj, const std::string& prefix, RemoteConfig* r) {
    const json_t* v = json_object_get(obj, "resyncPeriod");
    if (!v || json_is_null(v)) return;
    if (json_is_string(v)) {
      std::string s = json_string_value(v);
      auto d = ParseDuration(s);
      if (!d) {
        Error(prefix + "resyncPeriod",
              Quote(s) + " is not a valid duration (use a non-negative duration such as \"30s\" or \"1m30s\")");
        return;
      }
      r->resync_period = *d;
    } else if (json_is_integer(v) && json_integer_value(v) >= 0) {
      r->resync_period = std::chrono::nanoseconds(json_integer_value(v));
    } else {
      Error(prefix + "resyncPeriod", "expected a duration such as \"30s\" or a non-negative number of "
                                     "nanoseconds, got " + std::string(JsonTypeName(v)) + " " + Shown(v));
    }
  }

  // One pod subnet: a CIDR without host bits, narrower than /0, not IPv4-mapped.
  std::optional<Cidr> PodSubnet(const json_t* v, const std::string& path) {
    if (!json_is_string(v)) {
      Error(path, "expected a string, got " + std::string(JsonTypeName(v)) + " " + Shown(v));
      return std::nullopt;
    }
    std::string s = json_string_value(v);
    auto cidr = Cidr::Parse(s);
    if (!cidr) {
      Error(path, Quote(s) + " is not a valid CIDR");
    } else if (cidr->HasHostBits()) {
      Error(path, Quote(s) + " has host bits set; did you mean " + Quote(cidr->Normalized().ToString()) + "?");
    } else if (cidr->prefix == 0) {
      Error(path, Quote(s) + " covers every address; a pod subnet must be a specific range");
    } else if (cidr->OverlapsV4Mapped()) {
      Error(path, Quote(s) + " overlaps the IPv4-mapped IPv6 range ::ffff:0:0/96; give IPv4 pods an IPv4 subnet");
    } else {
      return cidr;
    }
    return std::nullopt;
  }

  // `podSubnet` (one CIDR) or `podSubnets` (a list of at most one CIDR per address family), not both. The valid
  // subnets go to r->pod_subnets, each with its field path in *paths (for the overlap check across remotes).
  void PodSubnets(const json_t* obj, const std::string& prefix, RemoteConfig* r, std::vector<std::string>* paths) {
    const json_t* one = json_object_get(obj, "podSubnet");
    const json_t* list = json_object_get(obj, "podSubnets");
    bool has_one = one && !json_is_null(one) && !(json_is_string(one) && json_string_length(one) == 0);
    bool has_list = list && !json_is_null(list);
    if (has_one && has_list) {
      Error(prefix + "podSubnets", "set either podSubnet or podSubnets, not both");
      return;
    }
    if (!has_list) {
      if (!has_one) {
        Error(prefix + "podSubnet", "required");
      } else if (auto c = PodSubnet(one, prefix + "podSubnet")) {
        r->pod_subnets.push_back(*c);
        paths->push_back(prefix + "podSubnet");
      }
      return;
    }
    r->pod_subnets_listed = true;
    const std::string at = prefix + "podSubnets";
    const std::string example = "such as [\"10.4.0.0/16\", \"fd00:4::/48\"]";
    if (!json_is_array(list)) {
      Error(at, "expected a list of CIDRs " + example + ", got " + std::string(JsonTypeName(list)) + " " +
                    Shown(list));
      return;
    }
    if (json_array_size(list) == 0) {
      Error(at, "is empty; give one subnet per address family, " + example);
      return;
    }
    for (size_t i = 0; i < json_array_size(list); ++i) {
      std::string path = at + "[" + std::to_string(i) + "]";
      auto c = PodSubnet(json_array_get(list, i), path);
      if (!c) continue;
      auto same = std::find_if(r->pod_subnets.begin(), r->pod_subnets.end(),
                               [&](const Cidr& o) { return o.addr.family == c->addr.family; });
      if (same != r->pod_subnets.end()) {
        Error(path, Quote(c->ToString()) + " is a second " + FamilyName(c->addr.family) + " subnet after " +
                        Quote(same->ToString()) + "; give at most one subnet per address family");
        continue;
      }
      r->pod_subnets.push_back(*c);
      paths->push_back(path);
    }
  }

  // wgDeviceMTU ("auto" or 0 too), advertiseAddressType and persistentKeepalive.
  void Reach(const json_t* obj, const std::string& prefix, RemoteConfig* r) {
    const json_t* mtu = json_object_get(obj, "wgDeviceMTU");
    if ((json_is_string(mtu) && std::string_view(json_string_value(mtu)) == "auto") ||
        (json_is_integer(mtu) && json_integer_value(mtu) == 0)) {
      r->wg_device_mtu_auto = true;
    } else if (json_is_string(mtu)) {
      Error(prefix + "wgDeviceMTU", Quote(json_string_value(mtu)) + " is not a number nor \"auto\"");
    } else {
      Number(obj, prefix, "wgDeviceMTU", 576, 65535, &r->wg_device_mtu);
    }
    std::string types;
    String(obj, prefix, "advertiseAddressType", &types);
    if (!types.empty()) {
      auto parsed = ParseAddressTypes(types);
      if (parsed.ok()) r->advertise_address_types = *parsed;
      else Error(prefix + "advertiseAddressType", parsed.error().message);
    }
    const json_t* ka = json_object_get(obj, "persistentKeepalive");
    if (!ka || json_is_null(ka)) return;
    auto d = json_is_string(ka) ? ParseDuration(json_string_value(ka)) : std::nullopt;
    if (json_is_integer(ka) && json_integer_value(ka) == 0) d = std::chrono::nanoseconds(0);
    if (!d || *d % std::chrono::seconds(1) != std::chrono::nanoseconds(0) || *d > std::chrono::seconds(65535)) {
      Error(prefix + "persistentKeepalive",
            Shown(ka) + " is not a whole number of seconds from 0 (off) to 65535s, such as \"25s\"");
      return;
    }
    r->persistent_keepalive = std::chrono::duration_cast<std::chrono::seconds>(*d);
  }

  // peerSource and mirrorStaleAfter.
  void Source(const json_t* obj, const std::string& prefix, RemoteConfig* r) {
    std::string source;
    String(obj, prefix, "peerSource", &source);
    if (source == "mirror") {
      r->peer_source = PeerSource::kMirror;
    } else if (!source.empty() && source != "direct") {
      Error(prefix + "peerSource", Quote(source) + " is not a peer source (use \"direct\", the default, or \"mirror\")");
    }
    const json_t* v = json_object_get(obj, "mirrorStaleAfter");
    if (!v || json_is_null(v)) return;
    auto d = json_is_string(v) ? ParseDuration(json_string_value(v)) : std::nullopt;
    if (!d || *d % std::chrono::seconds(1) != std::chrono::nanoseconds(0) || *d < kMinMirrorStaleAfter ||
        *d > std::chrono::hours(24)) {
      Error(prefix + "mirrorStaleAfter", Shown(v) + " is not a whole number of seconds from 5s to 24h, such as \"2m\"");
      return;
    }
    r->mirror_stale_after = std::chrono::duration_cast<std::chrono::seconds>(*d);
    if (!r->mirrored()) {
      result.warnings.push_back(prefix + "mirrorStaleAfter: peerSource is not \"mirror\", so it is not used");
    }
  }

  void Remote(const json_t* obj, size_t index) {
    std::string path = "remotes[" + std::to_string(index) + "]";
    std::string prefix = path + ".";
    if (!json_is_object(obj)) {
      Error(path, "expected an object, got " + std::string(JsonTypeName(obj)) + " " + Shown(obj));
      return;
    }
    CheckUnknown(obj, prefix, kRemoteFields);
    RemoteConfig r;
    String(obj, prefix, "name", &r.name);
    String(obj, prefix, "remoteAPIURL", &r.remote_api_url);
    String(obj, prefix, "remoteCAURL", &r.remote_ca_url);
    String(obj, prefix, "remoteSATokenPath", &r.remote_sa_token_path);
    String(obj, prefix, "kubeConfigPath", &r.kube_config_path);
    Reach(obj, prefix, &r);
    Source(obj, prefix, &r);
    size_t errors_before = result.errors.size();
    Number(obj, prefix, "wgListenPort", 1, 65535, &r.wg_listen_port);
    bool port_ok = result.errors.size() == errors_before;
    Resync(obj, prefix, &r);
    Number(obj, prefix, "maxPeers", 1, static_cast<int64_t>(kMaxMaxPeers), &r.max_peers);

    const json_t* name = json_object_get(obj, "name");
    if (!name || json_is_null(name) || json_is_string(name)) ClusterName(prefix + "name", r.name);

    if (r.mirrored()) {
      std::string given;
      for (const auto& [field, value] : {std::pair<const char*, const std::string&>{"remoteAPIURL", r.remote_api_url},
                                         {"remoteCAURL", r.remote_ca_url},
                                         {"remoteSATokenPath", r.remote_sa_token_path},
                                         {"kubeConfigPath", r.kube_config_path}}) {
        if (!value.empty()) given += (given.empty() ? "" : ", ") + std::string(field);
      }
      if (!given.empty()) {
        result.warnings.push_back(path + ": peerSource is \"mirror\", so " + given +
                                  " not used: the mirror alone reads the remote cluster");
      }
    } else if (r.kube_config_path.empty()) {
      std::vector<std::string> missing;
      if (r.remote_api_url.empty()) missing.push_back("remoteAPIURL");
      if (r.remote_ca_url.empty()) missing.push_back("remoteCAURL");
      if (r.remote_sa_token_path.empty()) missing.push_back("remoteSATokenPath");
      if (!missing.empty()) {
        std::string list;
        for (const auto& m : missing) list += (list.empty() ? "" : ", ") + m;
        Error(path, "no credentials: set kubeConfigPath, or all of remoteAPIURL, remoteCAURL and "
                    "remoteSATokenPath (missing: " + list + ")");
      }
      HttpsUrl(prefix + "remoteAPIURL", r.remote_api_url);
      HttpsUrl(prefix + "remoteCAURL", r.remote_ca_url);
    } else if (!r.remote_api_url.empty() || !r.remote_ca_url.empty() || !r.remote_sa_token_path.empty()) {
      result.warnings.push_back(path + ": kubeConfigPath is set, so remoteAPIURL, remoteCAURL and "
                                       "remoteSATokenPath are ignored");
    }

    std::vector<std::string> subnet_paths;
    PodSubnets(obj, prefix, &r, &subnet_paths);
    result.config.remotes.push_back(r);
    indexes_.push_back(index);
    subnet_paths_.push_back(std::move(subnet_paths));
    port_ok_.push_back(port_ok);
  }

  // Rules across remotes: unique names, names differ from the local one, distinct ports, disjoint subnets.
  void CrossChecks() {
    const auto& rs = result.config.remotes;
    auto at = [&](size_t i) { return "remotes[" + std::to_string(indexes_[i]) + "]"; };
    for (size_t i = 0; i < rs.size(); ++i) {
      if (!rs[i].name.empty() && rs[i].name == result.config.local.name) {
        Error(at(i) + ".name", Quote(rs[i].name) + " is the local cluster's name; a remote must differ");
      }
      for (size_t j = 0; j < i; ++j) {
        if (!rs[i].name.empty() && rs[i].name == rs[j].name) {
          Error(at(i) + ".name", Quote(rs[i].name) + " is already used by " + at(j));
        }
        if (use == ConfigUse::kAgent && port_ok_[i] && port_ok_[j] && rs[i].wg_listen_port == rs[j].wg_listen_port) {
          bool dflt = rs[i].wg_listen_port == kDefaultListenPort;
          Error(at(i) + ".wgListenPort",
                std::to_string(rs[i].wg_listen_port) + (dflt ? " (the default)" : "") + " is already used by " +
                    at(j) + "; each remote's interface needs its own UDP port");
        }
        for (size_t k = 0; k < rs[i].pod_subnets.size(); ++k) {
          for (size_t l = 0; l < rs[j].pod_subnets.size(); ++l) {
            if (!rs[i].pod_subnets[k].Overlaps(rs[j].pod_subnets[l])) continue;
            Error(subnet_paths_[i][k], Quote(rs[i].pod_subnets[k].ToString()) + " overlaps " + subnet_paths_[j][l] +
                                           " " + Quote(rs[j].pod_subnets[l].ToString()));
          }
        }
      }
    }
  }

  void Root(const json_t* root) {
    if (!json_is_object(root)) {
      Error("(top level)", "expected an object, got " + std::string(JsonTypeName(root)));
      return;
    }
    CheckUnknown(root, "", kRootFields);
    Local(json_object_get(root, "local"));
    const json_t* remotes = json_object_get(root, "remotes");
    if (!remotes || json_is_null(remotes) || (json_is_array(remotes) && json_array_size(remotes) == 0)) {
      Error("remotes", "at least one remote cluster is required");
    } else if (!json_is_array(remotes)) {
      Error("remotes", "expected an array, got " + std::string(JsonTypeName(remotes)) + " " + Shown(remotes));
    } else {
      for (size_t i = 0; i < json_array_size(remotes); ++i) Remote(json_array_get(remotes, i), i);
      CrossChecks();
    }
  }

  ConfigUse use = ConfigUse::kAgent;

 private:
  std::vector<size_t> indexes_;
  std::vector<std::vector<std::string>> subnet_paths_;  // per remote, the field path of each pod subnet
  std::vector<bool> port_ok_;
};

}  // namespace

ConfigParse ParseConfig(std::string_view text, ConfigUse use) {
  Parser p;
  p.use = use;
  json_error_t err;
  JsonPtr root(json_loadb(text.data(), text.size(), JSON_REJECT_DUPLICATES, &err));
  if (!root) {
    p.result.errors.push_back("JSON syntax error at line " + std::to_string(err.line) + ", column " +
                              std::to_string(err.column) + ": " + err.text);
    return p.result;
  }
  p.Root(root.get());
  return p.result;
}

ConfigParse LoadConfigFile(const std::string& path, ConfigUse use) {
  if (path.empty()) {
    ConfigParse r;
    r.errors.push_back("no clusters config: set -clusters-config (or SWG_CLUSTERS_CONFIG)");
    return r;
  }
  auto text = ReadFile(path, 4u << 20);
  if (!text.ok()) {
    ConfigParse r;
    r.errors.push_back(text.error().message);
    return r;
  }
  return ParseConfig(*text, use);
}

std::chrono::nanoseconds RemoteConfig::EffectiveResyncPeriod() const {
  std::chrono::nanoseconds period = kMaxResyncPeriod;
  if (resync_period.count() > 0) period = std::min(period, resync_period);
  return std::max<std::chrono::nanoseconds>(period, std::chrono::seconds(1));
}

std::string RemoteConfig::PodSubnetsText() const {
  std::string out;
  for (const Cidr& c : pod_subnets) out += (out.empty() ? "" : ",") + c.ToString();
  return out;
}

std::string ConfigToJson(const Config& c, bool pretty, bool effective) {
  JsonPtr root(json_object());
  json_t* local = json_object();
  json_object_set_new(local, "name", json_string(c.local.name.c_str()));
  if (!c.local.kube_config_path.empty()) {
    json_object_set_new(local, "kubeConfigPath", json_string(c.local.kube_config_path.c_str()));
  }
  if (!c.local.mirror_namespace.empty()) {
    json_object_set_new(local, "mirrorNamespace", json_string(c.local.mirror_namespace.c_str()));
  }
  json_object_set_new(root.get(), "local", local);
  json_t* remotes = json_array();
  for (const auto& r : c.remotes) {
    json_t* o = json_object();
    json_object_set_new(o, "name", json_string(r.name.c_str()));
    auto opt = [&](const char* key, const std::string& v) {
      if (!v.empty()) json_object_set_new(o, key, json_string(v.c_str()));
    };
    if (r.kube_config_path.empty()) {
      opt("remoteAPIURL", r.remote_api_url);
      opt("remoteCAURL", r.remote_ca_url);
      opt("remoteSATokenPath", r.remote_sa_token_path);
    } else {
      opt("kubeConfigPath", r.kube_config_path);
    }
    if (r.pod_subnets_listed) {
      json_t* list = json_array();
      for (const Cidr& s : r.pod_subnets) json_array_append_new(list, json_string(s.ToString().c_str()));
      json_object_set_new(o, "podSubnets", list);
    } else if (!r.pod_subnets.empty()) {
      json_object_set_new(o, "podSubnet", json_string(r.pod_subnets[0].ToString().c_str()));
    }
    json_object_set_new(o, "wgDeviceMTU", r.wg_device_mtu_auto ? json_string("auto") : json_integer(r.wg_device_mtu));
    json_object_set_new(o, "wgListenPort", json_integer(r.wg_listen_port));
    json_object_set_new(
        o, "resyncPeriod",
        json_string(FormatDuration(effective ? r.EffectiveResyncPeriod() : r.resync_period).c_str()));
    json_object_set_new(o, "maxPeers", json_integer(static_cast<json_int_t>(r.max_peers)));
    std::string types;
    for (const auto& t : r.advertise_address_types) types += (types.empty() ? "" : ",") + t;
    if (!types.empty()) json_object_set_new(o, "advertiseAddressType", json_string(types.c_str()));
    if (effective || r.persistent_keepalive != kDefaultPersistentKeepalive) {
      json_object_set_new(o, "persistentKeepalive", json_string(FormatDuration(r.persistent_keepalive).c_str()));
    }
    if (r.mirrored()) {
      json_object_set_new(o, "peerSource", json_string("mirror"));
      json_object_set_new(o, "mirrorStaleAfter", json_string(FormatDuration(r.mirror_stale_after).c_str()));
    } else if (effective) {
      json_object_set_new(o, "peerSource", json_string("direct"));
    }
    json_array_append_new(remotes, o);
  }
  json_object_set_new(root.get(), "remotes", remotes);
  return JsonDump(root.get(), pretty);
}

std::string MirrorNamespace(const LocalConfig& local) {
  if (!local.mirror_namespace.empty()) return local.mirror_namespace;
  if (const char* env = std::getenv("POD_NAMESPACE"); env && IsDnsLabel(env)) return env;
  if (Result<std::string> text = ReadFile("/var/run/secrets/kubernetes.io/serviceaccount/namespace", 256); text.ok()) {
    std::string ns(Trim(*text));
    if (IsDnsLabel(ns)) return ns;
  }
  return std::string(kDefaultMirrorNamespace);
}

Result<std::vector<std::string>> ParseAddressTypes(std::string_view text) {
  std::vector<std::string> out;
  for (std::string_view rest = text;;) {
    size_t comma = rest.find(',');
    std::string part(rest.substr(0, comma));
    if (part != "InternalIP" && part != "ExternalIP") {
      return Error{Quote(std::string(text)) + ": " + Quote(part) +
                   " is not an address type; use InternalIP, ExternalIP or an ordered list such as "
                   "\"ExternalIP,InternalIP\""};
    }
    if (std::find(out.begin(), out.end(), part) != out.end()) {
      return Error{Quote(std::string(text)) + ": " + part + " is listed twice"};
    }
    out.push_back(part);
    if (comma == std::string_view::npos) return out;
    rest.remove_prefix(comma + 1);
  }
}

std::string ClusterAnnotation(std::string_view cluster, std::string_view name) {
  return std::string(cluster) + std::string(kAnnotationDomain) + "/" + std::string(name);
}

std::string PubKeyAnnotation(std::string_view cluster) { return ClusterAnnotation(cluster, "pubKey"); }

std::string EndpointAnnotation(std::string_view cluster) { return ClusterAnnotation(cluster, "endpoint"); }

}  // namespace swg
