#pragma once
// Leader election on a coordination.k8s.io/v1 Lease, with client-go's LeaderElector semantics, on the
// client's loop:
//  - Acquiring: every retry_period (with client-go's jitter: up to 2.2 times), GET the Lease; 404: create it;
//    held by another identity whose record changed less than its leaseDurationSeconds ago on OUR clock
//    (lease_record.h): wait; else update it with its resourceVersion (a 409 Conflict means someone wrote
//    first: try again later). Taking it over counts one more leaseTransitions.
//  - Leading: renew (renewTime) every retry_period, first with the resourceVersion of our last write, on a
//    409 or other failure with a fresh GET. When no renew that started within the last renew_deadline has
//    succeeded, or a GET shows another holder, step down (on_stopped_leading) and go back to acquiring. The
//    deadline counts from the start of the last successful renew, so a standby (which counts
//    lease_duration > renew_deadline from when it saw that write) cannot take over before we step down.
//  - Stop(release): client-go's ReleaseOnCancel: the holder writes holderIdentity "" and
//    leaseDurationSeconds 1, so a standby takes over at its next try instead of after lease_duration.
// Callbacks run from the loop, except on_stopped_leading, which Stop calls before it returns. The elector
// may be destroyed at any time, from its own callbacks too: its requests and timers are cancelled (a release
// still in flight too).

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "common/result.h"
#include "k8s/lease_record.h"

namespace swg {
class Timer;
}

namespace swg::k8s {

class Client;
class RequestCall;

struct LeaderElectionConfig {
  std::string namespace_name;
  std::string name;      // of the Lease
  std::string identity;  // unique per replica (the pod's name)
  std::chrono::seconds lease_duration{15};
  std::chrono::milliseconds renew_deadline{10000};
  std::chrono::milliseconds retry_period{2000};
};

struct LeaderCallbacks {
  std::function<void()> on_started_leading;
  std::function<void()> on_stopped_leading;  // only after on_started_leading
  // The holder changed, as seen in the Lease (ourselves included; "" when it was released).
  std::function<void(const std::string& identity)> on_new_leader;
};

struct LeaderStatus {
  bool running = false;
  bool leading = false;
  std::string holder;      // as last seen ("" for none)
  std::string renew_time;  // the holder's renewTime as last seen
  int64_t transitions = 0;
  std::optional<std::chrono::steady_clock::time_point> last_renew;  // our last successful write
  std::string last_error;  // why the last request failed or we stepped down ("" after a success)
};

class LeaderElector {
 public:
  // Fails on a config client-go would refuse: empty names, lease_duration <= renew_deadline,
  // renew_deadline <= 1.2 * retry_period, retry_period <= 0.
  static Result<std::unique_ptr<LeaderElector>> Create(Client& client, LeaderElectionConfig config,
                                                       LeaderCallbacks callbacks);
  ~LeaderElector();
  LeaderElector(const LeaderElector&) = delete;
  LeaderElector& operator=(const LeaderElector&) = delete;

  void Start();  // acquiring from the next turn of the loop; a no-op when running
  // Stops trying and renewing (on_stopped_leading when leading). With `release`, when the Lease names us,
  // it is given up first. `done` runs from the loop once that write ended (or at once without one).
  void Stop(bool release, std::function<void()> done = {});

  bool leading() const { return state_ == State::kLeading; }
  LeaderStatus status() const;

 private:
  enum class State { kStopped, kAcquiring, kLeading };
  LeaderElector(Client& client, LeaderElectionConfig config, LeaderCallbacks callbacks);

  void Schedule(std::chrono::milliseconds delay);
  void Try();
  void Get();
  void OnGet(Result<std::string> body);
  void CreateLease();
  void Write(const LeaseSpec& spec, bool optimistic);
  void Succeeded(const std::string& body);
  void Failed(const Error& error);
  void StepDown(const std::string& why);
  void Release(bool refetched, std::function<void()> done);
  bool SawHolder();
  bool Notify(std::function<void()> callback);
  std::chrono::milliseconds Jittered();
  std::string Path() const;

  Client& client_;
  LeaderElectionConfig config_;
  LeaderCallbacks callbacks_;
  std::unique_ptr<Timer> retry_timer_, deadline_timer_, done_timer_;
  std::unique_ptr<RequestCall> call_, release_call_;
  LeaseTracker tracker_;
  std::string object_;  // the Lease as last read or written, for updates
  State state_ = State::kStopped;
  uint64_t run_ = 0;  // counts Start and Stop: a callback that called either ends the step that called it
  std::chrono::steady_clock::time_point try_start_{};
  std::optional<std::chrono::steady_clock::time_point> last_renew_;
  std::optional<std::string> reported_holder_;
  std::string last_error_;
  uint64_t seed_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);  // false once destroyed
};

}  // namespace swg::k8s
