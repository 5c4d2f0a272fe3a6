// SPDX-License-Identifier: MIT
#pragma once

#include <concepts>

#include <localsock/export.hpp>
#include <localsock/posix/ud_stream.hpp>

namespace localsock::posix {

/// A connected Unix-domain message socket (SOCK_SEQPACKET): reliable, ordered, and each
/// send arrives as one message.
///
/// A receive never truncates silently: when a message is larger than the buffer,
/// `recv` fails with `errc::message_truncated`, returns the size needed and leaves the
/// message queued. A zero-length message is distinct from end of stream.
/// @par Thread Safety: one thread may receive while another sends.
class LOCALSOCK_API UdSeqpacket : public UdSocket {
 public:
  static constexpr SocketType socket_type = SocketType::seqpacket;

  UdSeqpacket() noexcept = default;
  /// Adopts a connected SOCK_SEQPACKET descriptor (one a service manager passed, or one
  /// received over SCM_RIGHTS) and prepares it as the library's own sockets are
  /// (credential passing on, which tells a zero-length message from the end).
  explicit UdSeqpacket(int fd, std::string name = {}) noexcept;
  /// Adopts a descriptor connected through `name`, whose text it shares (no copy). (A
  /// template only so that a call with `{}` for the name keeps choosing the text.)
  template <std::same_as<LocalName> Name>
  UdSeqpacket(int fd, const Name& name) noexcept
      : UdSeqpacket(fd, localsock::detail::NameText(name), Named{}) {}

  static UdSeqpacket connect(const LocalName& name, Timeout timeout = infinite);
  static UdSeqpacket connect(const LocalName& name, Timeout timeout, std::error_code& ec);
  static std::pair<UdSeqpacket, UdSeqpacket> pair();
  static std::pair<UdSeqpacket, UdSeqpacket> pair(std::error_code& ec);

  /// Sends `msg` as one message, whole or not at all. A message larger than the socket's
  /// send buffer grows it where the system allows; a message over max_message_size() is
  /// `errc::message_too_large` (the throwing overload states the limit in its text).
  void send(ConstBuffer msg, std::error_code& ec) noexcept;
  void send(ConstBuffer msg);

  /// The largest message one send carries in this process. Linux bounds it twice: by the
  /// send buffer a socket may have (twice net.core.wmem_max for an unprivileged process,
  /// 425,952 bytes with the common 212,992; a privileged one raises it freely), and by
  /// the kernel's limit on one message whatever the buffer (4,263,616 bytes on x86-64).
  /// Measured once per process on a socket pair (capped at 64 MiB).
  /// For larger messages use FramedStream, which has no such limit.
  std::size_t max_message_size(std::error_code& ec) const noexcept;
  std::size_t max_message_size() const;
  /// Sends one message with descriptors attached (SCM_RIGHTS).
  void send_with_fds(ConstBuffer msg, std::span<const int> fds, std::error_code& ec) noexcept;
  void send_with_fds(ConstBuffer msg, std::span<const int> fds) {
    localsock::detail::or_throw("UdSeqpacket::send_with_fds", name(),
                                [&](std::error_code& ec) { send_with_fds(msg, fds, ec); });
  }

  /// Sends one message with this process's credentials attached (SCM_CREDENTIALS;
  /// Linux, else `errc::not_supported`).
  void send_with_credentials(ConstBuffer msg, std::error_code& ec) noexcept;
  void send_with_credentials(ConstBuffer msg) {
    localsock::detail::or_throw("UdSeqpacket::send_with_credentials", name(),
                                [&](std::error_code& ec) { send_with_credentials(msg, ec); });
  }

  /// Waits for the next message and returns its size without taking it.
  /// `ReceiveResult::end` is set at end of stream.
  ReceiveResult peek_size(std::error_code& ec) noexcept;
  ReceiveResult peek_size() {
    return localsock::detail::or_throw("UdSeqpacket::peek_size", name(),
                                       [&](std::error_code& ec) { return peek_size(ec); });
  }

  /// Receives one message into `buf`. On `errc::message_truncated` the returned size is
  /// the size needed and the message is still queued.
  ReceiveResult recv(MutableBuffer buf, std::error_code& ec) noexcept;
  ReceiveResult recv(MutableBuffer buf);
  /// Receives one message into `out`, resized to fit it. A message larger than
  /// `max_size` is discarded and reported as `errc::message_too_large`. `max_size` is a
  /// limit, not a reservation: SIZE_MAX takes messages of any size.
  ReceiveResult recv(std::vector<std::byte>& out, std::size_t max_size, std::error_code& ec);
  ReceiveResult recv(std::vector<std::byte>& out, std::size_t max_size);
  /// Receives one message (as recv) and its sender's credentials, which every message
  /// on a seqpacket socket carries on Linux.
  ReceiveResult recv_with_credentials(MutableBuffer buf,
                                      std::optional<PeerCredentials>& credentials,
                                      std::error_code& ec) noexcept;
  ReceiveResult recv_with_credentials(MutableBuffer buf,
                                      std::optional<PeerCredentials>& credentials) {
    return localsock::detail::or_throw(
        "UdSeqpacket::recv_with_credentials", name(),
        [&](std::error_code& ec) { return recv_with_credentials(buf, credentials, ec); });
  }
  /// Receives one message with up to `max_fds` descriptors (see UdStream::read_with_fds).
  ReceiveResult recv_with_fds(MutableBuffer buf, std::vector<OwnedFd>& fds, std::size_t max_fds,
                              std::error_code& ec);
  ReceiveResult recv_with_fds(MutableBuffer buf, std::vector<OwnedFd>& fds, std::size_t max_fds) {
    return localsock::detail::or_throw(
        "UdSeqpacket::recv_with_fds", name(),
        [&](std::error_code& ec) { return recv_with_fds(buf, fds, max_fds, ec); });
  }

 private:
  // The growing receive for limits too large for its overflow space: peeks the size first.
  ReceiveResult recv_sized(std::vector<std::byte>& out, std::size_t max_size, std::error_code& ec);
  struct Named {};
  UdSeqpacket(int fd, localsock::detail::NameText name, Named) noexcept;
};

}  // namespace localsock::posix
