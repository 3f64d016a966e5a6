// What the commands that talk to the running agent over its control socket (status, diagnose, rotate-key)
// share: the -control-socket flag and the handling of -h, bad flags and stray arguments.
#include <cstdio>

#include "common/exit_codes.h"
#include "supervisor/commands.h"

namespace swg {

std::optional<int> ParseClientFlags(FlagSet& fs, const std::vector<std::string>& args, const GetEnv& getenv,
                                    const std::string& command, const std::string& usage) {
  fs.String("control-socket", "SWG_CONTROL_SOCKET", "/run/semaphore-wireguard/control.sock",
            "Unix socket of the running agent");
  auto rest = fs.Parse(args, getenv);
  if (!rest.ok()) {
    if (rest.error().code == 0) {
      std::printf("Usage: %s\n%s", usage.c_str(), fs.Usage().c_str());
      return kExitOk;
    }
    std::fprintf(stderr, "%s: %s\n", command.c_str(), rest.error().message.c_str());
    return kExitUsage;
  }
  if (!rest->empty()) {
    std::fprintf(stderr, "%s: unexpected argument \"%s\"\n", command.c_str(), (*rest)[0].c_str());
    return kExitUsage;
  }
  return std::nullopt;
}

}  // namespace swg
