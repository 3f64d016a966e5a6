#include "supervisor/cli.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>

#include "common/config.h"
#include "common/duration.h"
#include "common/flags.h"
#include "common/ip.h"
#include "common/strings.h"
#include "supervisor/commands.h"
#include "worker/worker_main.h"

namespace swg {
namespace {

constexpr const char* kProgram = "semaphore-wireguard";

FlagSet DaemonFlagSet() {
  FlagSet fs(kProgram);
  fs.String("clusters-config", "SWG_CLUSTERS_CONFIG", "", "Path to the clusters' json config file");
  fs.String("listen-address", "SWG_LISTEN_ADDRESS", ":7773", "Listen address to serve health and metrics");
  fs.String("log-level", "SWG_LOG_LEVEL", "info", "Log level: trace, debug, info, warn or error");
  fs.String("log-format", "SWG_LOG_FORMAT", "auto",
            "Log format: text, json, journal, or auto (the journal when run by systemd, else text)");
  fs.String("node-name", "SWG_NODE_NAME", "", "(Required) The node on which semaphore-wireguard is running");
  fs.String("wg-key-path", "SWG_WG_KEY_PATH", "/var/lib/semaphore-wireguard",
            "Path to store and look for wg private key");
  fs.String("wg-backend", "SWG_WG_BACKEND", "auto",
            "WireGuard backend: kernel, userspace (wireguard-go), or auto (kernel, else userspace)");
  fs.String("control-socket", "SWG_CONTROL_SOCKET", "/run/semaphore-wireguard/control.sock",
            "Unix socket for `semaphore-wireguard status`");
  fs.String("wireguard-go-keeper", "SWG_WIREGUARD_GO_KEEPER", "false",
            "true: wireguard-go is run by `semaphore-wireguard wireguard-go-keeper` (a second container of the "
            "pod), so that it outlives this one; never start it here, adopt the keeper's interfaces");
  fs.Bool("version", "Print the version and exit");
  fs.String("worker-binary", "", "", "(testing) program to run as the worker");
  fs.Hidden("worker-binary");
  fs.String("worker-heartbeat-timeout", "", "10s", "(testing) a worker silent for this long is killed");
  fs.Hidden("worker-heartbeat-timeout");
  return fs;
}

// host:port, [v6]:port or :port; the host may be a name, resolved when the server starts.
bool ValidListenAddress(const std::string& a) {
  size_t colon = a.rfind(':');
  if (colon == std::string::npos) return false;
  std::string host = a.substr(0, colon);
  if (!host.empty() && host.front() == '[') {
    if (host.back() != ']' || !IpAddr::Parse(host.substr(1, host.size() - 2))) return false;
  } else if (host.find(':') != std::string::npos) {
    return false;
  }
  return ParseUint(a.substr(colon + 1), 65535).has_value();
}

// Kubernetes node names are DNS subdomains.
bool ValidNodeName(const std::string& n) {
  if (n.empty() || n.size() > 253) return false;
  for (auto part : Split(n, '.')) {
    if (part.empty() || part.size() > 63) return false;
    for (char c : part) {
      if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
    }
    if (part.front() == '-' || part.back() == '-') return false;
  }
  return true;
}

std::string Named(const FlagSet& fs, const std::string& name, const std::string& env) {
  return fs.SourceOf(name) == FlagSet::Source::kEnv ? env : "-" + name;
}

}  // namespace

std::string DaemonUsage(const std::string& program) {
  return "Usage of " + program + ":\n" + DaemonFlagSet().Usage() +
         "\nCommands:\n"
         "  " + program + " [flags]                          run the agent\n"
         "  " + program + " check-config -clusters-config FILE   validate a config file and print it resolved\n"
         "  " + program + " status [-json] [-v] [-control-socket PATH]   show the running agent's state\n"
         "  " + program + " wireguard-go-keeper -clusters-config FILE   keep one wireguard-go per remote running\n"
         "      (the second container of the pod, so that the tunnels outlive a restart of the agent's container)\n";
}

Result<Options> ParseDaemonFlags(const std::vector<std::string>& args, const GetEnv& getenv,
                                 std::vector<std::string>* positional) {
  FlagSet fs = DaemonFlagSet();
  auto rest = fs.Parse(args, getenv);
  if (!rest.ok()) return std::move(rest).error();
  *positional = std::move(*rest);
  Options o;
  o.clusters_config = fs.Get("clusters-config");
  o.listen_address = fs.Get("listen-address");
  o.node_name = fs.Get("node-name");
  o.wg_key_path = fs.Get("wg-key-path");
  o.wg_backend = fs.Get("wg-backend");
  o.control_socket = fs.Get("control-socket");
  o.worker_binary = fs.Get("worker-binary");
  if (fs.GetBool("version")) return Error{"version", -1};
  auto hb = ParseDuration(fs.Get("worker-heartbeat-timeout"));
  if (!hb || *hb < std::chrono::seconds(1)) {
    return Error{"invalid value " + Quote(fs.Get("worker-heartbeat-timeout")) +
                     " for -worker-heartbeat-timeout: a duration of at least 1s",
                 kExitUsage};
  }
  o.worker_heartbeat_timeout = std::chrono::duration_cast<std::chrono::milliseconds>(*hb);
  auto level = log::ParseLevel(fs.Get("log-level"));
  if (!level) {
    return Error{"invalid value " + Quote(fs.Get("log-level")) + " for " + Named(fs, "log-level", "SWG_LOG_LEVEL") +
                     ": use trace, debug, info, warn or error",
                 kExitUsage};
  }
  o.log_level = *level;
  auto format = log::ParseFormat(fs.Get("log-format"));
  if (!format) {
    return Error{"invalid value " + Quote(fs.Get("log-format")) + " for " +
                     Named(fs, "log-format", "SWG_LOG_FORMAT") + ": use auto, text, json or journal",
                 kExitUsage};
  }
  o.log_format = *format;
  if (o.wg_backend != "auto" && o.wg_backend != "kernel" && o.wg_backend != "userspace") {
    return Error{"invalid value " + Quote(o.wg_backend) + " for " + Named(fs, "wg-backend", "SWG_WG_BACKEND") +
                     ": use auto, kernel or userspace",
                 kExitUsage};
  }
  const std::string& keeper = fs.Get("wireguard-go-keeper");
  if (keeper != "true" && keeper != "false") {
    return Error{"invalid value " + Quote(keeper) + " for " +
                     Named(fs, "wireguard-go-keeper", "SWG_WIREGUARD_GO_KEEPER") + ": use true or false",
                 kExitUsage};
  }
  o.wireguard_go_keeper = keeper == "true";
  if (!ValidListenAddress(o.listen_address)) {
    return Error{"invalid value " + Quote(o.listen_address) + " for " +
                     Named(fs, "listen-address", "SWG_LISTEN_ADDRESS") +
                     ": expected host:port, [ipv6]:port or :port",
                 kExitUsage};
  }
  if (o.wg_key_path.empty()) return Error{"-wg-key-path must not be empty", kExitUsage};
  if (o.control_socket.empty()) return Error{"-control-socket must not be empty", kExitUsage};
  if (!o.node_name.empty() && !ValidNodeName(o.node_name)) {
    return Error{"invalid value " + Quote(o.node_name) + " for " + Named(fs, "node-name", "SWG_NODE_NAME") +
                     ": a Kubernetes node name is a lower-case DNS subdomain",
                 kExitUsage};
  }
  return o;
}

int Main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  GetEnv env = [](const char* name) { return static_cast<const char*>(std::getenv(name)); };
  if (!args.empty() && args[0] == "check-config") {
    return RunCheckConfig({args.begin() + 1, args.end()}, env);
  }
  if (!args.empty() && args[0] == "status") {
    return RunStatus({args.begin() + 1, args.end()}, env);
  }
  if (!args.empty() && args[0] == "wireguard-go-keeper") {
    return RunWireguardGoKeeper({args.begin() + 1, args.end()}, env);
  }
  if (!args.empty() && args[0] == "worker") {
    return worker::RunWorkerProcess({args.begin() + 1, args.end()}, env);
  }
  std::vector<std::string> positional;
  auto opts = ParseDaemonFlags(args, env, &positional);
  if (!opts.ok()) {
    if (opts.error().code == -1) {
      std::printf("semaphore-wireguard %s\n", SWG_VERSION);
      return kExitOk;
    }
    if (opts.error().code == 0) {
      std::fputs(DaemonUsage(kProgram).c_str(), stdout);
      return kExitOk;
    }
    std::fprintf(stderr, "%s: %s (see -h)\n", kProgram, opts.error().message.c_str());
    return kExitUsage;
  }
  if (!positional.empty()) {
    std::fprintf(stderr, "%s: unknown command %s (see -h)\n", kProgram, Quote(positional[0]).c_str());
    return kExitUsage;
  }
  if (opts->node_name.empty()) {
    std::fprintf(stderr, "%s: -node-name is required (or set SWG_NODE_NAME) (see -h)\n", kProgram);
    return kExitUsage;
  }
  if (opts->clusters_config.empty()) {
    std::fprintf(stderr, "%s: -clusters-config is required (or set SWG_CLUSTERS_CONFIG) (see -h)\n", kProgram);
    return kExitUsage;
  }
  return RunDaemon(*opts);
}

}  // namespace swg
