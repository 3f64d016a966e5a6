// `semaphore-wireguard rotate-key -remote NAME`: asks the running agent, through the control socket, to give
// the remote's interface a new private key (see Worker::RotateKey).
#include <cstdio>

#include "common/flags.h"
#include "common/health.h"
#include "common/json.h"
#include "supervisor/commands.h"
#include "supervisor/control.h"

namespace swg {

int RunRotateKey(const std::vector<std::string>& args, const GetEnv& getenv) {
  FlagSet fs("semaphore-wireguard rotate-key");
  fs.String("remote", "", "", "(Required) The remote cluster whose key to rotate");
  if (auto exit = ParseClientFlags(fs, args, getenv, "semaphore-wireguard rotate-key",
                                   "semaphore-wireguard rotate-key -remote NAME [-control-socket PATH]")) {
    return *exit;
  }
  const std::string& remote = fs.Get("remote");
  if (remote.empty()) {
    std::fprintf(stderr, "semaphore-wireguard rotate-key: -remote is required\n");
    return kExitUsage;
  }
  JsonPtr req(json_object());
  json_object_set_new(req.get(), "command", json_string("rotate-key"));
  json_object_set_new(req.get(), "remote", json_string(remote.c_str()));
  // The agent waits up to 10 s for its worker: wait a little longer for the agent.
  auto reply = supervisor::ControlRequest(fs.Get("control-socket"), JsonDump(req.get()), 15000);
  if (!reply.ok()) {
    std::fprintf(stderr, "semaphore-wireguard rotate-key: %s\n", reply.error().message.c_str());
    return kExitFailure;
  }
  json_error_t err;
  JsonPtr answer(json_loadb(reply->data(), reply->size(), 0, &err));
  if (!answer || !json_is_boolean(json_object_get(answer.get(), "ok"))) {
    std::fprintf(stderr,
                 "semaphore-wireguard rotate-key: unexpected answer from the agent (is it older than this "
                 "command?)\n");
    return kExitFailure;
  }
  if (!json_is_true(json_object_get(answer.get(), "ok"))) {
    auto error = JsonString(answer.get(), "error");
    std::fprintf(stderr, "semaphore-wireguard rotate-key: %s\n",
                 error ? std::string(*error).c_str() : "failed");
    return kExitFailure;
  }
  auto old_key = JsonString(answer.get(), "old_public_key");
  auto new_key = JsonString(answer.get(), "new_public_key");
  std::printf("rotated the key of remote %s\nold public key: %s\nnew public key: %s\n", remote.c_str(),
              old_key ? std::string(*old_key).c_str() : "?", new_key ? std::string(*new_key).c_str() : "?");
  std::printf(
      "the new public key is being advertised on this node's annotation; remote nodes follow within "
      "seconds\n");
  return kExitOk;
}

}  // namespace swg
