// SPDX-License-Identifier: MIT
// Unix rules for names: sun_path's length, the Linux abstract namespace, and where a
// namespaced name lives on Unix systems without one.
#include <cstddef>
#include <cstdlib>
#include <cstring>

#include "../common/platform.hpp"
#include "address.hpp"

namespace localsock::posix::detail {

bool has_abstract_namespace() noexcept {
#if defined(__linux__)
  return true;
#else
  return false;
#endif
}

namespace {

// Without an abstract namespace, a namespaced name is a socket file in the per-user
// runtime directory (or the temporary directory when there is none).
std::string runtime_directory() {
  for (const char* var : {"XDG_RUNTIME_DIR", "TMPDIR"}) {
    const char* dir = std::getenv(var);
    if (dir != nullptr && dir[0] == '/') return dir;
  }
  return "/tmp";
}

}  // namespace

std::string filesystem_path(const LocalName& name) {
  if (name.kind() == NameKind::path) return name.str();
  if (has_abstract_namespace()) return {};
  return runtime_directory() + "/" + name.str() + ".sock";
}

std::error_code make_address(const LocalName& name, UnixAddress& out) noexcept {
  out = UnixAddress{};
  out.addr.sun_family = AF_UNIX;
  if (name.empty()) return make_error_code(errc::invalid_name);
  if (name.kind() == NameKind::namespaced && has_abstract_namespace()) {
    // The abstract name is the bytes after a leading NUL, its length given by len.
    if (name.str().size() > max_path_length) return make_error_code(errc::name_too_long);
    std::memcpy(out.addr.sun_path + 1, name.str().data(), name.str().size());
    out.len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name.str().size());
    return {};
  }
  std::string path;
  try {
    path = filesystem_path(name);
  } catch (const std::bad_alloc&) {
    return std::make_error_code(std::errc::not_enough_memory);
  }
  if (path.size() > max_path_length) return make_error_code(errc::name_too_long);
  std::memcpy(out.addr.sun_path, path.data(), path.size());
  out.len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size() + 1);
  return {};
}

}  // namespace localsock::posix::detail

namespace localsock::detail {

std::error_code validate_name(NameKind kind, std::string_view name) noexcept {
  using posix::detail::max_path_length;
  if (kind == NameKind::path) {
    if (name.size() > max_path_length) return make_error_code(errc::name_too_long);
    return {};
  }
  if (posix::detail::has_abstract_namespace()) {
    if (name.size() > max_path_length) return make_error_code(errc::name_too_long);
    return {};
  }
  // The name becomes one file name in the runtime directory.
  if (name.find('/') != std::string_view::npos || name == "." || name == "..")
    return make_error_code(errc::invalid_name);
  return {};
}

std::string native_name(NameKind kind, const std::string& name) {
  if (kind == NameKind::namespaced && posix::detail::has_abstract_namespace())
    return "@" + name;
  if (kind == NameKind::path) return name;
  return posix::detail::filesystem_path(LocalName::namespaced(name));
}

// Unix names are byte strings: equal when spelled the same.
bool same_name(NameKind, const std::string& a, const std::string& b) { return a == b; }

NameSupport name_support() noexcept {
  return {.path = true, .namespaced = posix::detail::has_abstract_namespace()};
}

std::string name_limit_text() {
  return "a socket path or abstract name holds at most " +
         std::to_string(posix::detail::max_path_length) + " bytes";
}

}  // namespace localsock::detail
