#pragma once
// Writes the per-remote report (worker/node_report.h) on this node's own Node in the local cluster: the
// annotation (metadata merge patch) then the condition (nodes/status strategic merge patch). Only when it
// changed, at most once every 10 s, retried with backoff when a write fails; never blocks the loop.

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "common/backoff.h"
#include "common/loop.h"
#include "k8s/client.h"
#include "worker/node_report.h"

namespace swg::worker {

class NodeReporter {
 public:
  static constexpr std::chrono::milliseconds kMinInterval{10000};

  // `input` is asked for the worker's state when a report is computed.
  NodeReporter(Loop& loop, k8s::Client& local, std::string node_name, std::function<ReportInput()> input);
  ~NodeReporter();
  NodeReporter(const NodeReporter&) = delete;
  NodeReporter& operator=(const NodeReporter&) = delete;

  // Something may have changed: the report is computed again within a second (a burst is one computation).
  void Poke();

 private:
  void Compute();
  void Schedule();
  void Write();
  void Written(const NodeReport& sent, const std::string& error);

  k8s::Client& client_;
  std::string node_name_;
  std::function<ReportInput()> input_;
  Timer compute_timer_;
  Timer write_timer_;
  Backoff backoff_;
  NodeReport pending_;  // the latest computed
  NodeReport written_;  // the last one the server accepted
  bool computed_ = false, have_written_ = false, in_flight_ = false;
  bool last_ready_ = false;
  int64_t transition_ = 0;  // unix seconds of the last True<->False change written
  std::chrono::steady_clock::time_point last_write_{};
  std::string error_;  // the last write's error, logged once per change
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace swg::worker
