// SPDX-License-Identifier: MIT
// The Windows translation table: which GetLastError values mean which localsock
// condition, and their texts from the system.
#include <windows.h>

#include "../common/platform.hpp"

namespace localsock::detail {

std::string system_message(int value) {
  char* text = nullptr;
  const DWORD len = ::FormatMessageA(
      FORMAT_MESSAGE_ALLOCATE_BUFFER | FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS,
      nullptr, static_cast<DWORD>(value), MAKELANGID(LANG_ENGLISH, SUBLANG_DEFAULT),
      reinterpret_cast<char*>(&text), 0, nullptr);
  std::string message;
  if (len != 0 && text != nullptr) message.assign(text, len);
  if (text != nullptr) ::LocalFree(text);
  while (!message.empty() && (message.back() == '\n' || message.back() == '\r' ||
                              message.back() == ' ' || message.back() == '.'))
    message.pop_back();
  if (message.empty()) message = "Windows error";
  return message + " (" + std::to_string(value) + ")";
}

// ERROR_ACCESS_DENIED at connect: the pipe's security descriptor (its DACL) keeps this
// user out. The same code reports the library's own refusals (a check of the peer),
// which the text covers as well.
const char* access_denied_text() noexcept {
  return "access denied: the pipe's permissions keep this user out, or a check of the peer "
         "refused the connection";
}

bool system_error_means(int value, errc condition) noexcept {
  const auto v = static_cast<DWORD>(value);
  switch (condition) {
    case errc::no_listener:
      return v == ERROR_FILE_NOT_FOUND || v == ERROR_PATH_NOT_FOUND;
    case errc::peer_closed:
      return v == ERROR_BROKEN_PIPE || v == ERROR_NO_DATA || v == ERROR_PIPE_NOT_CONNECTED;
    case errc::timed_out:
      return v == ERROR_SEM_TIMEOUT || v == WAIT_TIMEOUT || v == ERROR_TIMEOUT;
    case errc::pipe_busy:
      return v == ERROR_PIPE_BUSY;
    case errc::message_truncated:
      return v == ERROR_MORE_DATA;
    case errc::not_supported:
      return v == ERROR_NOT_SUPPORTED || v == ERROR_CALL_NOT_IMPLEMENTED;
    case errc::invalid_name:
      return v == ERROR_INVALID_NAME || v == ERROR_BAD_PATHNAME;
    case errc::name_too_long:
      return v == ERROR_FILENAME_EXCED_RANGE;
    case errc::access_denied:
      return v == ERROR_ACCESS_DENIED;
    case errc::out_of_resources:
      return v == ERROR_NO_SYSTEM_RESOURCES || v == ERROR_TOO_MANY_OPEN_FILES ||
             v == ERROR_NOT_ENOUGH_MEMORY || v == ERROR_OUTOFMEMORY;
    default:
      return false;
  }
}

}  // namespace localsock::detail
