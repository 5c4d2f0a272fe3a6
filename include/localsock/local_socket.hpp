// SPDX-License-Identifier: MIT
#pragma once

#include <localsock/detail/backend.hpp>
#include <localsock/error.hpp>
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
#include <utility>
#include <vector>

namespace localsock {

namespace detail {

/// The bytes of a string, for the string conveniences.
inline ConstBuffer text_bytes(std::string_view s) noexcept {
  return std::as_bytes(std::span<const char>(s.data(), s.size()));
}
inline MutableBuffer text_bytes(std::string& s) noexcept {
  return std::as_writable_bytes(std::span<char>(s.data(), s.size()));
}

/// The receiving operations of a connection of mode `M`, on anything whose `native()`
/// is the backend object: a socket, or the receive half of a split one.
template <typename Derived, Mode M>
class ReceiveOps;

template <typename Derived>
class ReceiveOps<Derived, Mode::bytes> {
 public:
  /// Reads at least one byte, blocking until some arrive (or the read timeout passes:
  /// `errc::timed_out`; nonblocking: `errc::would_block`).
  /// @returns the number of bytes read; 0 at end of stream or for an empty buffer.
  std::size_t read_some(MutableBuffer buf, std::error_code& ec) noexcept { return self().read_some(buf, ec); }
  std::size_t read_some(MutableBuffer buf) {
    return or_throw("LocalSocket::read_some", name(), [&](auto& ec) { return read_some(buf, ec); });
  }
  /// Reads at least one byte and at most `max_size` into `out`, which then holds exactly
  /// the bytes read (empty at end of stream). `out` keeps its capacity from call to call,
  /// so a loop over one string does not allocate.
  std::size_t read_some(std::string& out, std::size_t max_size, std::error_code& ec) {
    out.resize(max_size);
    const std::size_t n = self().read_some(text_bytes(out), ec);
    out.resize(n);
    return n;
  }
  std::size_t read_some(std::string& out, std::size_t max_size) {
    return or_throw("LocalSocket::read_some", name(),
                    [&](auto& ec) { return read_some(out, max_size, ec); });
  }

  /// Reads exactly `buf.size()` bytes.
  /// @throws localsock::Error with `errc::peer_closed` if the stream ends first; the
  /// ec overload returns the bytes that did arrive.
  std::size_t read_exact(MutableBuffer buf, std::error_code& ec) noexcept {
    ec.clear();
    std::size_t done = 0;
    while (done < buf.size()) {
      const std::size_t n = self().read_some(buf.subspan(done), ec);
      if (ec) break;
      if (n == 0) {
        ec = make_error_code(errc::peer_closed);
        break;
      }
      done += n;
    }
    return done;
  }
  std::size_t read_exact(MutableBuffer buf) {
    return or_throw("LocalSocket::read_exact", name(), [&](auto& ec) { return read_exact(buf, ec); });
  }

 private:
  auto& self() noexcept { return static_cast<Derived*>(this)->native(); }
  const std::string& name() noexcept { return self().name(); }
};

template <typename Derived>
class ReceiveOps<Derived, Mode::messages> {
 public:
  /// Receives one whole message into `buf`. A message larger than `buf` fails with
  /// `errc::message_truncated`, returns the size it needs and stays queued: nothing is
  /// lost. A zero-length message has size 0; the end of the stream sets `end`.
  ReceiveResult recv(MutableBuffer buf, std::error_code& ec) noexcept { return self().recv(buf, ec); }
  ReceiveResult recv(MutableBuffer buf) {
    return or_throw("LocalMessageSocket::recv", name(), [&](auto& ec) { return recv(buf, ec); });
  }
  /// Receives one message into `out`, resized to fit. A message larger than `max_size`
  /// is taken off the connection, discarded, and reported as `errc::message_too_large`
  /// with its size; the next message can be received.
  ReceiveResult recv(std::vector<std::byte>& out, std::size_t max_size, std::error_code& ec) {
    return self().recv(out, max_size, ec);
  }
  ReceiveResult recv(std::vector<std::byte>& out, std::size_t max_size) {
    return or_throw("LocalMessageSocket::recv", name(),
                    [&](auto& ec) { return recv(out, max_size, ec); });
  }
  /// Receives one message into `out`, resized to fit, as the vector overload: a message
  /// larger than `max_size` is discarded and reported as `errc::message_too_large`. The
  /// message's size is asked first (peek_size), so `out` is never cut and, reused,
  /// does not allocate once its capacity suffices. Not for two threads receiving on one
  /// connection at once (the peek and the receive would see different messages).
  ReceiveResult recv(std::string& out, std::size_t max_size, std::error_code& ec) {
    ReceiveResult next = self().peek_size(ec);
    if (ec || next.end) {
      out.clear();
      return next;
    }
    if (next.size > max_size) {
      // Rare: the vector overload takes it off the connection and reports it.
      std::vector<std::byte> discard;
      out.clear();
      return self().recv(discard, max_size, ec);
    }
    out.resize(next.size);
    ReceiveResult r = self().recv(text_bytes(out), ec);
    out.resize(ec ? 0 : r.size);
    return r;
  }
  ReceiveResult recv(std::string& out, std::size_t max_size) {
    return or_throw("LocalMessageSocket::recv", name(),
                    [&](auto& ec) { return recv(out, max_size, ec); });
  }
  /// Waits for the next message and returns its size without taking it.
  ReceiveResult peek_size(std::error_code& ec) noexcept { return self().peek_size(ec); }
  ReceiveResult peek_size() {
    return or_throw("LocalMessageSocket::peek_size", name(), [&](auto& ec) { return peek_size(ec); });
  }

 private:
  auto& self() noexcept { return static_cast<Derived*>(this)->native(); }
  const std::string& name() noexcept { return self().name(); }
};

/// The sending operations of a connection of mode `M`.
template <typename Derived, Mode M>
class SendOps;

template <typename Derived>
class SendOps<Derived, Mode::bytes> {
 public:
  /// Writes at least one byte, blocking until the connection takes some.
  std::size_t write_some(ConstBuffer buf, std::error_code& ec) noexcept { return self().write_some(buf, ec); }
  std::size_t write_some(ConstBuffer buf) {
    return or_throw("LocalSocket::write_some", name(), [&](auto& ec) { return write_some(buf, ec); });
  }
  /// Writes all of `buf`, completing partial writes.
  /// @returns `buf.size()`, or (ec overload) every byte written before the error, also
  /// those of the call that failed (a write that timed out after a partial transfer):
  /// the peer can read exactly that many, so a retry resumes from there.
  std::size_t write_all(ConstBuffer buf, std::error_code& ec) noexcept {
    ec.clear();
    std::size_t done = 0;
    while (done < buf.size()) {
      done += self().write_some(buf.subspan(done), ec);
      if (ec) break;
    }
    return done;
  }
  std::size_t write_all(ConstBuffer buf) {
    return or_throw("LocalSocket::write_all", name(), [&](auto& ec) { return write_all(buf, ec); });
  }
  /// The same for text: `s.write_all("ping")`, `s.write_all(std::string(...))`.
  /// (Templates, so that `write_all({})` still means an empty buffer.)
  template <std::convertible_to<std::string_view> Text>
  std::size_t write_some(const Text& text, std::error_code& ec) noexcept {
    return write_some(text_bytes(std::string_view(text)), ec);
  }
  template <std::convertible_to<std::string_view> Text>
  std::size_t write_some(const Text& text) {
    return write_some(text_bytes(std::string_view(text)));
  }
  template <std::convertible_to<std::string_view> Text>
  std::size_t write_all(const Text& text, std::error_code& ec) noexcept {
    return write_all(text_bytes(std::string_view(text)), ec);
  }
  template <std::convertible_to<std::string_view> Text>
  std::size_t write_all(const Text& text) {
    return write_all(text_bytes(std::string_view(text)));
  }

 private:
  auto& self() noexcept { return static_cast<Derived*>(this)->native(); }
  const std::string& name() noexcept { return self().name(); }
};

template <typename Derived>
class SendOps<Derived, Mode::messages> {
 public:
  /// Sends `msg` as one message, whole or not at all. A message over max_message_size()
  /// is `errc::message_too_large`; the throwing overload states the limit in its text.
  void send(ConstBuffer msg, std::error_code& ec) noexcept { self().send(msg, ec); }
  void send(ConstBuffer msg) {
    std::error_code ec;
    send(msg, ec);
    if (ec == errc::message_too_large) {
      std::error_code limit_ec;
      const std::size_t limit = max_message_size(limit_ec);
      if (!limit_ec)
        throw Error(ec,
                    "LocalMessageSocket::send (" + std::to_string(msg.size()) +
                        " bytes; the system's limit for one message is " + std::to_string(limit) +
                        " bytes)",
                    name());
    }
    throw_if(ec, "LocalMessageSocket::send", name());
  }
  /// The same for text: one `send("ping")` is one message of 4 bytes.
  /// (Templates, so that `send({})` still means an empty message.)
  template <std::convertible_to<std::string_view> Text>
  void send(const Text& text, std::error_code& ec) noexcept {
    send(text_bytes(std::string_view(text)), ec);
  }
  template <std::convertible_to<std::string_view> Text>
  void send(const Text& text) {
    send(text_bytes(std::string_view(text)));
  }

  /// The largest message one send carries.
  /// @note Linux: bounded by the send buffer a socket may have (twice net.core.wmem_max
  /// for an unprivileged process) and by the kernel's limit on one message (about 4 MiB),
  /// measured once per process. Other Unix systems (frames over a stream): 4 GiB - 1.
  /// @note Windows: 2 GiB - 1 (a message is one WriteFile).
  std::size_t max_message_size(std::error_code& ec) noexcept {
    return detail::max_message_size(self(), ec);
  }
  std::size_t max_message_size() {
    return or_throw("LocalMessageSocket::max_message_size", name(),
                    [&](auto& ec) { return max_message_size(ec); });
  }

  /// Sends what an earlier nonblocking send() left of its message. Only the framed
  /// transport (Unix systems without seqpacket, or -Dmessage_framing=true) ever leaves
  /// anything: there a nonblocking send() that the socket took in part succeeds, and the
  /// rest of that message goes out first on the next send() or on flush(). A
  /// nonblocking flush() that cannot finish reports `errc::would_block`: wait until the
  /// socket is writable and call it again while send_pending() is not zero. Elsewhere a
  /// message is sent whole or not at all, and flush() does nothing.
  void flush(std::error_code& ec) noexcept { detail::flush(self(), ec); }
  void flush() {
    or_throw("LocalMessageSocket::flush", name(), [&](auto& ec) { flush(ec); });
  }
  /// Bytes of an accepted message still to be sent by flush() (always 0 where messages
  /// are sent whole: seqpacket, Windows pipes).
  std::size_t send_pending() noexcept { return detail::send_pending(self()); }

 private:
  auto& self() noexcept { return static_cast<Derived*>(this)->native(); }
  const std::string& name() noexcept { return self().name(); }
};

/// One half of a split connection: receives (`Receive` set) or sends.
template <Mode M, bool Receive>
class SocketHalf : public std::conditional_t<Receive, ReceiveOps<SocketHalf<M, Receive>, M>,
                                             SendOps<SocketHalf<M, Receive>, M>> {
 public:
  using Native = PlatformSocket<M>;
  SocketHalf() noexcept = default;
  explicit SocketHalf(std::shared_ptr<Native> n) noexcept : native_(std::move(n)) {}
  bool is_open() const noexcept { return native_ && native_->is_open(); }
  Native& native() noexcept { return *native_; }
  /// The shared connection (what reunite checks).
  const std::shared_ptr<Native>& shared() const noexcept { return native_; }

 private:
  std::shared_ptr<Native> native_;
};

}  // namespace detail

/// A connected local socket: a Unix-domain socket, or a Windows named pipe. Use the
/// aliases: `LocalSocket` carries a byte stream (`read_some`, `write_all`, ...),
/// `LocalMessageSocket` whole messages (`send`, `recv`, ...); the other mode's calls do
/// not compile.
///
/// Move-only; the destructor closes. Every fallible member has a throwing overload
/// (localsock::Error) and a `std::error_code&` overload. No operation raises SIGPIPE:
/// writing to a peer that has gone reports `errc::peer_closed`.
/// @par Thread Safety: one thread may receive while another sends (or `split()` the
/// socket into halves for two threads); other concurrent use of one object needs
/// external synchronisation.
template <Mode M>
class BasicLocalSocket : public detail::ReceiveOps<BasicLocalSocket<M>, M>,
                         public detail::SendOps<BasicLocalSocket<M>, M> {
 public:
  /// The backend's type (posix::UdStream / UdSeqpacket, or a win:: pipe stream).
  using Native = detail::PlatformSocket<M>;
  static constexpr Mode mode = M;

  /// A socket holding no connection.
  BasicLocalSocket() noexcept = default;
  /// Wraps a connected backend socket.
  explicit BasicLocalSocket(Native native) noexcept : native_(std::move(native)) {}

  /// Connects to the listener named in `options` (a LocalName converts to options).
  /// @throws localsock::Error: `errc::no_listener` when nobody listens (at once),
  /// `errc::mode_mismatch` when the listener is of the other mode (bytes or messages;
  /// finding that out, on the error path only, may show that listener a client that
  /// connects and leaves at once),
  /// `errc::timed_out` when the listener stays busy past the options' timeout.
  static BasicLocalSocket connect(const ConnectOptions& options, std::error_code& ec) {
    return BasicLocalSocket(detail::connect_socket<M>(options, ec));
  }
  static BasicLocalSocket connect(const ConnectOptions& options) {
    return detail::or_throw("LocalSocket::connect", options.name().str(),
                            [&](auto& ec) { return connect(options, ec); });
  }

  /// Ends one or both directions.
  /// @note Windows: named pipes have no half-close; `Shutdown::read` and
  /// `Shutdown::write` report `errc::not_supported`, `Shutdown::both` ends the connection.
  void shutdown(Shutdown how, std::error_code& ec) noexcept { native_.shutdown(how, ec); }
  void shutdown(Shutdown how) {
    detail::or_throw("LocalSocket::shutdown", name(), [&](auto& ec) { shutdown(how, ec); });
  }

  /// Receives and sends fail with `errc::would_block` instead of waiting (Windows: sends
  /// still wait for the pipe to take the data).
  void set_nonblocking(bool on, std::error_code& ec) noexcept { detail::set_nonblocking(native_, on, ec); }
  /// The longest a receive waits; `errc::timed_out` after it, and nothing is lost.
  /// `infinite` (the default) waits forever.
  void set_read_timeout(Timeout t, std::error_code& ec) noexcept { detail::set_read_timeout(native_, t, ec); }
  /// The longest a send waits for the peer to make room; `errc::timed_out` after it.
  /// A byte write that times out reports exactly the bytes the peer can read (resume
  /// after them). A message send that times out was not sent, except on Windows for a
  /// message larger than the pipe's buffer, and with frames over a stream (Unix systems
  /// without seqpacket) for a message the socket took in part: the peer may have read
  /// part of it, so the sending side then fails for good (`std::errc::connection_aborted`;
  /// see docs/platform-differences.md).
  void set_write_timeout(Timeout t, std::error_code& ec) noexcept { detail::set_write_timeout(native_, t, ec); }

  /// Who is at the other end: process id and user, as the system vouches for them.
  PeerInfo peer_info(std::error_code& ec) const { return detail::peer_info(native_, ec); }
  PeerInfo peer_info() const {
    return detail::or_throw("LocalSocket::peer_info", name(), [&](auto& ec) { return peer_info(ec); });
  }

  using ReceiveHalf = detail::SocketHalf<M, true>;
  using SendHalf = detail::SocketHalf<M, false>;

  /// Splits the socket into a receiving and a sending half, each owned on its own and
  /// usable from its own thread. The socket becomes empty; the connection closes when
  /// both halves are gone, unless they are reunited.
  std::pair<ReceiveHalf, SendHalf> split() {
    auto shared = std::make_shared<Native>(std::move(native_));
    return {ReceiveHalf(shared), SendHalf(shared)};
  }
  /// Joins the two halves of one socket again. Halves of different sockets are
  /// `std::errc::invalid_argument`, and both stay as they were.
  static BasicLocalSocket reunite(ReceiveHalf& r, SendHalf& s, std::error_code& ec) noexcept {
    ec.clear();
    if (!r.shared() || r.shared() != s.shared()) {
      ec = std::make_error_code(std::errc::invalid_argument);
      return {};
    }
    BasicLocalSocket socket(std::move(*r.shared()));
    r = ReceiveHalf();
    s = SendHalf();
    return socket;
  }

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

/// A connected local byte stream.
using LocalSocket = BasicLocalSocket<Mode::bytes>;
/// A connected local socket that keeps message boundaries (Linux SOCK_SEQPACKET,
/// Windows PIPE_TYPE_MESSAGE, length-prefixed frames on other Unix systems).
using LocalMessageSocket = BasicLocalSocket<Mode::messages>;

}  // namespace localsock
