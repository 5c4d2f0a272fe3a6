// SPDX-License-Identifier: MIT
#pragma once

#include <localsock/error.hpp>
#include <localsock/export.hpp>
#include <localsock/incoming.hpp>
#include <localsock/local_socket.hpp>
#include <localsock/name.hpp>
#include <localsock/options.hpp>
#include <localsock/types.hpp>

#include <memory>
#include <system_error>
#include <type_traits>

namespace localsock {

namespace detail {
/// The backend listener behind a listener of mode `M`; defined inside the library.
template <Mode M>
struct ListenerImpl;
}  // namespace detail

/// Listens on a LocalName and accepts LocalSocket byte streams (LocalMessageListener:
/// LocalMessageSocket connections).
///
/// A listener bound to a filesystem path removes the socket file it created when it goes
/// away, and only that file. Move-only; the destructor closes.
/// @par Thread Safety: `close()` may be called from any thread, also while another
/// thread is blocked in `accept()`, which then fails with `errc::listener_closed`; once
/// close() has returned, the listener may be destroyed at once, even while that accept
/// is still on its way out.
class LOCALSOCK_API LocalListener {
 public:
  using Socket = LocalSocket;
  static constexpr Mode mode = Mode::bytes;

  /// A listener bound to nothing.
  LocalListener() noexcept;
  LocalListener(LocalListener&&) noexcept;
  LocalListener& operator=(LocalListener&&) noexcept;
  ~LocalListener();

  /// Starts listening with `options` (a LocalName converts to options).
  /// @throws localsock::Error: `errc::name_in_use` when a live listener holds the name;
  /// on Unix `errc::stale_name` / `errc::not_a_socket` for what is left at a path.
  static LocalListener bind(const ListenerOptions& options, std::error_code& ec);
  static LocalListener bind(const ListenerOptions& options);

  /// Waits for a client and returns the connection (nonblocking: `errc::would_block`).
  /// @throws localsock::Error; `errc::listener_closed` after close().
  LocalSocket accept(std::error_code& ec);
  LocalSocket accept();
  /// Waits at most `timeout` for a client; `errc::timed_out` after it.
  LocalSocket accept_for(Timeout timeout, std::error_code& ec);
  LocalSocket accept_for(Timeout timeout);

  /// Endless accepting for a range-for, until the listener is closed.
  Incoming<LocalListener> incoming() noexcept { return Incoming<LocalListener>(*this); }

  /// Switches accept() between waiting and returning `errc::would_block`;
  /// `errc::listener_closed` once closed.
  void set_nonblocking(bool on, std::error_code& ec) noexcept;
  void set_nonblocking(bool on);
  /// Stops listening: wakes blocked accepts and releases the name. Idempotent.
  void close() noexcept;
  /// True until close().
  bool is_open() const noexcept;
  /// The name listened on; empty for a listener bound to nothing.
  const LocalName& name() const noexcept;

 private:
  friend struct detail::FacadeAccess;
  explicit LocalListener(std::unique_ptr<detail::ListenerImpl<Mode::bytes>> impl) noexcept;
  std::unique_ptr<detail::ListenerImpl<Mode::bytes>> impl_;
};

/// Listens on a LocalName and accepts LocalMessageSocket connections (see LocalListener).
class LOCALSOCK_API LocalMessageListener {
 public:
  using Socket = LocalMessageSocket;
  static constexpr Mode mode = Mode::messages;

  /// A listener bound to nothing.
  LocalMessageListener() noexcept;
  LocalMessageListener(LocalMessageListener&&) noexcept;
  LocalMessageListener& operator=(LocalMessageListener&&) noexcept;
  ~LocalMessageListener();

  /// Starts listening with `options` (see LocalListener::bind).
  static LocalMessageListener bind(const ListenerOptions& options, std::error_code& ec);
  static LocalMessageListener bind(const ListenerOptions& options);

  /// Waits for a client and returns the connection (nonblocking: `errc::would_block`).
  /// @throws localsock::Error; `errc::listener_closed` after close().
  LocalMessageSocket accept(std::error_code& ec);
  LocalMessageSocket accept();
  /// Waits at most `timeout` for a client; `errc::timed_out` after it.
  LocalMessageSocket accept_for(Timeout timeout, std::error_code& ec);
  LocalMessageSocket accept_for(Timeout timeout);

  /// Endless accepting for a range-for, until the listener is closed.
  Incoming<LocalMessageListener> incoming() noexcept {
    return Incoming<LocalMessageListener>(*this);
  }

  /// Switches accept() between waiting and returning `errc::would_block`;
  /// `errc::listener_closed` once closed.
  void set_nonblocking(bool on, std::error_code& ec) noexcept;
  void set_nonblocking(bool on);
  /// Stops listening: wakes blocked accepts and releases the name. Idempotent.
  void close() noexcept;
  /// True until close().
  bool is_open() const noexcept;
  /// The name listened on; empty for a listener bound to nothing.
  const LocalName& name() const noexcept;

 private:
  friend struct detail::FacadeAccess;
  explicit LocalMessageListener(
      std::unique_ptr<detail::ListenerImpl<Mode::messages>> impl) noexcept;
  std::unique_ptr<detail::ListenerImpl<Mode::messages>> impl_;
};

/// The listener type of mode `M`, for code written once for both modes.
template <Mode M>
using BasicLocalListener =
    std::conditional_t<M == Mode::bytes, LocalListener, LocalMessageListener>;

}  // namespace localsock
