#include "worker/node_reporter.h"

#include <algorithm>

#include "common/duration.h"
#include "common/log.h"

namespace swg::worker {

using std::chrono::milliseconds;

namespace {

int64_t UnixNow() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

NodeReporter::NodeReporter(Loop& loop, k8s::Client& local, std::string node_name,
                           std::function<ReportInput()> input)
    : client_(local),
      node_name_(std::move(node_name)),
      input_(std::move(input)),
      compute_timer_(loop),
      write_timer_(loop),
      // Retries are writes too: never sooner than kMinInterval, up to 5 minutes apart.
      backoff_(Backoff::Options{kMinInterval, 2.0, milliseconds(300000), 0.3, milliseconds(600000)}) {}

NodeReporter::~NodeReporter() { *alive_ = false; }

void NodeReporter::Poke() {
  if (compute_timer_.active()) return;
  compute_timer_.Start(milliseconds(1000), [this] { Compute(); });
}

void NodeReporter::Compute() {
  pending_ = BuildNodeReport(input_());
  computed_ = true;
  Schedule();
}

void NodeReporter::Schedule() {
  if (!computed_ || in_flight_ || write_timer_.active()) return;  // the write to come takes pending_
  if (have_written_ && pending_.SameAs(written_)) return;
  auto since = std::chrono::steady_clock::now() - last_write_;
  auto delay = std::max(milliseconds(0), kMinInterval - std::chrono::duration_cast<milliseconds>(since));
  write_timer_.Start(delay, [this] { Write(); });
}

void NodeReporter::Write() {
  in_flight_ = true;
  last_write_ = std::chrono::steady_clock::now();
  NodeReport sent = pending_;
  int64_t now = UnixNow();
  if (!have_written_ || sent.ready != last_ready_) transition_ = now;
  std::string condition = ConditionPatch(sent, now, transition_);
  std::weak_ptr<bool> alive = alive_;
  // The annotation first: a reader that sees the new condition finds the report that explains it.
  client_.PatchNodeAnnotations(
      node_name_, {{sent.annotation_key, sent.annotation}},
      [this, alive, sent, condition = std::move(condition)](Result<k8s::NodeInfo> r) mutable {
        if (alive.expired() || !*alive.lock()) return;
        if (!r.ok()) return Written(sent, "cannot write the report annotation: " + r.error().message);
        client_.PatchNodeStatus(
            node_name_, std::move(condition), [this, alive, sent](Result<k8s::NodeInfo> s) {
              if (alive.expired() || !*alive.lock()) return;
              Written(sent, s.ok() ? "" : "cannot write the node condition: " + s.error().message);
            });
      });
}

void NodeReporter::Written(const NodeReport& sent, const std::string& error) {
  in_flight_ = false;
  if (!error.empty()) {
    auto delay = backoff_.Next();
    if (error != error_) {
      log::Warn("cannot report this pairing's health on the node; retrying",
                {{"node", node_name_}, {"error", error}, {"retry_in", FormatDuration(delay)}});
    }
    error_ = error;
    write_timer_.Start(delay, [this] { Write(); });
    return;
  }
  if (!error_.empty()) log::Info("reporting this pairing's health on the node again", {{"node", node_name_}});
  error_.clear();
  backoff_.Reset();
  if (!have_written_ || sent.ready != last_ready_ || sent.reason != written_.reason) {
    log::Info("node condition written", {{"node", node_name_},
                                         {"condition", sent.condition_type},
                                         {"status", sent.ready ? "True" : "False"},
                                         {"reason", sent.reason},
                                         {"message", sent.message}});
  }
  written_ = sent;
  have_written_ = true;
  last_ready_ = sent.ready;
  Schedule();  // a change that came while this write was in flight
}

}  // namespace swg::worker
