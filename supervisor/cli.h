#pragma once
// The command line: the daemon's flags (the original's, plus new ones), and the subcommands
// `check-config`, `status` and the hidden `worker` mode.

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "common/exit_codes.h"
#include "common/log.h"
#include "common/result.h"

namespace swg {

struct Options {
  std::string clusters_config;
  std::string listen_address = ":7773";
  std::string node_name;
  std::string wg_key_path = "/var/lib/semaphore-wireguard";
  std::string control_socket = "/run/semaphore-wireguard/control.sock";
  std::string wg_backend = "auto";
  bool wireguard_go_keeper = false;  // the pod's keeper container runs wireguard-go (see wireguard-go-keeper)
  std::vector<std::string> advertise_address_types = {"InternalIP"};  // for remotes without advertiseAddressType
  log::Level log_level = log::Level::kInfo;
  log::Format log_format = log::Format::kAuto;
  // Hidden, for tests: what to exec as a worker, and how long a silent worker may live.
  std::string worker_binary;
  std::chrono::milliseconds worker_heartbeat_timeout{10000};
  // `semaphore-wireguard mirror` (supervisor/mirror_cmd.cc): one mirror worker per remote, no node.
  bool mirror = false;
  std::string identity;
  std::chrono::seconds lease_duration{15};
  std::chrono::milliseconds renew_deadline{10000};
  std::chrono::milliseconds retry_period{2000};
  std::chrono::milliseconds marker_interval{30000};
};

class FlagSet;
// -log-level and -log-format (SWG_LOG_LEVEL, SWG_LOG_FORMAT), the agent's and the mirror's; ParseLogFlags reads
// them into `o`, or an Error (kExitUsage) names the bad value and the flag or variable it came from.
void AddLogFlags(FlagSet& fs);
Status ParseLogFlags(const FlagSet& fs, Options& o);

// host:port, [v6]:port or :port; the host may be a name, resolved when the server starts.
bool ValidListenAddress(const std::string& address);

// Parses the daemon's flags. On error the message is one line naming the problem; code 0 means -h was asked
// for (the caller prints usage), 2 a usage error. `positional` receives arguments after the flags.
Result<Options> ParseDaemonFlags(const std::vector<std::string>& args, const GetEnv& getenv,
                                 std::vector<std::string>* positional);
std::string DaemonUsage(const std::string& program);

// Entry point for the executable.
int Main(int argc, char** argv);

}  // namespace swg
