// SPDX-License-Identifier: MIT
// Windows rules for names: every name is a named pipe, \\.\pipe\NAME.
#include <windows.h>

#include "../common/platform.hpp"
#include "pipe_name.hpp"

namespace localsock::win::detail {
namespace {

constexpr std::string_view local_prefix = R"(\\.\pipe\)";
// Microsoft's limit for the whole pipe name, \\server\pipe\name included.
constexpr std::size_t max_pipe_path = 256;

bool is_full_path(std::string_view name) { return name.substr(0, 2) == R"(\\)"; }

}  // namespace

std::string pipe_path(const std::string& name) {
  if (is_full_path(name)) return name;
  return std::string(local_prefix) + name;
}

std::wstring widen(const std::string& s) {
  if (s.empty()) return {};
  const int n = ::MultiByteToWideChar(CP_UTF8, 0, s.data(), static_cast<int>(s.size()), nullptr, 0);
  std::wstring w(static_cast<std::size_t>(n), L'\0');
  ::MultiByteToWideChar(CP_UTF8, 0, s.data(), static_cast<int>(s.size()), w.data(), n);
  return w;
}

}  // namespace localsock::win::detail

namespace localsock::detail {

std::error_code validate_name(NameKind kind, std::string_view name) noexcept {
  // The Windows backend speaks named pipes only; socket files are not supported.
  if (kind == NameKind::path) return make_error_code(errc::not_supported);
  std::string_view rest = name;
  std::size_t full = name.size();
  if (name.substr(0, 2) == R"(\\)") {
    // \\host\pipe\NAME: a host without backslashes, then "pipe", then a plain name.
    const std::size_t host_end = name.find('\\', 2);
    if (host_end == std::string_view::npos || host_end == 2 || name.substr(2, host_end - 2) == "?")
      return make_error_code(errc::invalid_name);
    const std::string_view tail = name.substr(host_end + 1);
    constexpr std::string_view pipe = "pipe\\";
    if (tail.size() <= pipe.size() || _strnicmp(tail.data(), pipe.data(), pipe.size()) != 0)
      return make_error_code(errc::invalid_name);
    rest = tail.substr(pipe.size());
  } else {
    full += win::detail::local_prefix.size();
  }
  if (rest.empty() || rest.find('\\') != std::string_view::npos)
    return make_error_code(errc::invalid_name);
  // Win32 rewrites \\.\pipe\ paths before they reach the pipe file system: '/' becomes a
  // separator, '.' and '..' are resolved, and trailing dots and spaces are dropped. A
  // name that would be rewritten reaches another pipe than it says ('name.' is 'name',
  // '..' is not a pipe at all), so it is refused. (The \\?\ form is not rewritten, but
  // WaitNamedPipe, which connect and the first-instance check need, does not take it.)
  if (name.find('/') != std::string_view::npos || rest.back() == '.' || rest.back() == ' ')
    return make_error_code(errc::invalid_name);
  // Pipe names are UTF-16: bytes that are not UTF-8 would each become U+FFFD, and two
  // different names would reach one pipe.
  const int wide = ::MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, name.data(),
                                         static_cast<int>(name.size()), nullptr, 0);
  if (wide == 0) return make_error_code(errc::invalid_name);
  // The limit is in characters (UTF-16 units), not in UTF-8 bytes.
  full = full - name.size() + static_cast<std::size_t>(wide);
  if (full > win::detail::max_pipe_path) return make_error_code(errc::name_too_long);
  return {};
}

std::string native_name(NameKind kind, const std::string& name) {
  if (kind == NameKind::path) return name;
  return win::detail::pipe_path(name);
}

bool same_name(NameKind kind, const std::string& a, const std::string& b) {
  if (kind == NameKind::path) return a == b;
  // Pipe names are case-insensitive (the object manager's ordinal comparison, ignoring
  // case), and a bare name is the same pipe as its \\.\pipe\ path.
  const std::wstring wa = win::detail::widen(win::detail::pipe_path(a));
  const std::wstring wb = win::detail::widen(win::detail::pipe_path(b));
  return ::CompareStringOrdinal(wa.data(), static_cast<int>(wa.size()), wb.data(),
                                static_cast<int>(wb.size()), TRUE) == CSTR_EQUAL;
}

NameSupport name_support() noexcept { return {.path = false, .namespaced = true}; }

std::string name_limit_text() {
  return "a pipe name, \\\\.\\pipe\\ included, holds at most " +
         std::to_string(win::detail::max_pipe_path) + " characters";
}

}  // namespace localsock::detail
