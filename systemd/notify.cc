#include "systemd/notify.h"

#include <systemd/sd-daemon.h>

#include <cstdlib>

#include "common/log.h"

namespace swg::systemd {

Notifier::Notifier(Loop& loop) : watchdog_timer_(loop) {
  enabled_ = getenv("NOTIFY_SOCKET") != nullptr;
  uint64_t usec = 0;
  bool watchdog = sd_watchdog_enabled(0, &usec) > 0 && usec > 0;
  if (watchdog) {
    auto interval = std::chrono::milliseconds(usec / 2000);
    log::Debug("systemd watchdog enabled", {{"interval", std::to_string(interval.count()) + "ms"}});
    watchdog_timer_.StartRepeating(interval, [] { sd_notify(0, "WATCHDOG=1"); });
    watchdog_timer_.Unref();
  }
}

void Notifier::Ready() {
  if (!enabled_ || ready_sent_) return;
  ready_sent_ = true;
  sd_notify(0, "READY=1");
}

void Notifier::Status(const std::string& text) {
  if (!enabled_ || text == last_status_) return;
  last_status_ = text;
  sd_notify(0, ("STATUS=" + text).c_str());
}

void Notifier::Stopping() {
  if (!enabled_) return;
  sd_notify(0, "STOPPING=1");
}

}  // namespace swg::systemd
