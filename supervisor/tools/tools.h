#pragma once
// semaphore-wireguard-worker (supervisor/worker_program.h): the workers, and the commands that need libcurl or
// netlink. semaphore-wireguard execs it for them with the same arguments.

#include <string>
#include <vector>

#include "common/exit_codes.h"

namespace swg {

int RunDiagnose(const std::vector<std::string>& args, const GetEnv& getenv);
int RunMesh(const std::vector<std::string>& args, const GetEnv& getenv);
int RunWireguardGoKeeper(const std::vector<std::string>& args, const GetEnv& getenv);

namespace tools {
// The commands this program runs, one per call: worker, mirror-worker, mesh, diagnose, wireguard-go-keeper.
int Main(int argc, char** argv);
}  // namespace tools

}  // namespace swg
