// SPDX-License-Identifier: MIT
#include <localsock/posix/ud_stream.hpp>

#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>

#include "sys.hpp"

namespace localsock::posix {

using detail::last_error;
using detail::or_throw;

UdStream::UdStream(int fd, std::string name) noexcept : UdSocket(fd, std::move(name)) {
  if (fd >= 0) detail::prepare_socket(fd, SOCK_STREAM);
}

UdStream::UdStream(int fd, localsock::detail::NameText name, Named) noexcept
    : UdSocket(fd, std::move(name)) {
  if (fd >= 0) detail::prepare_socket(fd, SOCK_STREAM);
}

UdStream UdStream::connect(const LocalName& name, Timeout timeout, std::error_code& ec) {
  const int fd = detail::connect_socket(name, SOCK_STREAM, timeout, ec);
  if (ec) ec = detail::connect_error(name, ec);
  return fd < 0 ? UdStream() : UdStream(fd, name);
}

UdStream UdStream::connect(const LocalName& name, Timeout timeout) {
  return or_throw("UdStream::connect", name.str(),
                  [&](auto& ec) { return connect(name, timeout, ec); });
}

std::pair<UdStream, UdStream> UdStream::pair(std::error_code& ec) {
  int fds[2];
  if ((ec = detail::socket_pair(SOCK_STREAM, fds))) return {};
  return {UdStream(fds[0]), UdStream(fds[1])};
}

std::pair<UdStream, UdStream> UdStream::pair() {
  return or_throw("UdStream::pair", "", [](auto& ec) { return pair(ec); });
}

std::size_t UdStream::read_some(MutableBuffer buf, std::error_code& ec) noexcept {
  ec.clear();
  if (!fd_) {
    ec = make_error_code(errc::not_connected);
    return 0;
  }
  if (buf.empty()) return 0;
  return detail::retry_eintr([&] { return ::recv(fd_.get(), buf.data(), buf.size(), 0); }, ec,
                             fd_.get(), read_timeout_, POLLIN);
}

std::size_t UdStream::read_some(MutableBuffer buf) {
  return or_throw("UdStream::read_some", name(), [&](auto& ec) { return read_some(buf, ec); });
}

std::size_t UdStream::write_some(ConstBuffer buf, std::error_code& ec) noexcept {
  ec.clear();
  if (!fd_) {
    ec = make_error_code(errc::not_connected);
    return 0;
  }
  if (buf.empty()) return 0;
  // A short write, as a full socket buffer gives: callers must complete it.
  if (buf.size() > 1 && localsock::detail::inject(testing::Fault::short_write))
    buf = buf.first(buf.size() / 2);
  return detail::retry_eintr(
      [&] { return ::send(fd_.get(), buf.data(), buf.size(), detail::send_flags); }, ec, fd_.get(),
      write_timeout_, POLLOUT);
}

std::size_t UdStream::write_some(ConstBuffer buf) {
  return or_throw("UdStream::write_some", name(), [&](auto& ec) { return write_some(buf, ec); });
}

namespace {
constexpr std::size_t max_iov = 64;  // per call; the rest goes in the next call
}

std::size_t UdStream::read_vectored(std::span<const MutableBuffer> bufs,
                                    std::error_code& ec) noexcept {
  ec.clear();
  if (!fd_) {
    ec = make_error_code(errc::not_connected);
    return 0;
  }
  iovec iov[max_iov];
  const std::size_t n = std::min(bufs.size(), max_iov);
  for (std::size_t i = 0; i < n; ++i) iov[i] = {bufs[i].data(), bufs[i].size()};
  return detail::retry_eintr([&] { return ::readv(fd_.get(), iov, static_cast<int>(n)); }, ec,
                             fd_.get(), read_timeout_, POLLIN);
}

std::size_t UdStream::write_vectored(std::span<const ConstBuffer> bufs,
                                     std::error_code& ec) noexcept {
  ec.clear();
  if (!fd_) {
    ec = make_error_code(errc::not_connected);
    return 0;
  }
  iovec iov[max_iov];
  const std::size_t n = std::min(bufs.size(), max_iov);
  for (std::size_t i = 0; i < n; ++i)
    iov[i] = {const_cast<std::byte*>(bufs[i].data()), bufs[i].size()};
  // sendmsg rather than writev: only it takes MSG_NOSIGNAL.
  msghdr msg{};
  msg.msg_iov = iov;
  msg.msg_iovlen = static_cast<decltype(msg.msg_iovlen)>(n);  // int on macOS
  return detail::retry_eintr([&] { return ::sendmsg(fd_.get(), &msg, detail::send_flags); }, ec,
                             fd_.get(), write_timeout_, POLLOUT);
}

std::size_t UdStream::write_with_fds(ConstBuffer buf, std::span<const int> fds,
                                     std::error_code& ec) noexcept {
  ec.clear();
  if (!fd_) {
    ec = make_error_code(errc::not_connected);
    return 0;
  }
  // Descriptors ride on data: on a stream, an empty write would carry nothing.
  if (buf.empty()) {
    ec = std::make_error_code(std::errc::invalid_argument);
    return 0;
  }
  return detail::send_msg(fd_.get(), buf, fds, nullptr, ec, false, write_timeout_);
}

std::size_t UdStream::write_with_fds(ConstBuffer buf, std::span<const int> fds) {
  return or_throw("UdStream::write_with_fds", name(),
                  [&](auto& ec) { return write_with_fds(buf, fds, ec); });
}

ReceiveResult UdStream::read_with_fds(MutableBuffer buf, std::vector<OwnedFd>& fds,
                                      std::size_t max_fds, std::error_code& ec) {
  ec.clear();
  if (!fd_) {
    ec = make_error_code(errc::not_connected);
    return {};
  }
  const auto r = detail::recv_msg(fd_.get(), buf, 0, &fds, max_fds, nullptr, ec, read_timeout_);
  return {
      .size = r.size, .end = !ec && r.size == 0 && !buf.empty(), .fds_truncated = r.fds_truncated};
}

std::size_t UdStream::write_with_credentials(ConstBuffer buf, std::error_code& ec) noexcept {
  ec.clear();
  if (!fd_) {
    ec = make_error_code(errc::not_connected);
    return 0;
  }
  if (buf.empty()) {
    ec = std::make_error_code(std::errc::invalid_argument);
    return 0;
  }
  return detail::send_msg(fd_.get(), buf, {}, nullptr, ec, true, write_timeout_);
}

ReceiveResult UdStream::read_with_credentials(MutableBuffer buf,
                                              std::optional<PeerCredentials>& credentials,
                                              std::error_code& ec) noexcept {
  ec.clear();
  credentials.reset();
  if (!fd_) {
    ec = make_error_code(errc::not_connected);
    return {};
  }
  const auto r = detail::recv_msg(fd_.get(), buf, 0, nullptr, 0, nullptr, ec, read_timeout_);
  if (r.had_credentials) credentials = r.credentials;
  return {.size = r.size, .end = !ec && r.size == 0 && !buf.empty()};
}

ReceiveResult UdStream::read_with_fds(MutableBuffer buf, std::vector<OwnedFd>& fds,
                                      std::size_t max_fds) {
  return or_throw("UdStream::read_with_fds", name(),
                  [&](auto& ec) { return read_with_fds(buf, fds, max_fds, ec); });
}

}  // namespace localsock::posix
