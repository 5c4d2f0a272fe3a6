// SPDX-License-Identifier: MIT
#include <localsock/posix/ud_socket.hpp>

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/types.h>
#include <unistd.h>

#include <algorithm>

#include "sys.hpp"

namespace localsock::posix {

using detail::last_error;
using detail::or_throw;

void UdSocket::set_nonblocking(bool on, std::error_code& ec) noexcept {
  ec.clear();
  const int flags = ::fcntl(fd_.get(), F_GETFL);
  if (flags < 0 || ::fcntl(fd_.get(), F_SETFL, on ? flags | O_NONBLOCK : flags & ~O_NONBLOCK) < 0)
    ec = last_error();
}

void UdSocket::set_nonblocking(bool on) {
  or_throw("UdSocket::set_nonblocking", name(), [&](auto& ec) { set_nonblocking(on, ec); });
}

std::error_code UdSocket::take_error() noexcept {
  int err = 0;
  socklen_t len = sizeof err;
  if (::getsockopt(fd_.get(), SOL_SOCKET, SO_ERROR, &err, &len) < 0) return last_error();
  return err == 0 ? std::error_code{} : std::error_code{err, std::system_category()};
}

namespace {

LocalName address_of(int fd, bool peer, std::error_code& ec) {
  ec.clear();
  detail::UnixAddress a;
  a.len = sizeof a.addr;
  const int r = peer ? ::getpeername(fd, reinterpret_cast<sockaddr*>(&a.addr), &a.len)
                     : ::getsockname(fd, reinterpret_cast<sockaddr*>(&a.addr), &a.len);
  if (r < 0) {
    ec = last_error();
    return {};
  }
  return detail::name_of(a);
}

}  // namespace

LocalName UdSocket::local_address(std::error_code& ec) const {
  return address_of(fd_.get(), false, ec);
}
LocalName UdSocket::local_address() const {
  return or_throw("UdSocket::local_address", name(), [&](auto& ec) { return local_address(ec); });
}
LocalName UdSocket::peer_address(std::error_code& ec) const {
  return address_of(fd_.get(), true, ec);
}
LocalName UdSocket::peer_address() const {
  return or_throw("UdSocket::peer_address", name(), [&](auto& ec) { return peer_address(ec); });
}

PeerCredentials UdSocket::peer_credentials(std::error_code& ec) const noexcept {
  return detail::peer_credentials_of(fd_.get(), ec);
}

PeerCredentials UdSocket::peer_credentials() const {
  return or_throw("UdSocket::peer_credentials", name(),
                  [&](auto& ec) { return peer_credentials(ec); });
}

namespace {
// Sets the socket's timeout `option` to `t` and records in `kept` what it became.
void set_timeout(int fd, int option, Timeout t, Timeout& kept, std::error_code& ec) noexcept {
  ec.clear();
  if (fd < 0) {
    ec = make_error_code(errc::not_connected);
    return;
  }
  timeval tv{};  // zero: no timeout
  const Timeout effective = t < Timeout::zero() ? infinite : std::max(t, Timeout(1));
  if (effective != infinite) {
    tv.tv_sec = static_cast<time_t>(effective.count() / 1000);
    tv.tv_usec = static_cast<suseconds_t>((effective.count() % 1000) * 1000);
  }
  if (::setsockopt(fd, SOL_SOCKET, option, &tv, sizeof tv) < 0) {
    ec = last_error();
    return;
  }
  kept = effective;
}
}  // namespace

void UdSocket::set_read_timeout(Timeout t, std::error_code& ec) noexcept {
  set_timeout(fd_.get(), SO_RCVTIMEO, t, read_timeout_, ec);
}

void UdSocket::set_write_timeout(Timeout t, std::error_code& ec) noexcept {
  set_timeout(fd_.get(), SO_SNDTIMEO, t, write_timeout_, ec);
}

void UdSocket::set_pass_credentials(bool on, std::error_code& ec) noexcept {
  ec.clear();
  if (!fd_) {
    ec = make_error_code(errc::not_connected);
    return;
  }
#if LOCALSOCK_POSIX_LINUX
  // A seqpacket socket keeps the option on whatever is asked: the credentials every
  // message then carries are how a zero-length message differs from the end of the
  // stream. Turning it off there only stops them being reported.
  int type = 0;
  socklen_t len = sizeof type;
  if (::getsockopt(fd_.get(), SOL_SOCKET, SO_TYPE, &type, &len) < 0) {
    ec = last_error();
    return;
  }
  const int v = on || type == SOCK_SEQPACKET ? 1 : 0;
  if (::setsockopt(fd_.get(), SOL_SOCKET, SO_PASSCRED, &v, sizeof v) < 0) {
    ec = last_error();
    return;
  }
  credentials_hidden_ = !on;
#else
  (void)on;
  ec = make_error_code(errc::not_supported);
#endif
}

void UdSocket::set_pass_credentials(bool on) {
  or_throw("UdSocket::set_pass_credentials", name(),
           [&](auto& ec) { set_pass_credentials(on, ec); });
}

void UdSocket::shutdown(Shutdown how, std::error_code& ec) noexcept {
  ec.clear();
  if (!fd_) {
    ec = make_error_code(errc::not_connected);
    return;
  }
  const int h = how == Shutdown::read ? SHUT_RD : how == Shutdown::write ? SHUT_WR : SHUT_RDWR;
  if (::shutdown(fd_.get(), h) < 0) ec = last_error();
}

void UdSocket::shutdown(Shutdown how) {
  or_throw("UdSocket::shutdown", name(), [&](auto& ec) { shutdown(how, ec); });
}

}  // namespace localsock::posix
