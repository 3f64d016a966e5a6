#include <cstdio>
#include <ctime>

#include "common/flags.h"
#include "common/health.h"
#include "supervisor/commands.h"
#include "supervisor/control.h"
#include "supervisor/status_format.h"

namespace swg {

int RunStatus(const std::vector<std::string>& args, const GetEnv& getenv) {
  FlagSet fs("semaphore-wireguard status");
  fs.Bool("json", "Print the state as JSON");
  fs.Bool("v", "Also list every peer and every rejected node with its reason");
  if (auto exit = ParseClientFlags(fs, args, getenv, "semaphore-wireguard status",
                                   "semaphore-wireguard status [-json] [-v] [-control-socket PATH]")) {
    return *exit;
  }
  bool verbose = fs.GetBool("v");
  std::string request = std::string("{\"command\":\"status\",\"verbose\":") + (verbose ? "true" : "false") + "}";
  auto reply = supervisor::ControlRequest(fs.Get("control-socket"), request, 10000);
  if (!reply.ok()) {
    std::fprintf(stderr, "semaphore-wireguard status: %s\n", reply.error().message.c_str());
    return kExitFailure;
  }
  NodeView view;
  std::string error;
  if (!NodeViewFromJson(*reply, &view, &error)) {
    std::fprintf(stderr, "semaphore-wireguard status: unexpected answer: %s\n", error.c_str());
    return kExitFailure;
  }
  if (fs.GetBool("json")) {
    std::printf("%s\n", NodeViewToJson(view, true).c_str());
  } else {
    std::fputs(supervisor::FormatStatus(view, verbose, static_cast<int64_t>(time(nullptr))).c_str(), stdout);
  }
  // Exit status tells scripts whether the node is healthy.
  return view.Healthy() ? kExitOk : kExitFailure;
}

}  // namespace swg
