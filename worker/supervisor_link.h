#pragma once
// The worker's side of the supervisor protocol (common/health.h): receives the start message, sends a
// heartbeat at the interval it gives and whenever asked to (the status when it changed since the last one sent), and answers summary, detail and
// metrics requests. If the supervisor goes away the worker is told, so it can exit instead of running unsupervised.

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/channel.h"
#include "common/config.h"
#include "common/health.h"
#include "common/loop.h"
#include "common/metrics.h"

namespace swg::worker {

class SupervisorLink {
 public:
  struct Handlers {
    std::function<void(Config config)> on_start;  // the start message's config (local + this remote)
    std::function<WorkerStatus()> status;         // for heartbeats
    std::function<WorkerStatus()> summary;        // for `status`: fresh from the device (status when unset)
    std::function<void(std::function<void(WorkerStatus)>)> detail;
    std::function<void(std::function<void(std::vector<metrics::Family>)>)> metrics;
    // rotate-key: the answer's fields as a JSON object ({"ok":true,"old_public_key":..,"new_public_key":..}).
    std::function<std::string()> rotate_key;
    std::function<void(const std::string& why)> on_lost;  // channel closed or a bad start message
  };

  SupervisorLink(Loop& loop, int fd, Handlers handlers);
  void SendStatus();  // a heartbeat now (for example on a state change)

 private:
  void OnMessage(std::string_view message);
  Handlers handlers_;
  std::unique_ptr<Channel> channel_;
  Timer heartbeat_;
  bool started_ = false;
  std::optional<WorkerStatus> last_sent_;  // the status the supervisor has
};

}  // namespace swg::worker
