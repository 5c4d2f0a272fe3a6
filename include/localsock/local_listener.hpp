// SPDX-License-Identifier: MIT
#pragma once

#include <localsock/detail/backend.hpp>
#include <localsock/error.hpp>
#include <localsock/local_socket.hpp>
#include <localsock/name.hpp>

#include <system_error>

namespace localsock {

/// Listens on a LocalName and accepts LocalSocket connections.
///
/// A listener bound to a filesystem path removes the socket file it created when it goes
/// away, and only that file. Move-only; the destructor closes.
/// @par Thread Safety: `close()` may be called from any thread, also while another
/// thread is blocked in `accept()`, which then fails with `errc::listener_closed`.
class LocalListener {
 public:
  /// The backend's listener type (posix::UdListener, or win::PipeListener).
  using Native = detail::PlatformListener;

  /// A listener bound to nothing.
  LocalListener() noexcept = default;
  /// Wraps a backend listener.
  explicit LocalListener(Native native) noexcept : native_(std::move(native)) {}

  /// Starts listening on `name`.
  /// @throws localsock::Error; `errc::name_in_use` when a live listener holds the name.
  static LocalListener bind(const LocalName& name);
  /// As above, reporting through `ec`.
  static LocalListener bind(const LocalName& name, std::error_code& ec);

  /// Waits for a client and returns the connection.
  /// @throws localsock::Error; `errc::listener_closed` after close().
  LocalSocket accept();
  LocalSocket accept(std::error_code& ec);

  /// Stops listening: wakes blocked accepts and releases the name. Idempotent.
  void close() noexcept { native_.close(); }

  /// True until close().
  bool is_open() const noexcept { return native_.is_open(); }
  /// The name listened on.
  const LocalName& name() const noexcept { return native_.name(); }

  /// The backend object, for native features.
  Native& native() noexcept { return native_; }

 private:
  Native native_;
};

}  // namespace localsock
