// SPDX-License-Identifier: MIT
#pragma once

// The fault seam of the Windows backend: the Win32 calls that tests make fail on
// purpose (see <localsock/testing.hpp>), one function each, as src/posix/sys.hpp does
// for the Unix calls. Each behaves as the Win32 call it stands for, failing with the
// error a test armed (SetLastError) before the real call is made. In a library built
// without fault injection (the fault_injection build option) every check is a constant
// false and each function is the bare call.

#include <localsock/types.hpp>

#include <windows.h>

#include "../common/faults.hpp"

namespace localsock::win::sys {

using localsock::testing::Fault;

/// True, with `err` as the thread's last error, when `fault` is armed.
inline bool failed_as(Fault fault, DWORD err) noexcept {
  if (!localsock::detail::inject(fault)) return false;
  ::SetLastError(err);
  return true;
}

/// CreateFileW of a pipe's client end. Faults: pipe_busy (ERROR_PIPE_BUSY),
/// out_of_handles (ERROR_NO_SYSTEM_RESOURCES).
inline HANDLE create_file(const wchar_t* path, DWORD access, DWORD flags) noexcept {
  if (failed_as(Fault::pipe_busy, ERROR_PIPE_BUSY) ||
      failed_as(Fault::out_of_handles, ERROR_NO_SYSTEM_RESOURCES))
    return INVALID_HANDLE_VALUE;
  return ::CreateFileW(path, access, 0, nullptr, OPEN_EXISTING, flags, nullptr);
}

/// CreateNamedPipeW. Fault: out_of_handles (ERROR_NO_SYSTEM_RESOURCES).
inline HANDLE create_named_pipe(const wchar_t* path, DWORD open_mode, DWORD pipe_mode,
                                DWORD max_instances, DWORD out_buffer, DWORD in_buffer,
                                DWORD default_timeout, SECURITY_ATTRIBUTES* sa) noexcept {
  if (failed_as(Fault::out_of_handles, ERROR_NO_SYSTEM_RESOURCES)) return INVALID_HANDLE_VALUE;
  return ::CreateNamedPipeW(path, open_mode, pipe_mode, max_instances, out_buffer, in_buffer,
                            default_timeout, sa);
}

/// ConnectNamedPipe, overlapped. Faults: accept_no_data (ERROR_NO_DATA: the client left
/// before it was accepted), accept_pipe_connected (ERROR_PIPE_CONNECTED: it connected
/// before ConnectNamedPipe).
inline BOOL connect_named_pipe(HANDLE pipe, OVERLAPPED* ov) noexcept {
  if (failed_as(Fault::accept_no_data, ERROR_NO_DATA) ||
      failed_as(Fault::accept_pipe_connected, ERROR_PIPE_CONNECTED))
    return FALSE;
  return ::ConnectNamedPipe(pipe, ov);
}

/// SetThreadToken(nullptr, token): ends an impersonation, going back to `token` (none:
/// RevertToSelf). Fault: revert_to_self (ERROR_ACCESS_DENIED).
inline BOOL revert_to(HANDLE token) noexcept {
  if (failed_as(Fault::revert_to_self, ERROR_ACCESS_DENIED)) return FALSE;
  return ::SetThreadToken(nullptr, token);
}

/// The buffer for the first read of a message receive. Fault: more_data (a read of one
/// byte, so that a message longer than that ends it with a real ERROR_MORE_DATA).
inline MutableBuffer message_head(MutableBuffer buf) noexcept {
  return localsock::detail::inject(Fault::more_data) ? buf.first(1) : buf;
}

/// PeekNamedPipe for the bytes left of the message being read (`left`). Fault:
/// peek_fails (ERROR_NOT_ENOUGH_MEMORY).
inline BOOL bytes_left_this_message(HANDLE pipe, DWORD* left) noexcept {
  if (failed_as(Fault::peek_fails, ERROR_NOT_ENOUGH_MEMORY)) return FALSE;
  return ::PeekNamedPipe(pipe, nullptr, 0, nullptr, nullptr, left);
}

/// Whether the current_user_only check must see the client as another user. Fault:
/// foreign_user (Wine has one user only).
inline bool foreign_user() noexcept { return localsock::detail::inject(Fault::foreign_user); }

}  // namespace localsock::win::sys
