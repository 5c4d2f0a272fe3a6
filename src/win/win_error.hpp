// SPDX-License-Identifier: MIT
#pragma once

// Win32 error helpers shared by the named-pipe files.

#include <windows.h>

#include <system_error>

namespace localsock::win::detail {

inline std::error_code error_of(DWORD err) noexcept {
  return {static_cast<int>(err), std::system_category()};
}

inline std::error_code last_error() noexcept { return error_of(::GetLastError()); }

/// The writer closed or disconnected: end of stream, as read() returning 0 is on Unix.
inline bool ends_stream(DWORD err) noexcept {
  return err == ERROR_BROKEN_PIPE || err == ERROR_PIPE_NOT_CONNECTED;
}

}  // namespace localsock::win::detail
