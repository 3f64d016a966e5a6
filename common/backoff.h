#pragma once
// Exponential backoff with jitter and a cap, for reconnects and restarts. Not thread-safe; pure apart from the
// random source, which tests can seed.

#include <chrono>
#include <cstdint>
#include <random>

namespace swg {

class Backoff {
 public:
  using Clock = std::chrono::steady_clock;
  struct Options {
    std::chrono::milliseconds initial{800};
    double factor = 2.0;
    std::chrono::milliseconds cap{30000};
    double jitter = 0.5;  // a delay is drawn from [base * (1 - jitter), base]
    // A failure this long after the previous one starts again from `initial` (client-go resets after 2 min).
    std::chrono::milliseconds reset_after{120000};
  };

  explicit Backoff(Options options, uint64_t seed = std::random_device{}());

  // The delay before the next attempt after a failure at `now`.
  std::chrono::milliseconds Next(Clock::time_point now = Clock::now());
  void Reset();

 private:
  Options options_;
  std::mt19937_64 rng_;
  int failures_ = 0;
  Clock::time_point last_failure_{};
};

}  // namespace swg
