// SPDX-License-Identifier: MIT
#pragma once

#include <localsock/error.hpp>
#include <localsock/name.hpp>
#include <localsock/types.hpp>

#include <cstddef>
#include <memory>
#include <string>
#include <system_error>

/// The Unix-domain-socket backend: public API for Unix programs that want the native
/// features, and the base of the portable facade on Unix.
namespace localsock::posix {

/// A connected Unix-domain stream socket (SOCK_STREAM). Move-only; the destructor closes.
///
/// Every descriptor is close-on-exec; writes never raise SIGPIPE (a vanished peer is
/// reported as `errc::peer_closed`); EINTR is retried.
/// @par Thread Safety: one thread may read while another writes; other concurrent use of
/// one object needs external synchronisation.
class UdStream {
 public:
  /// A stream holding no socket.
  UdStream() noexcept = default;
  /// Adopts a connected stream socket descriptor; `name` is used in error messages.
  explicit UdStream(int fd, std::string name = {}) noexcept;
  UdStream(UdStream&& other) noexcept;
  UdStream& operator=(UdStream&& other) noexcept;
  UdStream(const UdStream&) = delete;
  UdStream& operator=(const UdStream&) = delete;
  ~UdStream();

  /// Connects to the listener at `name`, blocking until it accepts into its backlog.
  /// @throws localsock::Error; `errc::no_listener` when nobody listens there.
  static UdStream connect(const LocalName& name);
  /// As above, reporting through `ec`.
  static UdStream connect(const LocalName& name, std::error_code& ec);

  /// Reads at least one byte, blocking until some are available.
  /// @returns the number of bytes read; 0 at end of stream (or for an empty buffer).
  std::size_t read_some(MutableBuffer buf, std::error_code& ec) noexcept;
  /// @throws localsock::Error
  std::size_t read_some(MutableBuffer buf);

  /// Writes at least one byte, blocking until the socket can take some.
  /// @returns the number of bytes written.
  std::size_t write_some(ConstBuffer buf, std::error_code& ec) noexcept;
  /// @throws localsock::Error
  std::size_t write_some(ConstBuffer buf);

  /// Ends one or both directions of the connection.
  void shutdown(Shutdown how, std::error_code& ec) noexcept;
  /// @throws localsock::Error
  void shutdown(Shutdown how);

  /// Closes the socket. Idempotent.
  void close() noexcept;

  /// True while the stream holds a socket.
  bool is_open() const noexcept { return fd_ >= 0; }
  /// The socket descriptor, or -1.
  int native_handle() const noexcept { return fd_; }
  /// Gives up ownership of the descriptor and returns it.
  int release() noexcept;
  /// The name this stream was connected to or accepted from (for messages).
  const std::string& name() const noexcept { return name_; }

 private:
  int fd_ = -1;
  std::string name_;
};

/// Options of a UdListener.
struct UdListenerOptions {
  /// Length of the kernel's queue of connections not yet accepted.
  int backlog = 128;
  /// When a socket file is left at the path by a listener that no longer runs (nobody
  /// accepts on it), remove it and bind. Off by default: the bind then fails with
  /// `errc::stale_name`. A live listener's socket and a path that is not a socket are
  /// never removed.
  bool reclaim_stale = false;
};

/// A listening Unix-domain stream socket.
///
/// A listener bound to a filesystem path removes its socket file when it is closed, but
/// only while the path still refers to the socket it created.
/// @par Thread Safety: `close()` may be called from any thread, also while another
/// thread is blocked in `accept()`, which then fails with `errc::listener_closed`.
/// Other members need external synchronisation.
class UdListener {
 public:
  UdListener() noexcept;
  UdListener(UdListener&&) noexcept;
  UdListener& operator=(UdListener&&) noexcept;
  ~UdListener();

  /// Creates a listener bound to `name`.
  /// @throws localsock::Error: `errc::name_in_use` when a live listener holds the name,
  /// `errc::stale_name` / `errc::not_a_socket` for what is left at a path.
  static UdListener bind(const LocalName& name, const UdListenerOptions& options = {});
  /// As above, reporting through `ec`.
  static UdListener bind(const LocalName& name, const UdListenerOptions& options,
                         std::error_code& ec);

  /// Waits for a client and returns the connection.
  /// @throws localsock::Error; `errc::listener_closed` once `close()` was called.
  UdStream accept();
  /// As above, reporting through `ec`.
  UdStream accept(std::error_code& ec);

  /// Stops the listener: wakes blocked `accept` calls, closes the socket and removes
  /// the socket file it created. Idempotent; safe from any thread.
  void close() noexcept;

  /// True until `close()`.
  bool is_open() const noexcept;
  /// The listening descriptor, or -1.
  int native_handle() const noexcept;
  /// The name the listener is bound to.
  const LocalName& name() const noexcept;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace localsock::posix
