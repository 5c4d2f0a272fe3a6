// SPDX-License-Identifier: MIT
// The POSIX translation table: which errno values mean which localsock condition.
#include "../common/platform.hpp"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include "address.hpp"
#include "sys.hpp"

namespace localsock::detail {

std::string system_message(int value) { return std::system_category().message(value); }

// EACCES at connect comes from the socket file (no write permission for this user) or
// from any directory on its path (no search permission), and the errno does not say
// which; finding out afterwards would race with changes to those modes. So the text
// names both. The same code reports the library's own refusals (a check of the peer; a
// per-user directory that is not private), which the text covers as well.
const char* access_denied_text() noexcept {
  return "access denied: this user may not reach the socket (its file or a directory on its "
         "path), or a check of the peer refused the connection";
}

bool system_error_means(int value, errc condition) noexcept {
  switch (condition) {
    case errc::name_in_use:
      return value == EADDRINUSE;
    case errc::no_listener:
      // A path with no socket file, or a socket (file or abstract) nobody listens on.
      return value == ENOENT || value == ECONNREFUSED;
    case errc::peer_closed:
      return value == EPIPE || value == ECONNRESET;
    case errc::timed_out:
      return value == ETIMEDOUT;
    case errc::would_block:
      return value == EAGAIN || value == EWOULDBLOCK || value == EINPROGRESS;
    case errc::name_too_long:
      return value == ENAMETOOLONG;
    case errc::not_supported:
      return value == EOPNOTSUPP || value == ENOTSUP || value == EPROTONOSUPPORT;
    case errc::not_connected:
      return value == ENOTCONN;
    case errc::message_too_large:
      return value == EMSGSIZE;
    case errc::not_a_socket:
      return value == ENOTSOCK;
    case errc::access_denied:
      return value == EACCES || value == EPERM;
    case errc::out_of_resources:
      return value == EMFILE || value == ENFILE || value == ENOBUFS || value == ENOMEM;
    default:
      return false;
  }
}

}  // namespace localsock::detail

// The operation-specific rows: the same errno means different things at bind and at
// connect (ENOENT: a missing directory at bind, no socket file at connect), so the
// backends pass their errors through these where the operation decides the meaning.
// accept, send and recv need none: their errno values mean the same everywhere
// (system_error_means above).
namespace localsock::posix::detail {

std::error_code bind_path_error(const std::string& path, std::error_code ec) noexcept {
  if (ec.category() != std::system_category() || path.empty()) return ec;
  switch (ec.value()) {
    case ENOENT:
    case ENOTDIR:
      return make_error_code(errc::no_such_directory);
    case EACCES:
    case EPERM:
    case EROFS:
      return make_error_code(errc::directory_access_denied);
    default:
      return ec;
  }
}

std::error_code connect_error(const LocalName& name, std::error_code ec) noexcept {
  if (ec.category() != std::system_category() || ec.value() != ECONNREFUSED) return ec;
  std::string path;
  try {
    path = filesystem_path(name);
  } catch (...) {
    return ec;
  }
  if (path.empty()) return ec;  // an abstract name: refused is simply nobody listening
  // Follows symbolic links, as connect() does.
  struct stat st {};
  if (::stat(path.c_str(), &st) < 0) return ec;
  return make_error_code(S_ISSOCK(st.st_mode) ? errc::stale_name : errc::not_a_socket);
}

}  // namespace localsock::posix::detail
