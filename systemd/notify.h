#pragma once
// sd_notify integration: READY=1 once every worker has initialised, STATUS= with a one-line summary, and
// WATCHDOG=1 from the event loop while it runs (a stuck loop stops the pings and systemd restarts us). Everything is a no-op when not run by systemd.

#include <string>

#include "common/loop.h"

namespace swg::systemd {

class Notifier {
 public:
  explicit Notifier(Loop& loop);
  void Ready();                           // sent once
  void Status(const std::string& text);   // sent when it changes
  void Stopping();

 private:
  bool enabled_ = false;
  bool ready_sent_ = false;
  std::string last_status_;
  Timer watchdog_timer_;
};

}  // namespace swg::systemd
