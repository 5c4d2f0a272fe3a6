// SPDX-License-Identifier: MIT
#pragma once

// The library's side of fault injection (see <localsock/testing.hpp>): call sites ask
// inject(fault) before the system call they stand for.

#include <localsock/testing.hpp>

#include <atomic>

namespace localsock::detail {

using testing::Fault;

/// True while any fault is armed.
extern std::atomic<bool> faults_armed;

/// Consumes one armed occurrence of `fault`, if there is one.
bool take_fault(Fault fault) noexcept;

/// True when this call should fail as `fault`: one relaxed load when nothing is armed.
inline bool inject(Fault fault) noexcept {
  return faults_armed.load(std::memory_order_relaxed) && take_fault(fault);
}

using testing::Hook;

/// True while any test hook is set.
extern std::atomic<bool> hooks_set;

/// Runs the test's function for `hook`, if one is set.
void call_hook(Hook hook);

/// Marks a hook point: one relaxed load when no hook is set.
inline void hook_point(Hook hook) {
  if (hooks_set.load(std::memory_order_relaxed)) call_hook(hook);
}

}  // namespace localsock::detail
