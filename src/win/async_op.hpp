// SPDX-License-Identifier: MIT
#pragma once

// What the Windows async connections (async_win.cpp) and listeners
// (async_listener_win.cpp) share: the overlapped operation, whose completion libuv
// runs on the loop thread through its UvRelay (uv_relay.cpp, the one file that touches
// libuv's internals), and the binding of pipe handles to the loop's completion port.
// uv.h (through async_common.hpp) brings winsock2.h, which must come before windows.h.
#include "../common/async_common.hpp"

#include <windows.h>

#include <memory>

#include "uv_relay.hpp"
#include "win_error.hpp"

namespace localsock::detail {

using win::detail::ends_stream;
using win::detail::error_of;
using win::detail::PipeCore;

struct Op;
inline void run_completion(Op* op, DWORD bytes, DWORD error);

// An overlapped operation of a socket or listener, owned by it and reused for every
// operation of its kind (a connection's reads and writes, a listener's connects). From
// start() until its completion runs, an operation keeps the loop running (`loop_ref`),
// however it completes: through the port, or finished from the loop's next turn.
struct Op {
  UvRelay relay{relayed, this};  // carries the OVERLAPPED and the completion
  HANDLE file = nullptr;         // the handle the operation runs on, for its result
  LoopRef loop_ref;

  Op() noexcept = default;
  Op(const Op&) = delete;
  Op& operator=(const Op&) = delete;
  virtual ~Op() = default;

  /// A fresh OVERLAPPED for the next use on `h`, on `loop`.
  OVERLAPPED* start(HANDLE h, const std::shared_ptr<LoopState>& loop) noexcept {
    file = h;
    loop_ref = LoopRef(loop);
    return relay.fresh_overlapped();
  }
  /// Finishes the operation with the outcome its OVERLAPPED holds (it has completed).
  void complete_from_overlapped() {
    DWORD bytes = 0;
    const DWORD error =
        ::GetOverlappedResult(file, relay.overlapped(), &bytes, FALSE) ? 0 : ::GetLastError();
    run_completion(this, bytes, error);
  }
  // On the loop thread, with the operation's outcome.
  virtual void complete(DWORD bytes, DWORD error) = 0;

 private:
  static void relayed(void* op) { static_cast<Op*>(op)->complete_from_overlapped(); }
};

// Runs `op`'s completion. The op may be gone once complete() returns (its connection or
// listener may be released there).
inline void run_completion(Op* op, DWORD bytes, DWORD error) {
  op->loop_ref.reset();  // the operation is over; what complete() starts holds anew
  op->complete(bytes, error);
}

// Binds a pipe handle to the loop's completion port; its overlapped operations
// complete there.
inline std::error_code bind_to_port(LoopState& loop, const PipeCore& pipe) {
  return bind_to_loop_port(loop.loop, static_cast<HANDLE>(pipe.native_handle()));
}

/// Gives `impl` (a connection made by a listener, or connected) the I/O of a connection
/// on `pipe`, a pipe of mode `mode` bound to the loop's port (async_win.cpp).
void attach_io(AsyncSocketImpl& impl, PipeCore&& pipe, Mode mode);

}  // namespace localsock::detail
