// SPDX-License-Identifier: MIT
// Unix rules for names: sun_path's length, the Linux abstract namespace, and where a
// namespaced name lives on Unix systems without one.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <cstring>

#include <localsock/posix/fd.hpp>

#include "../common/platform.hpp"
#include "address.hpp"
#include "flavor.hpp"

namespace localsock::posix::detail {

bool has_abstract_namespace() noexcept { return LOCALSOCK_POSIX_LINUX != 0; }

namespace {

// Without an abstract namespace, a namespaced name is a socket file in a directory of
// this user's own, "localsock-<uid>" in the per-user runtime directory (or the temporary
// directory when there is none: on macOS TMPDIR is already per user, /tmp is shared).
std::string runtime_directory() {
  std::string base = "/tmp";
  for (const char* var : {"XDG_RUNTIME_DIR", "TMPDIR"}) {
    const char* dir = std::getenv(var);
    if (dir != nullptr && dir[0] == '/') {
      base = dir;
      break;
    }
  }
  while (base.size() > 1 && base.back() == '/') base.pop_back();
  return base + "/localsock-" + std::to_string(::geteuid());
}

std::error_code errno_code() noexcept { return {errno, std::system_category()}; }

// Gives the directory `dir`, which lstat found to be `st` (a directory of this user),
// mode 0700, and `st` its new status. Through a descriptor opened without following a
// symbolic link, checked to be that directory; where its owner may not even read it
// (the umask took that too), by its path: the entry is this user's own, which others
// cannot replace in a directory with the sticky bit (/tmp) or of this user's own.
bool make_private(const std::string& dir, struct stat& st) noexcept {
  const OwnedFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (fd) {
    struct stat now {};
    if (::fstat(fd.get(), &now) < 0) return false;
    if (now.st_dev != st.st_dev || now.st_ino != st.st_ino) {
      errno = EACCES;  // replaced since: not ours to change
      return false;
    }
    return ::fchmod(fd.get(), 0700) == 0 && ::fstat(fd.get(), &st) == 0;
  }
  if (errno != EACCES) return false;
  return ::chmod(dir.c_str(), 0700) == 0 && ::lstat(dir.c_str(), &st) == 0;
}

// Creates the runtime directory (mode 0700) when missing, and checks that it is a
// directory of this user that no one else may enter: another user who made it first
// could otherwise put a socket of theirs at any namespaced name (name squatting).
// mkdir applies the umask: under a restrictive one (0277) the directory would be one its
// user cannot write (0500), and every later listener of the user at a namespaced name
// would fail. So the mode is set outright on a directory just made, and repaired on one
// of ours that lacks owner rights but is closed to others (one open to others is refused
// instead: others may have put something in it). As per_user_name.cpp does.
std::error_code ensure_private_directory(const std::string& dir) noexcept {
  const bool made = ::mkdir(dir.c_str(), 0700) == 0;
  if (!made && errno != EEXIST) return errno_code();
  struct stat st {};
  if (::lstat(dir.c_str(), &st) < 0) return errno_code();
  if (!S_ISDIR(st.st_mode) || st.st_uid != ::geteuid()) return make_error_code(errc::access_denied);
  if ((st.st_mode & 0777) != 0700 && (made || (st.st_mode & 077) == 0) && !make_private(dir, st))
    return errno == EACCES ? make_error_code(errc::access_denied) : errno_code();
  if ((st.st_mode & 077) != 0) return make_error_code(errc::access_denied);
  return {};
}

}  // namespace

LocalName namespaced_of_path(std::string_view path) {
  if (has_abstract_namespace()) return {};
  const std::string dir = runtime_directory() + "/";
  constexpr std::string_view suffix = ".sock";
  if (path.size() <= dir.size() + suffix.size() || !path.starts_with(dir) ||
      !path.ends_with(suffix))
    return {};
  const std::string_view leaf = path.substr(dir.size(), path.size() - dir.size() - suffix.size());
  std::error_code ec;
  LocalName name = LocalName::namespaced(leaf, ec);
  return ec ? LocalName{} : name;
}

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
  std::string path, dir;
  try {
    path = filesystem_path(name);
    if (name.kind() == NameKind::namespaced) dir = path.substr(0, path.rfind('/'));
  } catch (const std::bad_alloc&) {
    return std::make_error_code(std::errc::not_enough_memory);
  }
  if (path.size() > max_path_length) return make_error_code(errc::name_too_long);
  // Both ends check the directory: a client never talks to a socket someone else could
  // have placed there.
  if (!dir.empty()) {
    if (const auto ec = ensure_private_directory(dir)) return ec;
  }
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
  if (kind == NameKind::namespaced && posix::detail::has_abstract_namespace()) return "@" + name;
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
