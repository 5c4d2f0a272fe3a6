// SPDX-License-Identifier: MIT
#pragma once

// Deadlines for every wait the library bounds: the moment a timeout ends, computed so
// that no timeout, however long, wraps around into the past.

#include <localsock/types.hpp>

#include <algorithm>
#include <chrono>
#include <climits>

namespace localsock::detail {

using DeadlineClock = std::chrono::steady_clock;

/// The moment `timeout` after `now`. A negative timeout (`infinite`) and one that would
/// pass the clock's last moment (a timeout of a thousand years: steady_clock counts
/// nanoseconds in 64 bits, about 292 years) give that last moment, which never comes;
/// zero gives `now`.
inline DeadlineClock::time_point deadline_after(DeadlineClock::time_point now,
                                                Timeout timeout) noexcept {
  constexpr auto last = DeadlineClock::time_point::max();
  if (timeout < Timeout::zero()) return last;
  // The room left before the clock's end, in whole milliseconds (rounded down): a
  // timeout below it converts to the clock's unit and adds without overflow.
  const auto room = std::chrono::floor<Timeout>(last - now);
  return timeout >= room ? last : now + timeout;
}

/// The moment `timeout` from now (see above).
inline DeadlineClock::time_point deadline_after(Timeout timeout) noexcept {
  return deadline_after(DeadlineClock::now(), timeout);
}

/// What is left until `deadline` in whole milliseconds, rounded up so that a wait of
/// that length never ends early; zero once it has passed, and at most INT_MAX (poll's
/// and the Win32 waits' argument; a caller waits again when that much was not enough).
inline int milliseconds_until(DeadlineClock::time_point deadline) noexcept {
  const auto now = DeadlineClock::now();
  if (deadline <= now) return 0;
  const auto left = std::chrono::ceil<Timeout>(deadline - now);
  return static_cast<int>(std::min<Timeout::rep>(left.count(), INT_MAX));
}

}  // namespace localsock::detail
