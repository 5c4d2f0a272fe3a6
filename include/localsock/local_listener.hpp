// SPDX-License-Identifier: MIT
#pragma once

#include <localsock/detail/backend.hpp>
#include <localsock/error.hpp>
#include <localsock/incoming.hpp>
#include <localsock/local_socket.hpp>
#include <localsock/name.hpp>
#include <localsock/options.hpp>

#include <system_error>

namespace localsock {

/// Listens on a LocalName and accepts connections: `LocalListener` gives LocalSocket
/// byte streams, `LocalMessageListener` gives LocalMessageSocket connections.
///
/// A listener bound to a filesystem path removes the socket file it created when it goes
/// away, and only that file. Move-only; the destructor closes.
/// @par Thread Safety: `close()` may be called from any thread, also while another
/// thread is blocked in `accept()`, which then fails with `errc::listener_closed`; once
/// close() has returned, the listener may be destroyed at once, even while that accept
/// is still on its way out.
template <Mode M>
class BasicLocalListener {
 public:
  /// The backend's listener type (posix::BasicUdListener, or win::PipeListener).
  using Native = detail::PlatformListener<M>;
  using Socket = BasicLocalSocket<M>;
  static constexpr Mode mode = M;

  /// A listener bound to nothing.
  BasicLocalListener() noexcept = default;
  /// Wraps a backend listener.
  explicit BasicLocalListener(Native native) noexcept : native_(std::move(native)) {}

  /// Starts listening with `options` (a LocalName converts to options).
  /// @throws localsock::Error: `errc::name_in_use` when a live listener holds the name;
  /// on Unix `errc::stale_name` / `errc::not_a_socket` for what is left at a path.
  static BasicLocalListener bind(const ListenerOptions& options, std::error_code& ec) {
    return BasicLocalListener(detail::bind_listener<M>(options, ec));
  }
  static BasicLocalListener bind(const ListenerOptions& options) {
    return detail::or_throw("LocalListener::bind", options.name().str(),
                            [&](auto& ec) { return bind(options, ec); });
  }

  /// Waits for a client and returns the connection (nonblocking: `errc::would_block`).
  /// @throws localsock::Error; `errc::listener_closed` after close().
  Socket accept(std::error_code& ec) { return Socket(native_.accept(ec)); }
  Socket accept() {
    // A copy: once accept returns, another thread may have closed and destroyed this
    // listener.
    const std::string name_copy = name().str();
    return detail::or_throw("LocalListener::accept", name_copy, [&](auto& ec) { return accept(ec); });
  }
  /// Waits at most `timeout` for a client; `errc::timed_out` after it.
  Socket accept_for(Timeout timeout, std::error_code& ec) { return Socket(native_.accept_for(timeout, ec)); }

  /// Endless accepting for a range-for, until the listener is closed.
  Incoming<BasicLocalListener> incoming() noexcept { return Incoming<BasicLocalListener>(*this); }

  /// Switches accept() between waiting and returning `errc::would_block`.
  void set_nonblocking(bool on) noexcept { native_.set_nonblocking(on); }
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

/// Accepts LocalSocket byte streams.
using LocalListener = BasicLocalListener<Mode::bytes>;
/// Accepts LocalMessageSocket connections.
using LocalMessageListener = BasicLocalListener<Mode::messages>;

}  // namespace localsock
