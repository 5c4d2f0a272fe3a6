// SPDX-License-Identifier: MIT
#pragma once

#include <concepts>

#include <localsock/export.hpp>
#include <localsock/posix/ud_socket.hpp>

namespace localsock::posix {

/// A Unix-domain datagram socket (SOCK_DGRAM), bound to a name or unbound.
///
/// Receives follow the same rule as UdSeqpacket: a datagram larger than the buffer is
/// `errc::message_truncated` with the needed size, and it stays queued.
/// @par Thread Safety: one thread may receive while another sends.
class LOCALSOCK_API UdDatagram : public UdSocket {
 public:
  UdDatagram() noexcept = default;
  /// Adopts a datagram socket descriptor, prepared as the library's own sockets are.
  explicit UdDatagram(int fd, std::string name = {}) noexcept;
  /// Adopts a descriptor bound to `name`, whose text it shares (no copy). (A template
  /// only so that a call with `{}` for the name keeps choosing the text.)
  template <std::same_as<LocalName> Name>
  UdDatagram(int fd, const Name& name) noexcept
      : UdDatagram(fd, localsock::detail::NameText(name), Named{}) {}

  /// A datagram socket bound to `name` (others can send to it). A bound path is removed
  /// when the socket closes, if it is still the socket created here (a relative path
  /// too, after the process changed its working directory: the directory is held open).
  static UdDatagram bind(const LocalName& name);
  static UdDatagram bind(const LocalName& name, std::error_code& ec);
  /// An unbound datagram socket (it can send; replies need a bound sender).
  static UdDatagram unbound();
  static UdDatagram unbound(std::error_code& ec);
  static std::pair<UdDatagram, UdDatagram> pair(std::error_code& ec);
  static std::pair<UdDatagram, UdDatagram> pair() {
    return localsock::detail::or_throw("UdDatagram::pair", "",
                                       [](std::error_code& ec) { return pair(ec); });
  }

  UdDatagram(UdDatagram&&) noexcept;
  UdDatagram& operator=(UdDatagram&&) noexcept;
  ~UdDatagram();

  /// Closes the socket and removes the socket file bind() created. Idempotent.
  void close() noexcept {
    remove_own_file();
    UdSocket::close();
  }

  /// Sets the default peer for send/recv.
  void connect(const LocalName& peer, std::error_code& ec) noexcept;
  void connect(const LocalName& peer);

  /// Sends one datagram to `to`.
  void send_to(ConstBuffer msg, const LocalName& to, std::error_code& ec) noexcept;
  void send_to(ConstBuffer msg, const LocalName& to);
  /// Sends one datagram to the default peer.
  void send(ConstBuffer msg, std::error_code& ec) noexcept;
  void send(ConstBuffer msg);

  /// The largest datagram one send carries in this process (see
  /// UdSeqpacket::max_message_size: the same two limits apply on Linux). Larger ones are
  /// `errc::message_too_large`, and the throwing sends state the limit in their text.
  std::size_t max_message_size(std::error_code& ec) const noexcept;
  std::size_t max_message_size() const;

  /// Receives one datagram and its sender (empty LocalName for an unbound sender).
  ReceiveResult recv_from(MutableBuffer buf, LocalName& from, std::error_code& ec);
  ReceiveResult recv_from(MutableBuffer buf, LocalName& from);
  /// Receives one datagram.
  ReceiveResult recv(MutableBuffer buf, std::error_code& ec) noexcept;
  ReceiveResult recv(MutableBuffer buf) {
    return localsock::detail::or_throw("UdDatagram::recv", name(),
                                       [&](std::error_code& ec) { return recv(buf, ec); });
  }

 private:
  // The socket file bind() created, removed on close: its directory (held open, so that
  // a relative path survives a change of working directory) and its name there.
  OwnedFd own_dir_;
  std::string own_leaf_;
  std::uint64_t own_dev_ = 0, own_ino_ = 0;
  std::int64_t own_birth_ns_ = -1;  // -1 where the filesystem records no birth time
  void remove_own_file() noexcept;
  struct Named {};
  UdDatagram(int fd, localsock::detail::NameText name, Named) noexcept;
};

}  // namespace localsock::posix
