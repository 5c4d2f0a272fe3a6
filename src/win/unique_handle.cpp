// SPDX-License-Identifier: MIT
#include <localsock/win/unique_handle.hpp>

#include <windows.h>

namespace localsock::win {

void UniqueHandle::reset(void* h) noexcept {
  if (h_ != nullptr) ::CloseHandle(static_cast<HANDLE>(h_));
  h_ = h;
}

}  // namespace localsock::win
