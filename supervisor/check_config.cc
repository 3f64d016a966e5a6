#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "common/config.h"
#include "common/flags.h"
#include "common/strings.h"
#include "supervisor/commands.h"

namespace swg {

int RunCheckConfig(const std::vector<std::string>& args, const GetEnv& getenv) {
  FlagSet fs("semaphore-wireguard check-config");
  fs.String("clusters-config", "SWG_CLUSTERS_CONFIG", "", "Path to the clusters' json config file");
  fs.Bool("mirror", "Check it as `semaphore-wireguard mirror`'s configuration (every remote read directly)");
  auto rest = fs.Parse(args, getenv);
  if (!rest.ok()) {
    if (rest.error().code == 0) {
      std::printf("Usage: semaphore-wireguard check-config [-mirror] -clusters-config FILE\n%s",
                  fs.Usage().c_str());
      return kExitOk;
    }
    std::fprintf(stderr, "semaphore-wireguard check-config: %s\n", rest.error().message.c_str());
    return kExitUsage;
  }
  std::string path = fs.Get("clusters-config");
  if (path.empty() && rest->size() == 1)
    path = (*rest)[0];
  else if (!rest->empty()) {
    std::fprintf(stderr, "semaphore-wireguard check-config: unexpected argument %s\n",
                 Quote((*rest)[0]).c_str());
    return kExitUsage;
  }
  if (path.empty()) {
    std::fprintf(stderr, "semaphore-wireguard check-config: -clusters-config FILE is required\n");
    return kExitUsage;
  }
  ConfigParse parsed = LoadConfigFile(path, fs.GetBool("mirror") ? ConfigUse::kMirror : ConfigUse::kAgent);
  if (fs.GetBool("mirror") && parsed.errors.empty()) parsed.errors = MirrorConfigErrors(parsed.config);
  for (const auto& w : parsed.warnings) std::fprintf(stderr, "%s: warning: %s\n", path.c_str(), w.c_str());
  if (!parsed.errors.empty()) {
    for (const auto& e : parsed.errors) std::fprintf(stderr, "%s: %s\n", path.c_str(), e.c_str());
    std::fprintf(stderr, "%s: %zu error%s\n", path.c_str(), parsed.errors.size(),
                 parsed.errors.size() == 1 ? "" : "s");
    return kExitUsage;
  }
  // Credentials files: a missing one is only a warning, since a Secret may be mounted after the check.
  auto readable = [&](const std::string& field, const std::string& file) {
    if (file.empty() || access(file.c_str(), R_OK) == 0) return;
    std::fprintf(stderr, "%s: warning: %s: %s cannot be read: %s\n", path.c_str(), field.c_str(),
                 Quote(file).c_str(), std::strerror(errno));
  };
  readable("local.kubeConfigPath", parsed.config.local.kube_config_path);
  for (size_t i = 0; i < parsed.config.remotes.size(); ++i) {
    const RemoteConfig& r = parsed.config.remotes[i];
    std::string at = "remotes[" + std::to_string(i) + "].";
    if (!r.kube_config_path.empty()) {
      readable(at + "kubeConfigPath", r.kube_config_path);
    } else {
      readable(at + "remoteSATokenPath", r.remote_sa_token_path);
    }
  }
  // The values the workers will use: resyncPeriod as the effective period (0 means 5 minutes).
  std::printf("%s\n", ConfigToJson(parsed.config, true, true).c_str());
  return kExitOk;
}

}  // namespace swg
