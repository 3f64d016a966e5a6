#pragma once
// Subcommands, each returning the process exit code.

#include <string>
#include <vector>

#include "supervisor/cli.h"

namespace swg {

int RunCheckConfig(const std::vector<std::string>& args, const GetEnv& getenv);
int RunDiagnose(const std::vector<std::string>& args, const GetEnv& getenv);
int RunRotateKey(const std::vector<std::string>& args, const GetEnv& getenv);
int RunStatus(const std::vector<std::string>& args, const GetEnv& getenv);
int RunMesh(const std::vector<std::string>& args, const GetEnv& getenv);
int RunDaemon(const Options& options);
int RunWireguardGoKeeper(const std::vector<std::string>& args, const GetEnv& getenv);

}  // namespace swg
