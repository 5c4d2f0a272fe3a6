// SPDX-License-Identifier: MIT
// The instance lock on Windows: a file in the user's temporary directory, opened with
// no sharing. A second open fails while the holder lives, and the system closes the
// holder's handle when it dies (TerminateProcess included). A named mutex would do too,
// but its ownership belongs to a thread, not to the process.
#include <windows.h>

#include <cstdio>
#include <string>

#include "../common/desktop.hpp"
#include "pipe_name.hpp"
#include "win_error.hpp"

namespace localsock::detail {

InstanceLock InstanceLock::try_acquire(const LocalName& name, std::error_code& ec) {
  ec.clear();
  // Pipe names are case-insensitive: the lock is per pipe, whatever the spelling
  // (ASCII case; names that differ in other letters' case get different locks, and the
  // first-instance pipe settles between them).
  std::string key = win::detail::pipe_path(name.str());
  for (char& c : key) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  wchar_t dir[MAX_PATH + 1];
  const DWORD n = ::GetTempPathW(MAX_PATH + 1, dir);
  if (n == 0 || n > MAX_PATH) {
    ec = n == 0 ? win::detail::last_error() : make_error_code(errc::name_too_long);
    return {};
  }
  char leaf[64];
  std::snprintf(leaf, sizeof leaf, "localsock-%016llx.lock",
                static_cast<unsigned long long>(fnv1a64(key)));
  const std::wstring path = std::wstring(dir) + win::detail::widen(leaf);
  HANDLE h = ::CreateFileW(path.c_str(), GENERIC_READ | GENERIC_WRITE, 0, nullptr, OPEN_ALWAYS,
                           FILE_ATTRIBUTE_TEMPORARY | FILE_ATTRIBUTE_NOT_CONTENT_INDEXED, nullptr);
  if (h == INVALID_HANDLE_VALUE) {
    const DWORD err = ::GetLastError();
    // Open elsewhere: another process holds the lock.
    if (err != ERROR_SHARING_VIOLATION) ec = win::detail::error_of(err);
    return {};
  }
  InstanceLock lock;
  lock.handle_ = reinterpret_cast<std::intptr_t>(h);
  lock.held_ = true;
  return lock;
}

void InstanceLock::release() noexcept {
  if (handle_ != invalid) ::CloseHandle(reinterpret_cast<HANDLE>(handle_));
  handle_ = invalid;
  held_ = false;
}

}  // namespace localsock::detail
