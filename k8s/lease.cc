#include "k8s/lease.h"

#include <random>

#include "common/log.h"
#include "common/loop.h"
#include "k8s/client.h"

namespace swg::k8s {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr double kJitterFactor = 1.2;  // client-go's JitterFactor for acquire retries
constexpr const char* kJson = "application/json";

std::string Now() { return FormatMicroTime(std::chrono::system_clock::now()); }

std::string Ms(milliseconds d) { return std::to_string(d.count()) + " ms"; }

}  // namespace

Result<std::unique_ptr<LeaderElector>> LeaderElector::Create(Client& client, LeaderElectionConfig config,
                                                             LeaderCallbacks callbacks) {
  const char* why = nullptr;
  if (config.namespace_name.empty() || config.name.empty()) {
    why = "the Lease needs a namespace and a name";
  } else if (config.identity.empty()) {
    why = "the identity is empty";
  } else if (config.retry_period.count() <= 0) {
    why = "retry_period must be positive";
  } else if (static_cast<double>(config.renew_deadline.count()) <=
             kJitterFactor * static_cast<double>(config.retry_period.count())) {
    why = "renew_deadline must be more than 1.2 times retry_period";
  } else if (config.lease_duration <= config.renew_deadline) {
    why = "lease_duration must be more than renew_deadline";
  }
  if (why) return Error{"leader election on " + config.namespace_name + "/" + config.name + ": " + why};
  return std::unique_ptr<LeaderElector>(new LeaderElector(client, std::move(config), std::move(callbacks)));
}

LeaderElector::LeaderElector(Client& client, LeaderElectionConfig config, LeaderCallbacks callbacks)
    : client_(client),
      config_(std::move(config)),
      callbacks_(std::move(callbacks)),
      retry_timer_(std::make_unique<Timer>(client.loop())),
      deadline_timer_(std::make_unique<Timer>(client.loop())),
      done_timer_(std::make_unique<Timer>(client.loop())),
      seed_(std::random_device{}()) {}

LeaderElector::~LeaderElector() { *alive_ = false; }

void LeaderElector::Start() {
  if (state_ != State::kStopped) return;
  ++run_;
  state_ = State::kAcquiring;
  Schedule(milliseconds(0));
}

void LeaderElector::Stop(bool release, std::function<void()> done) {
  if (state_ == State::kStopped) {
    if (done) done_timer_->Start(milliseconds(0), std::move(done));
    return;
  }
  ++run_;
  const bool was_leading = state_ == State::kLeading;
  state_ = State::kStopped;
  retry_timer_->Stop();
  deadline_timer_->Stop();
  call_.reset();
  if (release && !object_.empty() && tracker_.spec().holder_identity == config_.identity) {
    Release(false, std::move(done));
  } else if (done) {
    done_timer_->Start(milliseconds(0), std::move(done));
  }
  if (was_leading) {
    log::Info("leader election: stopped leading", {{"lease", config_.namespace_name + "/" + config_.name},
                                                   {"identity", config_.identity},
                                                   {"released", release ? "true" : "false"}});
    Notify(callbacks_.on_stopped_leading);
  }
}

LeaderStatus LeaderElector::status() const {
  LeaderStatus s;
  s.running = state_ != State::kStopped;
  s.leading = state_ == State::kLeading;
  s.holder = tracker_.spec().holder_identity;
  s.renew_time = tracker_.spec().renew_time;
  s.transitions = tracker_.spec().lease_transitions;
  s.last_renew = last_renew_;
  s.last_error = last_error_;
  return s;
}

std::string LeaderElector::Path() const { return LeasePath(config_.namespace_name, config_.name); }

milliseconds LeaderElector::Jittered() {
  seed_ = seed_ * 6364136223846793005ull + 1442695040888963407ull;
  const double u = static_cast<double>(seed_ >> 11) / static_cast<double>(1ull << 53);  // [0, 1)
  const auto base = static_cast<double>(config_.retry_period.count());
  return milliseconds(static_cast<int64_t>(base + base * kJitterFactor * u));
}

void LeaderElector::Schedule(milliseconds delay) {
  retry_timer_->Start(delay, [this] { Try(); });
}

// By value on purpose: the callback may destroy the elector, and with it the member it was copied from.
bool LeaderElector::Notify(std::function<void()> callback) {  // NOLINT(performance-unnecessary-value-param)
  if (!callback) return true;
  std::shared_ptr<bool> alive = alive_;
  const uint64_t run = run_;
  callback();
  return *alive && run_ == run;
}

bool LeaderElector::SawHolder() {
  const std::string holder = tracker_.spec().holder_identity;
  if (reported_holder_ == holder) return true;
  reported_holder_ = holder;
  log::Info("leader election: new holder", {{"lease", config_.namespace_name + "/" + config_.name},
                                            {"identity", config_.identity},
                                            {"holder", holder.empty() ? "(released)" : holder}});
  if (!callbacks_.on_new_leader) return true;
  return Notify([cb = callbacks_.on_new_leader, holder] { cb(holder); });
}

void LeaderElector::Try() {
  try_start_ = Clock::now();
  if (state_ == State::kLeading && !object_.empty() && tracker_.spec().holder_identity == config_.identity) {
    // client-go's fast path: update what we wrote last; a conflict falls back to a GET.
    std::optional<LeaseSpec> spec =
        tracker_.Claim(config_.identity, config_.lease_duration.count(), Now(), try_start_);
    if (spec) return Write(*spec, /*optimistic=*/true);
  }
  Get();
}

void LeaderElector::Get() {
  call_ = client_.RequestJson(
      "GET", Path(), "", "", [this](Result<std::string> r) { OnGet(std::move(r)); }, config_.renew_deadline);
}

void LeaderElector::OnGet(Result<std::string> body) {
  if (!body.ok()) {
    if (body.error().code != 404) return Failed(body.error());
    tracker_.Forget();
    object_.clear();
    return CreateLease();
  }
  Result<LeaseObject> lease = ParseLease(*body);
  if (!lease.ok()) return Failed(Error{"GET " + Path() + ": " + lease.error().message});
  const Clock::time_point now = Clock::now();
  tracker_.Observe(lease->spec, now);
  object_ = std::move(lease->json);
  if (!SawHolder()) return;
  std::optional<LeaseSpec> claim =
      tracker_.Claim(config_.identity, config_.lease_duration.count(), Now(), now);
  if (claim) return Write(*claim, /*optimistic=*/false);
  const std::string& holder = tracker_.spec().holder_identity;
  if (state_ == State::kLeading) return StepDown("the Lease names " + holder);
  log::Debug("leader election: held by another", {{"lease", config_.namespace_name + "/" + config_.name},
                                                  {"identity", config_.identity},
                                                  {"holder", holder}});
  last_error_.clear();
  Schedule(Jittered());
}

void LeaderElector::CreateLease() {
  std::optional<LeaseSpec> spec =
      tracker_.Claim(config_.identity, config_.lease_duration.count(), Now(), Clock::now());
  call_ = client_.RequestJson(
      "POST", LeasesPath(config_.namespace_name), NewLeaseJson(config_.namespace_name, config_.name, *spec),
      kJson,
      [this](Result<std::string> r) {
        if (!r.ok()) return Failed(r.error());  // 409 AlreadyExists: another replica created it first
        Succeeded(*r);
      },
      config_.renew_deadline);
}

void LeaderElector::Write(const LeaseSpec& spec, bool optimistic) {
  Result<std::string> body = UpdatedLeaseJson(object_, spec);
  if (!body.ok()) return Failed(Error{"PUT " + Path() + ": " + body.error().message});
  call_ = client_.RequestJson(
      "PUT", Path(), std::move(body).value(), kJson,
      [this, optimistic](Result<std::string> r) {
        if (r.ok()) return Succeeded(*r);
        if (!optimistic) return Failed(r.error());  // 409 Conflict: someone wrote since our GET
        last_error_ = r.error().message;
        log::Debug("leader election: renew failed, reading the Lease", {{"error", r.error().message}});
        Get();
      },
      config_.renew_deadline);
}

void LeaderElector::Succeeded(const std::string& body) {
  Result<LeaseObject> lease = ParseLease(body);
  if (!lease.ok()) return Failed(Error{"the Lease written: " + lease.error().message});
  const Clock::time_point now = Clock::now();
  tracker_.Observe(lease->spec, now);
  object_ = std::move(lease->json);
  if (tracker_.spec().holder_identity != config_.identity) {
    return Failed(Error{"the Lease written names " + tracker_.spec().holder_identity});
  }
  const milliseconds left =
      std::chrono::duration_cast<milliseconds>(try_start_ + config_.renew_deadline - now);
  if (left.count() <= 0) {  // too late to count: a standby may already be counting our lease as expired
    if (state_ == State::kLeading) return StepDown("the renew took longer than renew_deadline");
    return Failed(Error{"acquiring took longer than renew_deadline"});
  }
  last_renew_ = try_start_;
  last_error_.clear();
  deadline_timer_->Start(left, [this] {
    StepDown("no renew succeeded within renew_deadline (" + Ms(config_.renew_deadline) + ")");
  });
  const bool started = state_ == State::kAcquiring;
  state_ = State::kLeading;
  Schedule(config_.retry_period);
  if (!started) return;
  log::Info("leader election: started leading",
            {{"lease", config_.namespace_name + "/" + config_.name},
             {"identity", config_.identity},
             {"transitions", std::to_string(lease->spec.lease_transitions)}});
  if (!SawHolder()) return;
  Notify(callbacks_.on_started_leading);
}

void LeaderElector::Failed(const Error& error) {
  last_error_ = error.message;
  log::Debug("leader election: request failed", {{"lease", config_.namespace_name + "/" + config_.name},
                                                 {"identity", config_.identity},
                                                 {"error", error.message}});
  // Leading: renew again until the deadline; acquiring: client-go's jittered period.
  Schedule(state_ == State::kLeading ? config_.retry_period : Jittered());
}

void LeaderElector::StepDown(const std::string& why) {
  call_.reset();
  deadline_timer_->Stop();
  state_ = State::kAcquiring;
  last_error_ = last_error_.empty() ? why : why + " (last error: " + last_error_ + ")";
  log::Warn("leader election: stepped down", {{"lease", config_.namespace_name + "/" + config_.name},
                                              {"identity", config_.identity},
                                              {"reason", last_error_}});
  Schedule(Jittered());
  Notify(callbacks_.on_stopped_leading);
}

void LeaderElector::Release(bool refetched, std::function<void()> done) {
  auto finish = [this, done](const std::string& error) {
    if (!error.empty()) {
      log::Warn("leader election: could not release the Lease",
                {{"lease", config_.namespace_name + "/" + config_.name}, {"error", error}});
    }
    if (done) done();
  };
  Result<std::string> body = UpdatedLeaseJson(object_, tracker_.Release(Now()));
  if (!body.ok()) {  // never: object_ parsed as a Lease
    return done_timer_->Start(milliseconds(0), [finish, e = body.error().message] { finish(e); });
  }
  release_call_ = client_.RequestJson(
      "PUT", Path(), std::move(body).value(), kJson,
      [this, refetched, done, finish](Result<std::string> r) {
        if (r.ok()) {
          if (Result<LeaseObject> lease = ParseLease(*r); lease.ok()) {
            tracker_.Observe(lease->spec, Clock::now());
            object_ = std::move(lease->json);
          }
          log::Info("leader election: released the Lease",
                    {{"lease", config_.namespace_name + "/" + config_.name}, {"identity", config_.identity}});
          return finish("");
        }
        if (r.error().code != 409 || refetched) return finish(r.error().message);
        // Our last renew was cancelled after the server took it: read the Lease again and release that.
        release_call_ = client_.RequestJson(
            "GET", Path(), "", "",
            [this, done, finish](Result<std::string> g) {
              if (!g.ok()) return finish(g.error().message);
              Result<LeaseObject> lease = ParseLease(*g);
              if (!lease.ok()) return finish(lease.error().message);
              tracker_.Observe(lease->spec, Clock::now());
              object_ = std::move(lease->json);
              if (tracker_.spec().holder_identity != config_.identity)
                return finish("");  // not ours any more
              Release(true, done);
            },
            config_.renew_deadline);
      },
      config_.renew_deadline);
}

}  // namespace swg::k8s
