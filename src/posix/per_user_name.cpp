// SPDX-License-Identifier: MIT
// Where a per-user name lives on Unix: a socket file in a private directory of this
// user, created and checked without following symbolic links.
#include <localsock/posix/fd.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <string>

#include "../common/desktop.hpp"
#include "address.hpp"

namespace localsock::detail {
namespace {

std::error_code errno_code() noexcept { return {errno, std::system_category()}; }

bool private_to_me(const struct stat& st) noexcept {
  return S_ISDIR(st.st_mode) && st.st_uid == ::geteuid() && (st.st_mode & 077) == 0;
}

// A directory in which nobody but this user (and root) can remove or rename an entry of
// ours: owned by one of us and not writable by others, or sticky (as /tmp is).
bool safe_parent(const struct stat& st) noexcept {
  if (!S_ISDIR(st.st_mode)) return false;
  if (st.st_uid != ::geteuid() && st.st_uid != 0) return false;
  return (st.st_mode & 022) == 0 || (st.st_mode & S_ISVTX) != 0;
}

std::string without_trailing_slashes(std::string dir) {
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  return dir;
}

// The per-user temporary directory the system gives this user, where there is one
// (macOS: the `/var/folders/...` directory that $TMPDIR names in a login session, asked
// of the system itself); empty elsewhere.
#if defined(__APPLE__)
std::string system_user_temp_dir() {
  char buf[1024];
  const std::size_t n = ::confstr(_CS_DARWIN_USER_TEMP_DIR, buf, sizeof buf);
  return n > 0 && n <= sizeof buf ? std::string(buf) : std::string();
}
#else
std::string system_user_temp_dir() { return {}; }
#endif

// The directory above the private one, and the private one's name in it. Both follow
// from the user id alone, never from the environment, so that every process of the
// user computes the same name: a launch from the desktop ($XDG_RUNTIME_DIR set), one
// from cron, `sudo -u`, `env -i` or a service with User= (none set, or another $TMPDIR)
// must meet the same primary. In order: /run/user/<uid> when it exists and is private to
// this user (systemd-logind's runtime directory, the one $XDG_RUNTIME_DIR names in a
// session); the system's per-user temporary directory (macOS); else /tmp, in which
// `localsock-<uid>` is made.
void choose_base(std::string& base, std::string& leaf) {
  const std::string uid = std::to_string(::geteuid());
  const std::string test_base = per_user_base_override();
  if (!test_base.empty()) {
    base = without_trailing_slashes(test_base);
    leaf = "localsock-" + uid;
    return;
  }
  struct stat st {};
  const std::string run = "/run/user/" + uid;
  if (::stat(run.c_str(), &st) == 0 && private_to_me(st)) {
    base = run;
    leaf = "localsock";
    return;
  }
  const std::string user_tmp = system_user_temp_dir();
  if (!user_tmp.empty() && user_tmp[0] == '/' && ::stat(user_tmp.c_str(), &st) == 0 &&
      private_to_me(st)) {
    base = without_trailing_slashes(user_tmp);
    leaf = "localsock";
    return;
  }
  base = "/tmp";
  leaf = "localsock-" + uid;
}

// Creates `leaf` in `base` (mode 0700) unless it exists, then opens it without following
// a symbolic link and checks what was opened: a directory of this user that nobody else
// may enter. Another user who made it first, or a link planted there, is refused.
std::error_code ensure_private_directory(const std::string& base, const std::string& leaf) {
  // The base itself may be reached through the system's own links (/tmp on macOS).
  const posix::OwnedFd base_fd(::open(base.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!base_fd) return errno_code();
  struct stat st {};
  if (::fstat(base_fd.get(), &st) < 0) return errno_code();
  if (!safe_parent(st)) return make_error_code(errc::access_denied);
  const bool made = ::mkdirat(base_fd.get(), leaf.c_str(), 0700) == 0;
  if (!made && errno != EEXIST) return errno_code();
  const posix::OwnedFd dir(
      ::openat(base_fd.get(), leaf.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!dir) {
    // ELOOP / ENOTDIR: a symbolic link or a file where the directory should be.
    return errno == ELOOP || errno == ENOTDIR ? make_error_code(errc::access_denied) : errno_code();
  }
  if (::fstat(dir.get(), &st) < 0) return errno_code();
  if (!S_ISDIR(st.st_mode) || st.st_uid != ::geteuid()) return make_error_code(errc::access_denied);
  // mkdirat applied the umask: a restrictive one (0277) leaves a directory its user
  // cannot write, and every later listener of the user would fail. The mode is set
  // outright on the directory just made, and repaired on one of ours that lacks owner
  // rights but is closed to others (one open to others is refused below instead: others
  // may have put something in it).
  if ((st.st_mode & 0777) != 0700 && (made || (st.st_mode & 077) == 0)) {
    if (::fchmod(dir.get(), 0700) < 0 || ::fstat(dir.get(), &st) < 0) return errno_code();
  }
  if (!private_to_me(st)) return make_error_code(errc::access_denied);
  return {};
}

}  // namespace

PerUserName per_user_name(std::string_view app, bool session, std::error_code& ec) {
  ec.clear();
  // A per-session name adds `+s<session id>` after the id's part: `+` is never in that
  // part (see per_user_leaf), so no id's per-user name is another's per-session name.
  std::string session_part;
  if (session) {
    // logind's session ids are short alphanumeric strings; anything else is left out
    // rather than trusted into a file name.
    const char* sid = std::getenv("XDG_SESSION_ID");
    std::string clean;
    for (const char* p = sid; p != nullptr && *p != '\0' && clean.size() < 32; ++p) {
      const char c = *p;
      if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) clean += c;
    }
    if (!clean.empty()) session_part = "+s" + clean;
  }
  std::string base, dir_leaf;
  choose_base(base, dir_leaf);
  if ((ec = ensure_private_directory(base, dir_leaf))) return {};
  const std::string dir = base + "/" + dir_leaf + "/";
  const std::string suffix = session_part + ".sock";
  const std::size_t used = dir.size() + suffix.size();
  const std::size_t room =
      used < posix::detail::max_path_length ? posix::detail::max_path_length - used : 0;
  const std::string leaf = per_user_leaf(app, room);
  if (leaf.empty()) {
    ec = make_error_code(errc::name_too_long);
    return {};
  }
  return {NameKind::path, dir + leaf + suffix};
}

}  // namespace localsock::detail
