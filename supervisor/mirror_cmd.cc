// `semaphore-wireguard mirror`: the supervisor with one mirror worker per remote (worker/mirror_worker.h)
// instead of one agent worker; README "Scale: the mirror".
#include <unistd.h>

#include <climits>
#include <cstdio>

#include "common/config.h"
#include "common/duration.h"
#include "common/flags.h"
#include "common/strings.h"
#include "supervisor/cli.h"
#include "supervisor/commands.h"

namespace swg {
namespace {

constexpr const char* kMirrorProgram = "semaphore-wireguard mirror";

FlagSet MirrorFlagSet() {
  FlagSet fs(kMirrorProgram);
  fs.String("clusters-config", "SWG_CLUSTERS_CONFIG", "",
            "(Required) Path to the mirror's clusters json config file: the local cluster and the remotes to "
            "mirror, with their credentials");
  fs.String("identity", "SWG_MIRROR_IDENTITY", "",
            "This replica's identity in the Leases and sync markers, unique per replica (default: $POD_NAME, "
            "else the host name)");
  fs.String("listen-address", "SWG_LISTEN_ADDRESS", ":7774",
            "Listen address to serve /livez, /healthz, /readyz and /metrics");
  fs.String("control-socket", "SWG_CONTROL_SOCKET", "/run/semaphore-wireguard/mirror.sock",
            "Unix socket for `semaphore-wireguard status -control-socket PATH`");
  fs.String("lease-duration", "SWG_MIRROR_LEASE_DURATION", "15s",
            "How long a standby waits after the active mirror's last renewal before it takes over");
  fs.String("renew-deadline", "SWG_MIRROR_RENEW_DEADLINE", "10s",
            "How long the active mirror keeps trying to renew before it steps down");
  fs.String("retry-period", "SWG_MIRROR_RETRY_PERIOD", "2s", "How often replicas try or renew the Lease");
  fs.String("marker-interval", "SWG_MIRROR_MARKER_INTERVAL", "30s",
            "How often the active mirror confirms each remote's sync marker; keep it well below the agents' "
            "mirrorStaleAfter (default 2m)");
  AddLogFlags(fs);
  fs.String("worker-binary", "", "", "(testing) program to run as the worker");
  fs.Hidden("worker-binary");
  return fs;
}

std::string HostName() {
  char buf[HOST_NAME_MAX + 1] = {};
  if (gethostname(buf, sizeof buf - 1) != 0) return "";
  return buf;
}

Result<std::chrono::milliseconds> DurationFlag(const FlagSet& fs, const std::string& name,
                                               const std::string& env, std::chrono::milliseconds min) {
  auto d = ParseDuration(fs.Get(name));
  if (!d || *d < min) {
    std::string named = fs.SourceOf(name) == FlagSet::Source::kEnv ? env : "-" + name;
    return Error{"invalid value " + Quote(fs.Get(name)) + " for " + named + ": a duration of at least " +
                     FormatDuration(min) + ", such as \"15s\"",
                 kExitUsage};
  }
  return std::chrono::duration_cast<std::chrono::milliseconds>(*d);
}

}  // namespace

std::vector<std::string> MirrorConfigErrors(const Config& config) {
  std::vector<std::string> errors;
  for (size_t i = 0; i < config.remotes.size(); ++i) {
    const RemoteConfig& r = config.remotes[i];
    if (r.mirrored()) {
      errors.push_back("remotes[" + std::to_string(i) +
                       "].peerSource: \"mirror\" is for agents; the mirror reads " + Quote(r.name) +
                       " itself: give it the remote's credentials (remoteAPIURL, remoteCAURL and " +
                       "remoteSATokenPath, or kubeConfigPath) and no peerSource");
    }
  }
  if (config.remotes.empty()) errors.push_back("remotes: the mirror needs at least one remote to mirror");
  return errors;
}

int RunMirror(const std::vector<std::string>& args, const GetEnv& getenv) {
  FlagSet fs = MirrorFlagSet();
  auto rest = fs.Parse(args, getenv);
  auto usage_error = [](const std::string& message) {
    std::fprintf(stderr, "%s: %s (see -h)\n", kMirrorProgram, message.c_str());
    return kExitUsage;
  };
  if (!rest.ok()) {
    if (rest.error().code == 0) {
      std::printf("Usage: %s -clusters-config FILE [flags]\n%s", kMirrorProgram, fs.Usage().c_str());
      return kExitOk;
    }
    return usage_error(rest.error().message);
  }
  if (!rest->empty()) return usage_error("unexpected argument " + Quote((*rest)[0]));
  Options o;
  o.mirror = true;
  o.clusters_config = fs.Get("clusters-config");
  if (o.clusters_config.empty())
    return usage_error("-clusters-config is required (or set SWG_CLUSTERS_CONFIG)");
  o.listen_address = fs.Get("listen-address");
  if (!ValidListenAddress(o.listen_address)) {
    return usage_error("invalid value " + Quote(o.listen_address) +
                       " for -listen-address: expected host:port, [ipv6]:port or :port");
  }
  o.control_socket = fs.Get("control-socket");
  if (o.control_socket.empty()) return usage_error("-control-socket must not be empty");
  o.worker_binary = fs.Get("worker-binary");
  o.identity = fs.Get("identity");
  if (o.identity.empty()) {
    const char* pod = getenv("POD_NAME");
    o.identity = pod && *pod ? pod : HostName();
  }
  if (o.identity.empty())
    return usage_error("-identity is required when neither POD_NAME nor the host name is set");
  if (o.identity.size() > 253 || o.identity.find_first_of(" \t\r\n\",") != std::string::npos) {
    return usage_error("invalid value " + Quote(o.identity) +
                       " for -identity: at most 253 characters, without spaces, quotes or commas");
  }
  if (auto st = ParseLogFlags(fs, o); !st.ok()) return usage_error(st.error().message);
  using std::chrono::milliseconds;
  auto lease = DurationFlag(fs, "lease-duration", "SWG_MIRROR_LEASE_DURATION", milliseconds(2000));
  auto renew = DurationFlag(fs, "renew-deadline", "SWG_MIRROR_RENEW_DEADLINE", milliseconds(1000));
  auto retry = DurationFlag(fs, "retry-period", "SWG_MIRROR_RETRY_PERIOD", milliseconds(100));
  auto marker = DurationFlag(fs, "marker-interval", "SWG_MIRROR_MARKER_INTERVAL", milliseconds(1000));
  for (auto* d : {&lease, &renew, &retry, &marker}) {
    if (!d->ok()) return usage_error(d->error().message);
  }
  if (lease->count() % 1000 != 0) {
    return usage_error("invalid value " + Quote(fs.Get("lease-duration")) +
                       " for -lease-duration: a whole number of seconds (a Lease holds seconds)");
  }
  // client-go's rules, said here with the flags' names rather than by the elector.
  if (*lease <= *renew) return usage_error("-lease-duration must be longer than -renew-deadline");
  if (renew->count() * 10 <= retry->count() * 12) {
    return usage_error("-renew-deadline must be longer than 1.2 times -retry-period");
  }
  o.lease_duration = std::chrono::duration_cast<std::chrono::seconds>(*lease);
  o.renew_deadline = *renew;
  o.retry_period = *retry;
  o.marker_interval = *marker;
  return RunDaemon(o);
}

}  // namespace swg
