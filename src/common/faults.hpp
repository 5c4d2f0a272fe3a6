// SPDX-License-Identifier: MIT
#pragma once

// The library's side of fault injection (see <localsock/testing.hpp>): call sites ask
// inject(fault) before the system call they stand for (the seams: src/posix/sys.hpp,
// src/win/sys.hpp), and hook_point(hook) where a test may run its own code.
// A library built without fault injection (the fault_injection build option, off by
// default, on in the test builds of scripts/build) has neither: inject is a constant
// false and hook_point empty, so every call site compiles to nothing.

#include <localsock/config.hpp>
#include <localsock/testing.hpp>

#include <atomic>

namespace localsock::detail {

using testing::Fault;
using testing::Hook;

#ifdef LOCALSOCK_FAULT_INJECTION

/// True while any fault is armed.
extern std::atomic<bool> faults_armed;

/// Consumes one armed occurrence of `fault`, if there is one.
bool take_fault(Fault fault) noexcept;

/// True when this call should fail as `fault`: one relaxed load when nothing is armed.
inline bool inject(Fault fault) noexcept {
  return faults_armed.load(std::memory_order_relaxed) && take_fault(fault);
}

/// True while any test hook is set.
extern std::atomic<bool> hooks_set;

/// Runs the test's function for `hook`, if one is set.
void call_hook(Hook hook);

/// Marks a hook point: one relaxed load when no hook is set.
inline void hook_point(Hook hook) {
  if (hooks_set.load(std::memory_order_relaxed)) call_hook(hook);
}

#else

constexpr bool inject(Fault) noexcept { return false; }
constexpr void hook_point(Hook) noexcept {}

#endif

}  // namespace localsock::detail
