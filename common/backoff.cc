#include "common/backoff.h"

#include <algorithm>
#include <cmath>

namespace swg {

Backoff::Backoff(Options options, uint64_t seed) : options_(options), rng_(seed) {}

std::chrono::milliseconds Backoff::Next(Clock::time_point now) {
  if (failures_ > 0 && now - last_failure_ >= options_.reset_after) failures_ = 0;
  last_failure_ = now;
  double base = static_cast<double>(options_.initial.count()) * std::pow(options_.factor, failures_);
  base = std::min(base, static_cast<double>(options_.cap.count()));
  if (failures_ < 64) ++failures_;
  std::uniform_real_distribution<double> dist(0.0, 1.0);
  double jitter = std::clamp(options_.jitter, 0.0, 1.0);
  double delay = base * (1.0 - jitter * dist(rng_));
  return std::chrono::milliseconds(static_cast<int64_t>(std::llround(delay)));
}

void Backoff::Reset() { failures_ = 0; }

}  // namespace swg
