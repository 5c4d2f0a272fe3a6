// SPDX-License-Identifier: MIT
#pragma once

#include <concepts>
#include <optional>

#include <localsock/export.hpp>
#include <localsock/posix/ud_socket.hpp>

/// The Unix-domain-socket backend: public API for Unix programs that want the native
/// features, and the base of the portable facade on Unix.
namespace localsock::posix {

/// A connected Unix-domain stream socket (SOCK_STREAM). Move-only; the destructor closes.
///
/// Every descriptor is close-on-exec; writes never raise SIGPIPE (a vanished peer is
/// `errc::peer_closed`); EINTR is retried (a read or write timeout keeps counting down
/// across it, see UdSocket::set_read_timeout).
///
/// Close-on-exec is atomic on Linux only: there sockets, accepted connections and
/// received descriptors are made close-on-exec by the call that makes them
/// (SOCK_CLOEXEC, accept4, MSG_CMSG_CLOEXEC). macOS has none of these, and the generic
/// flavor (every Unix system but Linux) does without them even where the system has
/// them (FreeBSD): there a descriptor becomes close-on-exec by fcntl just after
/// socket(), socketpair(), accept() or recvmsg() made it, and a fork() followed by
/// exec() on another thread in that instant passes it to the new program (which then
/// holds the connection open, or the listener's name). A program that starts other
/// programs while other threads make connections should start them with posix_spawn
/// and file actions that close what the child must not have
/// (posix_spawn_file_actions_addclose; on macOS, the POSIX_SPAWN_CLOEXEC_DEFAULT flag
/// closes every descriptor the file actions do not name), or fork and exec only while
/// no other thread opens, accepts or receives descriptors.
/// @par Thread Safety: one thread may read while another writes; other concurrent use of
/// one object needs external synchronisation.
class LOCALSOCK_API UdStream : public UdSocket {
 public:
  static constexpr SocketType socket_type = SocketType::stream;

  UdStream() noexcept = default;
  /// Adopts a connected stream socket descriptor; `name` is used in error messages. It
  /// is prepared as the library's own sockets are (SO_NOSIGPIPE where the system has it).
  explicit UdStream(int fd, std::string name = {}) noexcept;
  /// Adopts a descriptor connected through `name`, whose text it shares (no copy). (A
  /// template only so that a call with `{}` for the name keeps choosing the text.)
  template <std::same_as<LocalName> Name>
  UdStream(int fd, const Name& name) noexcept
      : UdStream(fd, localsock::detail::NameText(name), Named{}) {}

  /// Connects to the listener at `name`. With a `timeout`, gives up with
  /// `errc::timed_out` when the listener's backlog stays full that long.
  /// @throws localsock::Error; `errc::no_listener` when nobody listens there,
  /// `errc::mode_mismatch` when a SOCK_SEQPACKET listener does (and the reverse for
  /// UdSeqpacket::connect).
  static UdStream connect(const LocalName& name, Timeout timeout = infinite);
  static UdStream connect(const LocalName& name, Timeout timeout, std::error_code& ec);
  static UdStream connect(const LocalName& name, std::error_code& ec) {
    return connect(name, infinite, ec);
  }

  /// Two connected, unnamed streams (socketpair).
  static std::pair<UdStream, UdStream> pair();
  static std::pair<UdStream, UdStream> pair(std::error_code& ec);

  /// Reads at least one byte. @returns the bytes read; 0 at end of stream.
  std::size_t read_some(MutableBuffer buf, std::error_code& ec) noexcept;
  std::size_t read_some(MutableBuffer buf);
  /// Writes at least one byte. @returns the bytes written.
  std::size_t write_some(ConstBuffer buf, std::error_code& ec) noexcept;
  std::size_t write_some(ConstBuffer buf);

  /// Scatter read into several buffers with one system call (readv).
  std::size_t read_vectored(std::span<const MutableBuffer> bufs, std::error_code& ec) noexcept;
  std::size_t read_vectored(std::span<const MutableBuffer> bufs) {
    return localsock::detail::or_throw("UdStream::read_vectored", name(), [&](std::error_code& ec) {
      return read_vectored(bufs, ec);
    });
  }
  /// Gather write from several buffers with one system call (writev semantics).
  std::size_t write_vectored(std::span<const ConstBuffer> bufs, std::error_code& ec) noexcept;
  std::size_t write_vectored(std::span<const ConstBuffer> bufs) {
    return localsock::detail::or_throw(
        "UdStream::write_vectored", name(),
        [&](std::error_code& ec) { return write_vectored(bufs, ec); });
  }

  /// Writes at least one byte of `buf` together with descriptors (SCM_RIGHTS); the
  /// descriptors travel with the first byte written. `buf` must not be empty.
  std::size_t write_with_fds(ConstBuffer buf, std::span<const int> fds,
                             std::error_code& ec) noexcept;
  std::size_t write_with_fds(ConstBuffer buf, std::span<const int> fds);
  /// Reads like read_some and takes up to `max_fds` descriptors sent with those bytes,
  /// appended to `fds` (close-on-exec). `max_fds` counts this receive's descriptors
  /// only, not those `fds` already holds. Extra descriptors are closed, never leaked, and
  /// reported in `fds_truncated`.
  ReceiveResult read_with_fds(MutableBuffer buf, std::vector<OwnedFd>& fds, std::size_t max_fds,
                              std::error_code& ec);
  ReceiveResult read_with_fds(MutableBuffer buf, std::vector<OwnedFd>& fds, std::size_t max_fds);

  /// Writes at least one byte of `buf` with this process's credentials attached
  /// (SCM_CREDENTIALS; Linux, else `errc::not_supported`). `buf` must not be empty.
  std::size_t write_with_credentials(ConstBuffer buf, std::error_code& ec) noexcept;
  std::size_t write_with_credentials(ConstBuffer buf) {
    return localsock::detail::or_throw(
        "UdStream::write_with_credentials", name(),
        [&](std::error_code& ec) { return write_with_credentials(buf, ec); });
  }
  /// Reads like read_some and reports the sender's credentials of those bytes in
  /// `credentials` (empty unless this socket passes credentials, see
  /// set_pass_credentials). Bytes sent with different credentials are never merged
  /// into one read.
  ReceiveResult read_with_credentials(MutableBuffer buf,
                                      std::optional<PeerCredentials>& credentials,
                                      std::error_code& ec) noexcept;
  ReceiveResult read_with_credentials(MutableBuffer buf,
                                      std::optional<PeerCredentials>& credentials) {
    return localsock::detail::or_throw(
        "UdStream::read_with_credentials", name(),
        [&](std::error_code& ec) { return read_with_credentials(buf, credentials, ec); });
  }

 private:
  struct Named {};
  UdStream(int fd, localsock::detail::NameText name, Named) noexcept;
};

}  // namespace localsock::posix
