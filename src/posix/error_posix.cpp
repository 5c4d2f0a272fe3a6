// SPDX-License-Identifier: MIT
// The POSIX translation table: which errno values mean which localsock condition.
#include "../common/platform.hpp"

#include <cerrno>
#include <cstring>

namespace localsock::detail {

std::string system_message(int value) {
  return std::system_category().message(value);
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
