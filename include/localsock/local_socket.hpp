// SPDX-License-Identifier: MIT
#pragma once

#include <localsock/detail/backend.hpp>
#include <localsock/error.hpp>
#include <localsock/name.hpp>
#include <localsock/types.hpp>

#include <cstddef>
#include <system_error>

namespace localsock {

/// A connected local byte stream: a Unix-domain stream socket, or a Windows named pipe.
///
/// Move-only; the destructor closes. Every fallible member has a throwing overload
/// (localsock::Error) and a `std::error_code&` overload. No operation raises SIGPIPE:
/// writing to a peer that has gone reports `errc::peer_closed`.
/// @par Thread Safety: one thread may read while another writes; other concurrent use
/// of one object needs external synchronisation.
class LocalSocket {
 public:
  /// The backend's stream type (posix::UdStream, or win::DuplexBytePipeStream).
  using Native = detail::PlatformStream;

  /// A socket holding no connection.
  LocalSocket() noexcept = default;
  /// Wraps a connected backend stream.
  explicit LocalSocket(Native native) noexcept : native_(std::move(native)) {}

  /// Connects to the listener at `name`.
  /// @throws localsock::Error; compare with `errc::no_listener` when nobody listens.
  /// @note Windows: when every pipe instance is busy, waits up to 10 s for one.
  static LocalSocket connect(const LocalName& name);
  /// As above, reporting through `ec`.
  static LocalSocket connect(const LocalName& name, std::error_code& ec);

  /// Reads at least one byte, blocking until some arrive.
  /// @returns the number of bytes read; 0 at end of stream or for an empty buffer.
  std::size_t read_some(MutableBuffer buf);
  std::size_t read_some(MutableBuffer buf, std::error_code& ec) noexcept;

  /// Writes at least one byte, blocking until the connection takes some.
  /// @returns the number of bytes written.
  std::size_t write_some(ConstBuffer buf);
  std::size_t write_some(ConstBuffer buf, std::error_code& ec) noexcept;

  /// Reads exactly `buf.size()` bytes.
  /// @throws localsock::Error with `errc::peer_closed` if the stream ends first; the
  /// ec overload returns the bytes that did arrive.
  std::size_t read_exact(MutableBuffer buf);
  std::size_t read_exact(MutableBuffer buf, std::error_code& ec) noexcept;

  /// Writes all of `buf`, completing partial writes.
  /// @returns `buf.size()`, or (ec overload) the bytes written before an error.
  std::size_t write_all(ConstBuffer buf);
  std::size_t write_all(ConstBuffer buf, std::error_code& ec) noexcept;

  /// Ends one or both directions.
  /// @note Windows: named pipes have no half-close; `Shutdown::read` and
  /// `Shutdown::write` report `errc::not_supported`, `Shutdown::both` ends the connection.
  void shutdown(Shutdown how);
  void shutdown(Shutdown how, std::error_code& ec) noexcept;

  /// Closes the connection. Idempotent; never blocks.
  void close() noexcept { native_.close(); }

  /// True while the socket holds a connection.
  bool is_open() const noexcept { return native_.is_open(); }
  /// The name connected to (client) or accepted on (server).
  const std::string& name() const noexcept { return native_.name(); }

  /// The backend object, for native features.
  Native& native() noexcept { return native_; }
  const Native& native() const noexcept { return native_; }

 private:
  Native native_;
};

}  // namespace localsock
