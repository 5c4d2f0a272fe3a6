// SPDX-License-Identifier: MIT
#pragma once

#include <localsock/error.hpp>
#include <localsock/export.hpp>
#include <localsock/name.hpp>
#include <localsock/options.hpp>
#include <localsock/peer.hpp>
#include <localsock/types.hpp>

#include <concepts>
#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>
#include <vector>

namespace localsock {

class LocalSocket;
class LocalMessageSocket;

namespace detail {

/// The backend connection behind a socket of mode `M`; defined inside the library.
template <Mode M>
struct SocketImpl;
/// The library's way into a facade object (wrapping and unwrapping backend objects).
struct FacadeAccess;

/// The bytes of a string, for the string conveniences.
inline ConstBuffer text_bytes(std::string_view s) noexcept {
  return std::as_bytes(std::span<const char>(s.data(), s.size()));
}
inline MutableBuffer text_bytes(std::string& s) noexcept {
  return std::as_writable_bytes(std::span<char>(s.data(), s.size()));
}

/// Every operation of a byte-stream connection, written once: LocalSocket and the two
/// halves of a split one each show the ones that fit them (using-declarations).
class LOCALSOCK_API StreamOps {
 protected:
  StreamOps() noexcept = default;
  // Move-only: a copy would share one connection between two owners.
  StreamOps(const StreamOps&) = delete;
  StreamOps& operator=(const StreamOps&) = delete;
  StreamOps(StreamOps&&) noexcept = default;
  StreamOps& operator=(StreamOps&&) noexcept = default;
  ~StreamOps() = default;
  explicit StreamOps(std::shared_ptr<SocketImpl<Mode::bytes>> io) noexcept : io_(std::move(io)) {}

  /// Reads at least one byte, blocking until some arrive (or the read timeout passes:
  /// `errc::timed_out`; nonblocking: `errc::would_block`).
  /// @returns the number of bytes read; 0 at end of stream or for an empty buffer.
  std::size_t read_some(MutableBuffer buf, std::error_code& ec) noexcept;
  std::size_t read_some(MutableBuffer buf);
  /// Reads at least one byte and at most `max_size` into `out`, which then holds exactly
  /// the bytes read (empty at end of stream). `max_size` is a limit, not a size the
  /// string is made: one call takes at most 64 KiB (more stays queued for the next call),
  /// so any limit, SIZE_MAX too, is fine. `out` keeps its capacity from call to call, so
  /// a loop over one string does not allocate. The ec overload reports failures through
  /// `ec` (`std::errc::not_enough_memory` if the string cannot grow), never by throwing.
  std::size_t read_some(std::string& out, std::size_t max_size, std::error_code& ec);
  std::size_t read_some(std::string& out, std::size_t max_size);
  /// Reads exactly `buf.size()` bytes.
  /// @throws localsock::Error with `errc::peer_closed` if the stream ends first; the
  /// ec overload returns the bytes that did arrive.
  std::size_t read_exact(MutableBuffer buf, std::error_code& ec) noexcept;
  std::size_t read_exact(MutableBuffer buf);

  /// Writes at least one byte, blocking until the connection takes some.
  std::size_t write_some(ConstBuffer buf, std::error_code& ec) noexcept;
  std::size_t write_some(ConstBuffer buf);
  /// Writes all of `buf`, completing partial writes.
  /// @returns `buf.size()`, or (ec overload) every byte written before the error, also
  /// those of the call that failed (a write that timed out after a partial transfer):
  /// the peer can read exactly that many, so a retry resumes from there.
  std::size_t write_all(ConstBuffer buf, std::error_code& ec) noexcept;
  std::size_t write_all(ConstBuffer buf);
  /// The same for text: `s.write_all("ping")`, `s.write_all(std::string(...))`.
  /// A char array is sent by its size, less one terminating '\0' when its last char is
  /// '\0': a string literal sends its text (`"a\0b"`: 3 bytes), binary data in a char
  /// array is sent whole, zeros included, and an array without a zero is never read past
  /// its end. A std::string, a std::string_view or another type convertible to
  /// string_view is sent as that view; a `const char*` is a C string (up to its first
  /// '\0'). See detail::text_of.
  /// (Templates, so that `write_all({})` still means an empty buffer.)
  template <std::convertible_to<std::string_view> Text>
  std::size_t write_some(const Text& text, std::error_code& ec) noexcept {
    return write_some(text_bytes(detail::text_of(text)), ec);
  }
  template <std::convertible_to<std::string_view> Text>
  std::size_t write_some(const Text& text) {
    return write_some(text_bytes(detail::text_of(text)));
  }
  template <std::convertible_to<std::string_view> Text>
  std::size_t write_all(const Text& text, std::error_code& ec) noexcept {
    return write_all(text_bytes(detail::text_of(text)), ec);
  }
  template <std::convertible_to<std::string_view> Text>
  std::size_t write_all(const Text& text) {
    return write_all(text_bytes(detail::text_of(text)));
  }

  /// Ends one or both directions.
  /// @note Windows: named pipes have no half-close; `Shutdown::read` and
  /// `Shutdown::write` report `errc::not_supported`, `Shutdown::both` ends the connection.
  void shutdown(Shutdown how, std::error_code& ec) noexcept;
  void shutdown(Shutdown how);
  /// Receives and sends fail with `errc::would_block` instead of waiting (Windows: sends
  /// still wait for the pipe to take the data).
  void set_nonblocking(bool on, std::error_code& ec) noexcept;
  void set_nonblocking(bool on);
  /// The longest a receive waits; `errc::timed_out` after it, and nothing is lost.
  /// `infinite` (the default) waits forever.
  void set_read_timeout(Timeout t, std::error_code& ec) noexcept;
  void set_read_timeout(Timeout t);
  /// The longest a send waits for the peer to make room; `errc::timed_out` after it.
  /// A write that times out reports exactly the bytes the peer can read (resume after
  /// them).
  void set_write_timeout(Timeout t, std::error_code& ec) noexcept;
  void set_write_timeout(Timeout t);
  /// Who is at the other end: process id and user, as the system vouches for them.
  PeerInfo peer_info(std::error_code& ec) const;
  PeerInfo peer_info() const;

  /// Closes the connection. Idempotent; never blocks.
  void close() noexcept;
  /// The name connected to (client) or accepted on (server); empty without a connection.
  const LocalName& name() const noexcept;
  /// True while a connection is held.
  bool is_open() const noexcept;

  std::shared_ptr<SocketImpl<Mode::bytes>> io_;
};

/// Every operation of a message connection, written once: LocalMessageSocket and the
/// two halves of a split one each show the ones that fit them.
class LOCALSOCK_API MessageOps {
 protected:
  MessageOps() noexcept = default;
  // Move-only: a copy would share one connection between two owners.
  MessageOps(const MessageOps&) = delete;
  MessageOps& operator=(const MessageOps&) = delete;
  MessageOps(MessageOps&&) noexcept = default;
  MessageOps& operator=(MessageOps&&) noexcept = default;
  ~MessageOps() = default;
  explicit MessageOps(std::shared_ptr<SocketImpl<Mode::messages>> io) noexcept
      : io_(std::move(io)) {}

  /// Receives one whole message into `buf`. A message larger than `buf` fails with
  /// `errc::message_truncated`, returns the size it needs and stays queued: nothing is
  /// lost. A zero-length message has size 0; the end of the stream sets `end`.
  ReceiveResult recv(MutableBuffer buf, std::error_code& ec) noexcept;
  ReceiveResult recv(MutableBuffer buf);
  /// Receives one message into `out`, resized to fit. A message larger than `max_size`
  /// is taken off the connection, discarded, and reported as `errc::message_too_large`
  /// with its size; the next message can be received. `max_size` is a limit, never a
  /// reservation: `out` grows as the message's bytes arrive. Memory that cannot be had
  /// is `std::errc::not_enough_memory` (the message is not lost).
  ReceiveResult recv(std::vector<std::byte>& out, std::size_t max_size, std::error_code& ec);
  ReceiveResult recv(std::vector<std::byte>& out, std::size_t max_size);
  /// Receives one message into `out`, resized to fit, as the vector overload: a message
  /// larger than `max_size` is discarded and reported as `errc::message_too_large`;
  /// `out` is never cut and, reused, does not allocate once its capacity suffices. Where
  /// the system holds a whole message before it is received (seqpacket, Windows pipes)
  /// its size is asked first (peek_size); a framed message grows `out` as its bytes
  /// arrive. Not for two threads receiving on one connection at once (the peek and the
  /// receive would see different messages).
  ReceiveResult recv(std::string& out, std::size_t max_size, std::error_code& ec);
  ReceiveResult recv(std::string& out, std::size_t max_size);
  /// Waits for the next message and returns its size without taking it.
  ReceiveResult peek_size(std::error_code& ec) noexcept;
  ReceiveResult peek_size();

  /// Sends `msg` as one message, whole or not at all. A message over max_message_size()
  /// is `errc::message_too_large`; the throwing overload states the limit in its text.
  void send(ConstBuffer msg, std::error_code& ec) noexcept;
  void send(ConstBuffer msg);
  /// The same for text: one `send("ping")` is one message of 4 bytes.
  /// A char array is one message of its size, less one terminating '\0' when its last
  /// char is '\0': a string literal is its text (`send("a\0b")`: 3 bytes, `send("")`:
  /// an empty message), binary data in a char array is sent whole, zeros included, and
  /// an array without a zero is never read past its end. A std::string, a
  /// std::string_view or another type convertible to string_view is sent as that view;
  /// a `const char*` is a C string (up to its first '\0'). See detail::text_of.
  /// (Templates, so that `send({})` still means an empty message.)
  template <std::convertible_to<std::string_view> Text>
  void send(const Text& text, std::error_code& ec) noexcept {
    send(text_bytes(detail::text_of(text)), ec);
  }
  template <std::convertible_to<std::string_view> Text>
  void send(const Text& text) {
    send(text_bytes(detail::text_of(text)));
  }
  /// The largest message one send carries.
  /// @note Linux: bounded by the send buffer a socket may have (twice net.core.wmem_max
  /// for an unprivileged process) and by the kernel's limit on one message (about 4 MiB),
  /// measured once per process. Other Unix systems (frames over a stream): 4 GiB - 1.
  /// @note Windows: 2 GiB - 1 (a message is one WriteFile).
  std::size_t max_message_size(std::error_code& ec) noexcept;
  std::size_t max_message_size();
  /// Sends what an earlier nonblocking send() left of its message. Only the framed
  /// transport (MessageTransport::framed: Unix systems without seqpacket, or chosen) ever leaves
  /// anything: there a nonblocking send() that the socket took in part succeeds, and the
  /// rest of that message goes out first on the next send() or on flush(). A
  /// nonblocking flush() that cannot finish reports `errc::would_block`: wait until the
  /// socket is writable and call it again while send_pending() is not zero. Elsewhere a
  /// message is sent whole or not at all, and flush() does nothing.
  void flush(std::error_code& ec) noexcept;
  void flush();
  /// Bytes of an accepted message still to be sent by flush() (always 0 where messages
  /// are sent whole: seqpacket, Windows pipes).
  std::size_t send_pending() const noexcept;

  /// Ends one or both directions. Every message send() took goes before the end: where
  /// a send() left part of a message (send_pending(), framed transport) the rest is
  /// sent first, as flush() does; when it cannot all go now, the error is flush()'s
  /// (`errc::would_block`, or `errc::timed_out` when the write timeout passes) and
  /// nothing is shut down: call again.
  /// @note Windows: named pipes have no half-close; `Shutdown::read` and
  /// `Shutdown::write` report `errc::not_supported`, `Shutdown::both` ends the connection.
  void shutdown(Shutdown how, std::error_code& ec) noexcept;
  void shutdown(Shutdown how);
  /// Receives and sends fail with `errc::would_block` instead of waiting (Windows: sends
  /// still wait for the pipe to take the data).
  void set_nonblocking(bool on, std::error_code& ec) noexcept;
  void set_nonblocking(bool on);
  /// The longest a receive waits; `errc::timed_out` after it, and nothing is lost.
  void set_read_timeout(Timeout t, std::error_code& ec) noexcept;
  void set_read_timeout(Timeout t);
  /// The longest a send waits for the peer to make room; `errc::timed_out` after it.
  /// A message send that times out was not sent, except on Windows for a message larger
  /// than the pipe's buffer, and with frames over a stream (Unix systems without
  /// seqpacket) for a message the socket took in part: the peer may have read part of
  /// it, so the sending side then fails for good (`std::errc::connection_aborted`; see
  /// docs/platform-differences.md).
  void set_write_timeout(Timeout t, std::error_code& ec) noexcept;
  void set_write_timeout(Timeout t);
  /// Who is at the other end: process id and user, as the system vouches for them.
  PeerInfo peer_info(std::error_code& ec) const;
  PeerInfo peer_info() const;

  /// Closes the connection. Idempotent; never blocks.
  void close() noexcept;
  /// The name connected to (client) or accepted on (server); empty without a connection.
  const LocalName& name() const noexcept;
  /// True while a connection is held.
  bool is_open() const noexcept;

  std::shared_ptr<SocketImpl<Mode::messages>> io_;
};

}  // namespace detail

/// A connected local byte stream: a Unix-domain stream socket, or a Windows byte-mode
/// named pipe. (Whole messages: LocalMessageSocket.)
///
/// Move-only; the destructor closes. Every fallible member has a throwing overload
/// (localsock::Error) and a `std::error_code&` overload. No operation raises SIGPIPE:
/// writing to a peer that has gone reports `errc::peer_closed`. A socket holding no
/// connection — default-constructed, moved from, or closed — reports
/// `errc::not_connected` from every operation, alike on every platform.
/// @par Thread Safety: one thread may receive while another sends (or `split()` the
/// socket into halves for two threads); other concurrent use of one object needs
/// external synchronisation.
class LOCALSOCK_API LocalSocket : private detail::StreamOps {
 public:
  static constexpr Mode mode = Mode::bytes;
  class ReceiveHalf;
  class SendHalf;

  /// A socket holding no connection.
  LocalSocket() noexcept = default;

  /// Connects to the listener named in `options` (a LocalName converts to options).
  /// @throws localsock::Error: `errc::no_listener` when nobody listens (at once),
  /// `errc::mode_mismatch` when the listener is of the other mode (bytes or messages;
  /// finding that out, on the error path only, may show that listener a client that
  /// connects and leaves at once),
  /// `errc::timed_out` when the listener stays busy past the options' timeout.
  static LocalSocket connect(const ConnectOptions& options, std::error_code& ec);
  static LocalSocket connect(const ConnectOptions& options);

  using StreamOps::read_exact;
  using StreamOps::read_some;
  using StreamOps::write_all;
  using StreamOps::write_some;

  using StreamOps::peer_info;
  using StreamOps::set_nonblocking;
  using StreamOps::set_read_timeout;
  using StreamOps::set_write_timeout;
  using StreamOps::shutdown;

  /// Splits the socket into a receiving and a sending half, each owned on its own and
  /// usable from its own thread. The socket becomes empty; the connection closes when
  /// both halves are gone, unless they are reunited.
  std::pair<ReceiveHalf, SendHalf> split() noexcept;
  /// Joins the two halves of one socket again. Halves of different sockets are
  /// `std::errc::invalid_argument`, and both stay as they were. The halves of a socket
  /// holding no connection (two empty halves) give an empty socket, without error.
  static LocalSocket reunite(ReceiveHalf& r, SendHalf& s, std::error_code& ec) noexcept;
  static LocalSocket reunite(ReceiveHalf& r, SendHalf& s);

  using StreamOps::close;
  using StreamOps::is_open;
  using StreamOps::name;

 private:
  friend struct detail::FacadeAccess;
  explicit LocalSocket(std::shared_ptr<detail::SocketImpl<Mode::bytes>> io) noexcept
      : StreamOps(std::move(io)) {}
};

/// The receiving half of a split LocalSocket.
class LOCALSOCK_API LocalSocket::ReceiveHalf : private detail::StreamOps {
 public:
  ReceiveHalf() noexcept = default;
  using StreamOps::is_open;
  using StreamOps::read_exact;
  using StreamOps::read_some;

 private:
  friend class LocalSocket;
  explicit ReceiveHalf(std::shared_ptr<detail::SocketImpl<Mode::bytes>> io) noexcept
      : StreamOps(std::move(io)) {}
};

/// The sending half of a split LocalSocket.
class LOCALSOCK_API LocalSocket::SendHalf : private detail::StreamOps {
 public:
  SendHalf() noexcept = default;
  using StreamOps::is_open;
  using StreamOps::write_all;
  using StreamOps::write_some;

 private:
  friend class LocalSocket;
  explicit SendHalf(std::shared_ptr<detail::SocketImpl<Mode::bytes>> io) noexcept
      : StreamOps(std::move(io)) {}
};

/// A connected local socket that keeps message boundaries (Linux SOCK_SEQPACKET,
/// Windows PIPE_TYPE_MESSAGE, length-prefixed frames on other Unix systems).
///
/// Move-only; the destructor closes. Every fallible member has a throwing overload
/// (localsock::Error) and a `std::error_code&` overload.
/// @par Thread Safety: one thread may receive while another sends (or `split()` the
/// socket into halves for two threads); other concurrent use of one object needs
/// external synchronisation.
class LOCALSOCK_API LocalMessageSocket : private detail::MessageOps {
 public:
  static constexpr Mode mode = Mode::messages;
  class ReceiveHalf;
  class SendHalf;

  /// A socket holding no connection.
  LocalMessageSocket() noexcept = default;

  /// Connects to the message listener named in `options` (see LocalSocket::connect).
  static LocalMessageSocket connect(const ConnectOptions& options, std::error_code& ec);
  static LocalMessageSocket connect(const ConnectOptions& options);

  using MessageOps::flush;
  using MessageOps::max_message_size;
  using MessageOps::peek_size;
  using MessageOps::recv;
  using MessageOps::send;
  using MessageOps::send_pending;

  using MessageOps::peer_info;
  using MessageOps::set_nonblocking;
  using MessageOps::set_read_timeout;
  using MessageOps::set_write_timeout;
  using MessageOps::shutdown;

  /// Splits the socket into a receiving and a sending half (see LocalSocket::split).
  std::pair<ReceiveHalf, SendHalf> split() noexcept;
  /// Joins the two halves of one socket again (see LocalSocket::reunite).
  static LocalMessageSocket reunite(ReceiveHalf& r, SendHalf& s, std::error_code& ec) noexcept;
  static LocalMessageSocket reunite(ReceiveHalf& r, SendHalf& s);

  using MessageOps::close;
  using MessageOps::is_open;
  using MessageOps::name;

 private:
  friend struct detail::FacadeAccess;
  explicit LocalMessageSocket(std::shared_ptr<detail::SocketImpl<Mode::messages>> io) noexcept
      : MessageOps(std::move(io)) {}
};

/// The receiving half of a split LocalMessageSocket.
class LOCALSOCK_API LocalMessageSocket::ReceiveHalf : private detail::MessageOps {
 public:
  ReceiveHalf() noexcept = default;
  using MessageOps::is_open;
  using MessageOps::peek_size;
  using MessageOps::recv;

 private:
  friend class LocalMessageSocket;
  explicit ReceiveHalf(std::shared_ptr<detail::SocketImpl<Mode::messages>> io) noexcept
      : MessageOps(std::move(io)) {}
};

/// The sending half of a split LocalMessageSocket.
class LOCALSOCK_API LocalMessageSocket::SendHalf : private detail::MessageOps {
 public:
  SendHalf() noexcept = default;
  using MessageOps::flush;
  using MessageOps::is_open;
  using MessageOps::max_message_size;
  using MessageOps::send;
  using MessageOps::send_pending;

 private:
  friend class LocalMessageSocket;
  explicit SendHalf(std::shared_ptr<detail::SocketImpl<Mode::messages>> io) noexcept
      : MessageOps(std::move(io)) {}
};

/// The socket type of mode `M`, for code written once for both modes.
template <Mode M>
using BasicLocalSocket = std::conditional_t<M == Mode::bytes, LocalSocket, LocalMessageSocket>;

}  // namespace localsock
