// SPDX-License-Identifier: MIT
#pragma once

#include <atomic>
#include <condition_variable>
#include <mutex>

namespace localsock::detail {

/// Lets a listener be closed from any thread while other threads are inside accept():
/// close() marks the listener closed, wakes the waiters (through the backend's own
/// wake-up: a pipe on Unix, an event on Windows), and waits until every accept has left
/// before the backend releases its descriptor or handle, so none is reused under a
/// waiting thread.
///
/// Once an accept has left the gate, close() may return and the listener be destroyed
/// by the thread that closed it: an accept must build everything it returns, logs or
/// reports (the name included) before it leaves. A Pass leaves when it goes out of
/// scope, after the return value has been made.
class AcceptGate {
 public:
  /// One accept inside the gate, from construction to destruction; false when the
  /// listener was closed already (then it holds nothing).
  class [[nodiscard]] Pass {
   public:
    explicit Pass(AcceptGate& gate) : gate_(gate.enter() ? &gate : nullptr) {}
    Pass(const Pass&) = delete;
    Pass& operator=(const Pass&) = delete;
    ~Pass() {
      if (gate_ != nullptr) gate_->leave();
    }
    explicit operator bool() const noexcept { return gate_ != nullptr; }

   private:
    AcceptGate* gate_;
  };

  /// Enters an accept; false when the listener is already closed.
  bool enter() {
    std::lock_guard lock(mutex_);
    if (closed_) return false;
    ++inside_;
    return true;
  }

  /// Leaves an accept entered with enter().
  void leave() {
    std::lock_guard lock(mutex_);
    if (--inside_ == 0) idle_.notify_all();
  }

  /// Closes the gate: runs `wake` once, then waits for every accept to leave. Returns
  /// false (and does nothing) when the gate was closed already.
  template <typename Wake>
  bool close(Wake wake) {
    std::unique_lock lock(mutex_);
    if (closed_.exchange(true)) return false;
    wake();
    idle_.wait(lock, [this] { return inside_ == 0; });
    return true;
  }

  bool closed() const noexcept { return closed_; }

 private:
  std::mutex mutex_;
  std::condition_variable idle_;
  int inside_ = 0;
  std::atomic<bool> closed_{false};
};

}  // namespace localsock::detail
