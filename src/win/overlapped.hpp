// SPDX-License-Identifier: MIT
#pragma once

// The overlapped I/O engine of the blocking pipe streams: every ReadFile and WriteFile
// of PipeCore runs here, with a time limit, on an event of its own.

#include <localsock/error.hpp>
#include <localsock/types.hpp>
#include <localsock/win/message_assembler.hpp>
#include <localsock/win/pipe_types.hpp>
#include <localsock/win/unique_handle.hpp>

#include <windows.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <system_error>

#include "win_error.hpp"

namespace localsock::win::detail {

/// The length of one ReadFile or WriteFile of `n` bytes: at most max_io_size.
inline DWORD clamp_length(std::size_t n) noexcept {
  return static_cast<DWORD>(std::min<std::size_t>(n, max_io_size));
}

/// A manual-reset event for overlapped operations, created in `slot` when first needed.
HANDLE ensure_event(UniqueHandle& slot, std::error_code& ec) noexcept;
/// Gives the event in `slot` (if any) to the calling thread's next ensure_event, or
/// closes it when the thread keeps enough already; `slot` is left empty. Only for an
/// event that no operation uses any more (each waits for its completion, see
/// run_overlapped): ReadFile and WriteFile reset the event when they start.
void recycle_event(UniqueHandle& slot) noexcept;

/// How long an overlapped operation may wait, and what it is when it waited too long.
struct Limit {
  DWORD ms = INFINITE;
  errc on_expiry = errc::timed_out;
};
inline constexpr Limit no_limit{};

/// A timeout in milliseconds for a Win32 wait: INFINITE for a negative one.
DWORD timeout_ms(Timeout t) noexcept;

/// The longest finite wait (a longer timeout is that long, as in timeout_ms).
inline constexpr Timeout longest_wait{INFINITE - 1};

/// The limit of a timeout (none for a negative one).
Limit limit_of(Timeout t) noexcept;

/// Reads wait for the read timeout, or not at all in nonblocking mode.
Limit read_limit(bool nonblocking, Timeout t) noexcept;

/// Runs one overlapped ReadFile or WriteFile, started by `start(OVERLAPPED*)`. An
/// operation still pending when its limit expires is cancelled and reported as the limit
/// says (`would_block` for nonblocking mode, `timed_out` for a timeout), unless it
/// completed in the meantime; one cancelled by cancel_io() from another thread is
/// `operation_canceled`. A message read into a too-small buffer completes with
/// ERROR_MORE_DATA and the bytes it did transfer.
template <typename Start>
DWORD run_overlapped(HANDLE handle, HANDLE event, Limit limit, Start start,
                     std::error_code& ec) noexcept {
  OVERLAPPED ov{};
  ov.hEvent = event;
  DWORD n = 0;
  bool expired = false;
  if (!start(&ov)) {
    const DWORD err = ::GetLastError();
    if (err != ERROR_IO_PENDING && err != ERROR_MORE_DATA) {
      ec = error_of(err);
      return 0;
    }
    if (err == ERROR_IO_PENDING && limit.ms != INFINITE &&
        ::WaitForSingleObject(event, limit.ms) == WAIT_TIMEOUT) {
      ::CancelIoEx(handle, &ov);
      expired = true;
    }
  }
  if (!::GetOverlappedResult(handle, &ov, &n, TRUE)) {
    ec = last_error();
    if (ec.value() == ERROR_OPERATION_ABORTED)
      ec = expired ? make_error_code(limit.on_expiry)
                   : std::make_error_code(std::errc::operation_canceled);
  }
  return n;
}

/// The end of a receive's time: a receive that takes several reads (the rest of a
/// message after ERROR_MORE_DATA, or discarding one too large) gives each of them only
/// the time left, so that the whole receive honours the read timeout.
class Deadline {
 public:
  Deadline(bool nonblocking, Timeout t) noexcept
      : limit_(read_limit(nonblocking, t)), start_(std::chrono::steady_clock::now()) {}

  Limit left() const noexcept {
    if (limit_.ms == INFINITE || limit_.ms == 0) return limit_;
    const auto spent = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - start_);
    const auto ms = static_cast<std::chrono::milliseconds::rep>(limit_.ms) - spent.count();
    return {static_cast<DWORD>(std::max<std::chrono::milliseconds::rep>(ms, 0)), limit_.on_expiry};
  }

 private:
  Limit limit_;
  std::chrono::steady_clock::time_point start_;
};

/// One ReadFile: how much it took, whether the message goes on, or end of stream.
struct Chunk {
  std::size_t n = 0;
  bool more = false;
  bool end = false;
};

/// One overlapped ReadFile into `buf`; ERROR_MORE_DATA and end of stream are results,
/// not errors.
Chunk read_chunk(HANDLE h, HANDLE event, Limit limit, MutableBuffer buf,
                 std::error_code& ec) noexcept;

/// Reads the rest of the message `message` is receiving into `into`, which holds
/// exactly message.left() bytes.
void read_rest(HANDLE h, HANDLE event, const Deadline& deadline, MessageAssembler& message,
               MutableBuffer into, std::error_code& ec) noexcept;

/// Reads the rest of the message `message` is discarding and throws it away.
void discard_rest(HANDLE h, HANDLE event, const Deadline& deadline, MessageAssembler& message,
                  std::error_code& ec) noexcept;

}  // namespace localsock::win::detail
