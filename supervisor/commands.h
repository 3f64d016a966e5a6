#pragma once
// Subcommands, each returning the process exit code.

#include <optional>
#include <string>
#include <vector>

#include "common/config.h"
#include "common/flags.h"
#include "supervisor/cli.h"

namespace swg {

// For the commands that talk to the running agent (status, diagnose, rotate-key): adds -control-socket to `fs`
// and parses `args`. Returns the exit code when the command is done (-h prints "Usage: <usage>" and the flags:
// 0; a bad flag or an unexpected argument, said on stderr after "<command>: ": 2), nullopt to go on.
std::optional<int> ParseClientFlags(FlagSet& fs, const std::vector<std::string>& args, const GetEnv& getenv,
                                    const std::string& command, const std::string& usage);

int RunCheckConfig(const std::vector<std::string>& args, const GetEnv& getenv);
int RunRotateKey(const std::vector<std::string>& args, const GetEnv& getenv);
int RunStatus(const std::vector<std::string>& args, const GetEnv& getenv);
int RunDaemon(const Options& options);
int RunMirror(const std::vector<std::string>& args, const GetEnv& getenv);
// What the mirror refuses in a configuration the agents accept (a remote with "peerSource": "mirror").
std::vector<std::string> MirrorConfigErrors(const Config& config);

}  // namespace swg
