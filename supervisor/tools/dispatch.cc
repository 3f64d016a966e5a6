#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "common/exit_codes.h"
#include "supervisor/tools/tools.h"
#include "worker/worker_main.h"

namespace swg::tools {

int Main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  GetEnv env = [](const char* name) { return static_cast<const char*>(std::getenv(name)); };
  std::string command = args.empty() ? "" : args[0];
  std::vector<std::string> rest = args.empty() ? args : std::vector<std::string>(args.begin() + 1, args.end());
  if (command == "worker") return worker::RunWorkerProcess(rest, env);
  if (command == "mirror-worker") return worker::RunMirrorWorkerProcess(rest, env);
  if (command == "mesh") return RunMesh(rest, env);
  if (command == "diagnose") return RunDiagnose(rest, env);
  if (command == "wireguard-go-keeper") return RunWireguardGoKeeper(rest, env);
  std::fprintf(stderr,
               "semaphore-wireguard-worker runs the workers of semaphore-wireguard and its commands mesh, diagnose "
               "and wireguard-go-keeper; it is not run by hand: run semaphore-wireguard (see semaphore-wireguard "
               "-h)\n");
  return kExitUsage;
}

}  // namespace swg::tools
