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

}  // namespace swg::worker
