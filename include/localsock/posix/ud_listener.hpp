// SPDX-License-Identifier: MIT
#pragma once

#include <localsock/error.hpp>
#include <localsock/export.hpp>
#include <localsock/name.hpp>
#include <localsock/posix/ud_seqpacket.hpp>
#include <localsock/posix/ud_socket.hpp>
#include <localsock/posix/ud_stream.hpp>
#include <localsock/types.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

namespace localsock::posix {

class FramedStream;

/// Options of a Unix-domain listener.
struct LOCALSOCK_API UdListenerOptions {
  /// Length of the kernel's queue of connections not yet accepted.
  int backlog = 128;
  /// When a socket file is left at the path by a listener that no longer runs (nobody
  /// accepts on it), remove it and bind. Off by default: the bind then fails with
  /// `errc::stale_name`. A live listener's socket and a path that is not a socket are
  /// never removed: nor is the socket of a server that has bound but not yet listened
  /// (a datagram probe tells it from a stale file), nor a socket another server put at
  /// the path after this one found the old file stale (the file is checked again, by
  /// device, inode and birth time, right before it is removed).
  bool reclaim_stale = false;
  /// Permission bits of the socket file (for example 0600: the owner only). The file
  /// never exists with wider permissions than these, not even briefly: it is bound in a
  /// private 0700 directory next to the path, given the mode there, set listening and
  /// only then linked into place (so it accepts clients from the moment it is visible).
  /// One trace of that remains: the kernel's address of the connections (an accepted
  /// socket's local_address, a client's peer_address) names the private directory,
  /// which is gone by then (on Linux, where that directory's full name would not fit
  /// sun_path, `/proc/self/fd/N/s`, N the directory's descriptor during the bind). The
  /// listener's name() is the path asked for.
  /// Unset: the process umask decides.
  std::optional<std::uint32_t> permissions{};
  /// accept() reports `errc::would_block` instead of waiting.
  bool nonblocking = false;
  /// Accept only peers running as this process's effective user: others are
  /// disconnected at once and accept goes on waiting. A filesystem name without `permissions`
  /// gets 0600. This is the check that protects abstract names, which have no
  /// permissions.
  bool current_user_only = false;
  /// Send and receive buffer size of the connections (SO_SNDBUF/SO_RCVBUF; a hint the
  /// kernel may round). Unset: the system default.
  std::optional<int> buffer_size{};
};

namespace detail {

/// The listening socket shared by every listener type. Defined in src/posix.
class LOCALSOCK_API ListenerCore {
 public:
  ListenerCore() noexcept;
  ListenerCore(ListenerCore&&) noexcept;
  ListenerCore& operator=(ListenerCore&&) noexcept;
  ~ListenerCore();

  static ListenerCore bind(const LocalName& name, SocketType type, const UdListenerOptions& options,
                           std::error_code& ec);
  /// A connected descriptor, or -1 with `ec` set.
  int accept(Timeout timeout, std::error_code& ec);
  void set_nonblocking(bool on, std::error_code& ec) noexcept;
  void close() noexcept;
  bool is_open() const noexcept;
  int native_handle() const noexcept;
  const LocalName& name() const noexcept;

  struct State;  // defined in ud_listener.cpp

 private:
  int accept_waiting_in_kernel(Timeout timeout, std::error_code& ec);
  int accept_waiting_in_poll(Timeout timeout, std::error_code& ec);
  std::unique_ptr<State> state_;
};

/// What a listener of `Socket` connections calls itself in the errors it throws.
template <typename Socket>
inline constexpr std::string_view listener_type = "BasicUdListener";
template <>
inline constexpr std::string_view listener_type<UdStream> = "UdListener";
template <>
inline constexpr std::string_view listener_type<UdSeqpacket> = "UdSeqpacketListener";
template <>
inline constexpr std::string_view listener_type<FramedStream> = "BasicUdListener<FramedStream>";

/// Throws localsock::Error for `ec`, naming the operation `what` of a listener of
/// `Socket` connections (the text is made on the error path only).
template <typename Socket>
void throw_listener_error(const std::error_code& ec, std::string_view what, std::string_view name) {
  if (ec)
    localsock::detail::throw_if(ec, std::string(listener_type<Socket>) + "::" + std::string(what),
                                name);
}

}  // namespace detail

/// A listening Unix-domain socket producing connections of type `Socket` (UdStream or
/// UdSeqpacket).
///
/// A listener bound to a filesystem path removes its socket file when it is closed, but
/// only while the path still refers to the socket it created. It holds the file's
/// directory open (O_PATH on Linux) so that a relative path still leads there after the
/// process changed its working directory.
///
/// @note Linux: abstract names live in one namespace per socket type, so a SOCK_STREAM
/// listener (bytes, frames) and a SOCK_SEQPACKET one could otherwise hold the same name.
/// A listener on an abstract name therefore also holds the name in the other type's
/// namespace, with a bound socket that never listens (one descriptor more per
/// listener, closed with it): a listener of either type on a live name is refused
/// (`errc::name_in_use`), and a client of the other type is told
/// `errc::mode_mismatch`.
/// @par Thread Safety: `close()` may be called from any thread, also while another
/// thread is blocked in `accept()`, which then fails with `errc::listener_closed`; once
/// close() has returned, the listener may be destroyed at once, even while that accept
/// is still on its way out. Other members need external synchronisation.
template <typename Socket>
class BasicUdListener {
 public:
  BasicUdListener() noexcept = default;

  /// Creates a listener bound to `name`.
  /// @throws localsock::Error: `errc::name_in_use` when a live listener holds the name,
  /// `errc::stale_name` / `errc::not_a_socket` for what is left at a path.
  static BasicUdListener bind(const LocalName& name, const UdListenerOptions& options = {}) {
    std::error_code ec;
    auto l = bind(name, options, ec);
    detail::throw_listener_error<Socket>(ec, "bind", name.str());
    return l;
  }
  static BasicUdListener bind(const LocalName& name, const UdListenerOptions& options,
                              std::error_code& ec) {
    BasicUdListener l;
    l.core_ = detail::ListenerCore::bind(name, Socket::socket_type, options, ec);
    return l;
  }

  /// Waits for a client (or `errc::would_block` when nonblocking).
  Socket accept(std::error_code& ec) { return accept_for(infinite, ec); }
  Socket accept() {
    // A copy: once accept returns, another thread may have closed and destroyed this
    // listener.
    const LocalName name = core_.name();  // shares its text
    std::error_code ec;
    Socket s = accept(ec);
    detail::throw_listener_error<Socket>(ec, "accept", name.str());
    return s;
  }
  /// Waits at most `timeout` for a client; `errc::timed_out` after it.
  Socket accept_for(Timeout timeout, std::error_code& ec) {
    // Taken before, as in accept(); a copy shares the name's text.
    const LocalName name = core_.name();
    const int fd = core_.accept(timeout, ec);
    if (fd < 0) return Socket();
    // A connection that begins with a greeting (FramedStream) is made by the socket type.
    if constexpr (requires { Socket::accepted(fd, name); })
      return Socket::accepted(fd, name);
    else
      return Socket(fd, name);
  }
  Socket accept_for(Timeout timeout) {
    const LocalName name = core_.name();  // as in accept(): shares its text
    std::error_code ec;
    Socket s = accept_for(timeout, ec);
    detail::throw_listener_error<Socket>(ec, "accept_for", name.str());
    return s;
  }

  /// Switches accept() between waiting and returning `errc::would_block`;
  /// `errc::listener_closed` once closed.
  void set_nonblocking(bool on, std::error_code& ec) noexcept { core_.set_nonblocking(on, ec); }
  void set_nonblocking(bool on) {
    std::error_code ec;
    set_nonblocking(on, ec);
    detail::throw_listener_error<Socket>(ec, "set_nonblocking", name().str());
  }
  /// Stops the listener: wakes blocked accepts, closes the socket and removes the socket
  /// file it created. Idempotent; safe from any thread.
  void close() noexcept { core_.close(); }
  bool is_open() const noexcept { return core_.is_open(); }
  int native_handle() const noexcept { return core_.native_handle(); }
  const LocalName& name() const noexcept { return core_.name(); }

 private:
  detail::ListenerCore core_;
};

/// A listener producing UdStream connections.
using UdListener = BasicUdListener<UdStream>;
/// A listener producing UdSeqpacket connections.
using UdSeqpacketListener = BasicUdListener<UdSeqpacket>;

}  // namespace localsock::posix
