// SPDX-License-Identifier: MIT
#pragma once

// The one place in localsock that relies on libuv's private internals (Windows only).
// Pipe handles are bound to the loop's own completion port, and each overlapped
// operation keeps its OVERLAPPED inside the wake-up request of a uv_async_t that is
// never registered with the loop (a "relay"): libuv then dispatches the completion to
// the relay's callback, as it does for a uv_async_send. Only uv_relay.cpp touches the
// fields involved; it is guarded by the libuv versions this was checked against.

// uv.h brings winsock2.h, which must come before windows.h.
#include <uv.h>

#include <windows.h>

#include <system_error>

namespace localsock::detail {

/// An OVERLAPPED whose completion on the loop's port runs `callback(context)` on the
/// loop thread. Not movable: libuv finds it by address while an operation is pending.
class UvRelay {
 public:
  using Callback = void (*)(void* context);

  UvRelay(Callback callback, void* context) noexcept;
  UvRelay(const UvRelay&) = delete;
  UvRelay& operator=(const UvRelay&) = delete;

  /// A fresh (zeroed) OVERLAPPED for the next operation.
  OVERLAPPED* fresh_overlapped() noexcept;
  /// The OVERLAPPED of the current (or last) operation.
  OVERLAPPED* overlapped() noexcept;

 private:
  uv_async_t handle_{};
  Callback callback_;
  void* context_;
};

/// Binds `file` to `loop`'s completion port, so that its overlapped operations complete
/// there (and wake the loop).
std::error_code bind_to_loop_port(uv_loop_t* loop, HANDLE file) noexcept;

}  // namespace localsock::detail
