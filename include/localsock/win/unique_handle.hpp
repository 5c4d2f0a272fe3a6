// SPDX-License-Identifier: MIT
#pragma once

#include <localsock/export.hpp>

#include <utility>

namespace localsock::win {

/// An owned Win32 HANDLE (a pipe, an event, a token, a semaphore), stored as `void*` so
/// that this header needs no `<windows.h>`; the destructor closes it (CloseHandle).
/// Move-only, like posix::OwnedFd. Empty is nullptr: code that gets
/// INVALID_HANDLE_VALUE from the system (CreateFile, CreateNamedPipe) stores nothing.
class LOCALSOCK_API UniqueHandle {
 public:
  UniqueHandle() noexcept = default;
  /// Takes ownership of `h` (may be nullptr).
  explicit UniqueHandle(void* h) noexcept : h_(h) {}
  UniqueHandle(UniqueHandle&& o) noexcept : h_(std::exchange(o.h_, nullptr)) {}
  UniqueHandle& operator=(UniqueHandle&& o) noexcept {
    if (this != &o) reset(std::exchange(o.h_, nullptr));
    return *this;
  }
  UniqueHandle(const UniqueHandle&) = delete;
  UniqueHandle& operator=(const UniqueHandle&) = delete;
  ~UniqueHandle() { reset(); }

  /// The handle, or nullptr.
  void* get() const noexcept { return h_; }
  /// True when a handle is held.
  explicit operator bool() const noexcept { return h_ != nullptr; }
  /// Gives up ownership and returns the handle.
  [[nodiscard]] void* release() noexcept { return std::exchange(h_, nullptr); }
  /// Closes the held handle (if any) and takes `h`.
  void reset(void* h = nullptr) noexcept;

 private:
  void* h_ = nullptr;
};

namespace detail {

/// A plain value that goes back to `T{}` in the object it was moved from, so that a
/// class of such members and UniqueHandles can default its moves (a moved-from pipe
/// stream is empty, not "shut down" or "holding a message").
template <typename T>
class ResetOnMove {
 public:
  ResetOnMove() noexcept = default;
  ResetOnMove(T v) noexcept : v_(v) {}  // NOLINT(google-explicit-constructor): a plain value
  ResetOnMove(ResetOnMove&& o) noexcept : v_(std::exchange(o.v_, T{})) {}
  ResetOnMove& operator=(ResetOnMove&& o) noexcept {
    v_ = std::exchange(o.v_, T{});
    return *this;
  }
  ResetOnMove& operator=(T v) noexcept {
    v_ = v;
    return *this;
  }
  operator T() const noexcept { return v_; }  // NOLINT(google-explicit-constructor)

 private:
  T v_{};
};

}  // namespace detail
}  // namespace localsock::win
