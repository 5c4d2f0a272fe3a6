// SPDX-License-Identifier: MIT
#pragma once

#include <localsock/async.hpp>

#include <uv.h>

#include <chrono>
#include <memory>

#include "doctest_ext.hpp"

namespace localsock::test {

/// Undoes what a test may have set inside the library: the suites that reach its
/// internals disarm every injected fault (test_loop_internal.cpp); the suites that use
/// the public API alone, which can arm nothing, link test_loop_public.cpp.
void reset_library_test_state() noexcept;

/// A uv loop with localsock attached, and a watchdog: run() returns when `done` holds or
/// the deadline passes (then the test fails instead of hanging). At the end it disarms
/// every injected fault, lets the closes finish and checks that the loop closes.
struct TestLoop {
  uv_loop_t loop{};
  std::unique_ptr<AsyncLoop> async;
  uv_timer_t tick{};

  TestLoop() {
    uv_loop_init(&loop);
    async = std::make_unique<AsyncLoop>(&loop);
    uv_timer_init(&loop, &tick);
  }
  TestLoop(const TestLoop&) = delete;
  TestLoop& operator=(const TestLoop&) = delete;
  ~TestLoop() {
    reset_library_test_state();
    uv_close(reinterpret_cast<uv_handle_t*>(&tick), nullptr);
    // Everything the test made is closed by now; let the loop finish the closes.
    uv_run(&loop, UV_RUN_DEFAULT);
    async.reset();
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK(uv_loop_close(&loop) == 0);
  }

  template <typename Pred>
  bool run(Pred done, std::chrono::milliseconds deadline = std::chrono::seconds(60)) {
    const auto end = std::chrono::steady_clock::now() + deadline;
    // The tick wakes the loop now and then so that the deadline is noticed.
    uv_timer_start(
        &tick, [](uv_timer_t*) {}, 5, 5);
    while (!done() && std::chrono::steady_clock::now() < end) uv_run(&loop, UV_RUN_ONCE);
    uv_timer_stop(&tick);
    return done();
  }
  /// Lets pending closes finish.
  void settle() {
    for (int i = 0; i < 20; ++i) uv_run(&loop, UV_RUN_NOWAIT);
  }
};

}  // namespace localsock::test
