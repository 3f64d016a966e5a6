#pragma once
// sd_notify integration: READY=1 once every worker has initialised, STATUS= with a one-line summary, and
// WATCHDOG=1 from the event loop while it is healthy. Everything is a no-op when not run by systemd.

#include <functional>
#include <string>

#include "common/loop.h"

namespace swg::systemd {

class Notifier {
 public:
  // healthy() is asked before every watchdog ping; a false answer skips the ping so systemd restarts us.
  Notifier(Loop& loop, std::function<bool()> healthy);
  bool enabled() const { return enabled_; }
  bool watchdog_enabled() const { return watchdog_; }
  void Ready();                           // sent once
  void Status(const std::string& text);   // sent when it changes
  void Stopping();

 private:
  bool enabled_ = false;
  bool watchdog_ = false;
  bool ready_sent_ = false;
  std::string last_status_;
  std::function<bool()> healthy_;
  Timer watchdog_timer_;
};

}  // namespace swg::systemd
