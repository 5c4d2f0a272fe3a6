// SPDX-License-Identifier: MIT
#pragma once

#include <localsock/error.hpp>
#include <localsock/export.hpp>
#include <localsock/name.hpp>
#include <localsock/posix/fd.hpp>
#include <localsock/types.hpp>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <system_error>
#include <vector>

namespace localsock::posix {

/// Kinds of Unix-domain socket.
enum class SocketType { stream, seqpacket, datagram };

/// Who is at the other end of a connection, as the kernel recorded it at connect time.
struct LOCALSOCK_API PeerCredentials {
  std::int64_t pid = -1;  ///< Process id, or -1 where the platform does not report it.
  std::uint32_t uid = 0;  ///< Effective user id.
  std::uint32_t gid = 0;  ///< Effective group id.
};

using localsock::ReceiveResult;

/// What every Unix-domain socket type shares: ownership of the descriptor, nonblocking
/// mode, pending errors, addresses and the peer's credentials.
/// @par Thread Safety: distinct objects are independent; see the derived types.
class LOCALSOCK_API UdSocket {
 public:
  /// True while a descriptor is held.
  bool is_open() const noexcept { return static_cast<bool>(fd_); }
  /// The descriptor, or -1.
  int native_handle() const noexcept { return fd_.get(); }
  /// Gives up ownership of the descriptor and returns it.
  int release() noexcept { return fd_.release(); }
  /// Closes the socket. Idempotent.
  void close() noexcept { fd_.reset(); }
  /// The name used in error messages (connected to, accepted on or bound to).
  const std::string& name() const noexcept { return name_.str(); }

  /// Switches between blocking and nonblocking mode; in nonblocking mode operations
  /// that would wait report `errc::would_block`.
  void set_nonblocking(bool on, std::error_code& ec) noexcept;
  void set_nonblocking(bool on);

  /// Reads and clears the socket's pending error (SO_ERROR); empty when there is none.
  std::error_code take_error() noexcept;

  /// The address this socket is bound to; an empty LocalName for an unnamed socket.
  LocalName local_address(std::error_code& ec) const;
  LocalName local_address() const;
  /// The address of the peer; an empty LocalName when the peer is unnamed (a client).
  LocalName peer_address(std::error_code& ec) const;
  LocalName peer_address() const;

  /// The peer's process id, user and group (SO_PEERCRED on Linux, getpeereid elsewhere).
  PeerCredentials peer_credentials(std::error_code& ec) const noexcept;
  PeerCredentials peer_credentials() const;

  /// The longest a receive waits (SO_RCVTIMEO); then `errc::timed_out`, and nothing is
  /// lost. `infinite` waits forever (the default); zero is taken as 1 ms.
  /// Signals do not lengthen it: a receive interrupted by a signal handler (which Linux
  /// reports on a socket with a timeout even for SA_RESTART handlers) waits only for what
  /// is left of the timeout. This holds for timeouts set here; one set on the descriptor
  /// by other means (setsockopt) starts again after each signal.
  /// @note macOS, BSD: there the kernel itself restarts a call an SA_RESTART handler
  /// interrupted, with the full timeout, out of the library's sight; a signal arriving
  /// more often than the timeout then keeps the call waiting. Where the timeout must
  /// hold under frequent signals, install their handlers without SA_RESTART there.
  void set_read_timeout(Timeout t, std::error_code& ec) noexcept;
  void set_read_timeout(Timeout t) {
    localsock::detail::or_throw("UdSocket::set_read_timeout", name(),
                                [&](std::error_code& ec) { set_read_timeout(t, ec); });
  }
  /// The longest a send waits for room (SO_SNDTIMEO); then `errc::timed_out`, or the
  /// bytes a stream write did take. Signals do not lengthen it (as set_read_timeout).
  void set_write_timeout(Timeout t, std::error_code& ec) noexcept;
  void set_write_timeout(Timeout t) {
    localsock::detail::or_throw("UdSocket::set_write_timeout", name(),
                                [&](std::error_code& ec) { set_write_timeout(t, ec); });
  }

  /// Asks the kernel to attach the sender's credentials to everything this socket
  /// receives from now on (SO_PASSCRED; Linux). Turn it on before the peer sends; the
  /// `..._with_credentials` receives then report them. Message sockets have it on.
  /// On a seqpacket socket the system option stays on even when `on` is false (it is
  /// what tells a zero-length message from the end of the stream); off there only means
  /// that `recv_with_credentials` reports none.
  /// `errc::not_supported` where the platform has no such option.
  void set_pass_credentials(bool on, std::error_code& ec) noexcept;
  void set_pass_credentials(bool on);

  /// Ends one or both directions of the connection.
  void shutdown(Shutdown how, std::error_code& ec) noexcept;
  void shutdown(Shutdown how);

 protected:
  UdSocket() noexcept = default;
  UdSocket(int fd, std::string name) noexcept : fd_(fd), name_(std::move(name)) {}
  UdSocket(int fd, localsock::detail::NameText name) noexcept : fd_(fd), name_(std::move(name)) {}

  OwnedFd fd_;
  // set_pass_credentials(false) on a socket that keeps SO_PASSCRED on (seqpacket).
  // (Next to the descriptor, in what would be padding.)
  bool credentials_hidden_ = false;
  localsock::detail::NameText name_;  // shared with the LocalName it came through
  // The timeouts set_read_timeout and set_write_timeout gave the socket (`infinite`:
  // none): what is left of them bounds a call a signal interrupted.
  Timeout read_timeout_ = infinite;
  Timeout write_timeout_ = infinite;
};

}  // namespace localsock::posix
