#include "common/loop.h"

#include <doctest/doctest.h>

using namespace std::chrono_literals;

TEST_CASE("timers fire once or repeatedly and never after being stopped or destroyed") {
  swg::Loop loop;
  int once = 0, repeat = 0, stopped = 0;
  swg::Timer t1(loop), t2(loop), t3(loop);
  t1.Start(5ms, [&] { ++once; });
  t2.StartRepeating(2ms, [&] {
    if (++repeat == 5) t2.Stop();
  });
  t3.Start(1ms, [&] { ++stopped; });
  t3.Stop();
  {
    swg::Timer gone(loop);
    gone.Start(1ms, [&] { ++stopped; });
  }
  CHECK(loop.RunUntil([&] { return once == 1 && repeat == 5; }, 2s));
  CHECK(loop.RunUntil([] { return false; }, 20ms) == false);
  CHECK(once == 1);
  CHECK(repeat == 5);
  CHECK(stopped == 0);
  // A one-shot timer may restart itself from its own callback.
  int chain = 0;
  std::function<void()> again = [&] {
    if (++chain < 3) t1.Start(1ms, again);
  };
  t1.Start(1ms, again);
  CHECK(loop.RunUntil([&] { return chain == 3; }, 2s));
}
