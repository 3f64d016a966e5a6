#pragma once
// The hidden `semaphore-wireguard worker` mode the supervisor starts for each remote cluster:
//   semaphore-wireguard worker -remote NAME -channel-fd FD -node-name N -wg-key-path DIR -wg-backend B
//                              -log-level L -log-format F
// The configuration arrives over the channel (the start message), so every worker of one supervisor runs
// with the configuration the supervisor validated, even if the file changed since.

#include <string>
#include <vector>

#include "common/exit_codes.h"

namespace swg::worker {

int RunWorkerProcess(const std::vector<std::string>& args, const GetEnv& getenv);

// The hidden `semaphore-wireguard mirror-worker` mode `semaphore-wireguard mirror` starts for each remote
// (worker/mirror_worker.h): -remote, -channel-fd, -supervisor-pid as above, and -identity, -namespace,
// -lease-duration, -renew-deadline, -retry-period, -marker-interval, -configured-remotes, -log-level, -log-format.
int RunMirrorWorkerProcess(const std::vector<std::string>& args, const GetEnv& getenv);

}  // namespace swg::worker
