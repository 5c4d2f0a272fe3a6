// SPDX-License-Identifier: MIT
#pragma once

/// @file
/// The receiving and sending operations a pipe stream type has, by its read and write
/// modes (requires-clauses: a call that does not fit the mode does not compile).

#include <localsock/error.hpp>
#include <localsock/types.hpp>
#include <localsock/win/pipe_core.hpp>

#include <cstddef>
#include <string>
#include <utility>
#include <system_error>
#include <vector>

namespace localsock::win {

namespace detail {

/// The name of `core`'s connection; empty for none.
inline const std::string& name_of(const PipeCore* core) noexcept {
  static const std::string none;
  return core != nullptr ? core->name() : none;
}

/// The receiving operations of a pipe stream whose read mode is `Mode`; a CRTP base of
/// BasicPipeStream and of the read half of a split stream. `Derived::connection()`
/// gives the connection, or null (an empty half): then every operation reports
/// `errc::not_connected`.
template <typename Derived, StreamMode Mode>
class PipeReadOps {
 public:
  /// Reads at least one byte; returns 0 at end of stream (`errc::would_block` when
  /// nonblocking and nothing is there).
  std::size_t read_some(MutableBuffer buf, std::error_code& ec) noexcept
      requires(Mode == StreamMode::Bytes) {
    return on_core(ec, [&](PipeCore& c) { return c.read(buf, ec); });
  }
  std::size_t read_some(MutableBuffer buf) requires(Mode == StreamMode::Bytes) {
    return localsock::detail::or_throw("PipeStream::read_some", core_name(),
                                       [&](std::error_code& ec) { return read_some(buf, ec); });
  }

  /// Receives one message into `buf`. A message larger than `buf` fails with
  /// `errc::message_truncated`, returns the size it needs and stays queued: nothing is
  /// lost. A zero-length message returns size 0; end of stream sets `end`.
  ReceiveResult recv(MutableBuffer buf, std::error_code& ec) noexcept
      requires(Mode == StreamMode::Messages) {
    return on_core(ec, [&](PipeCore& c) { return c.recv_message(buf, ec); });
  }
  ReceiveResult recv(MutableBuffer buf) requires(Mode == StreamMode::Messages) {
    return localsock::detail::or_throw("PipeStream::recv", core_name(),
                                       [&](std::error_code& ec) { return recv(buf, ec); });
  }
  /// Receives one message into `out`, resized to fit it. A message larger than
  /// `max_size` is read off the pipe, discarded and reported as `errc::message_too_large`
  /// (with its size), so the next message can be received.
  ReceiveResult recv(std::vector<std::byte>& out, std::size_t max_size,
                     std::error_code& ec) requires(Mode == StreamMode::Messages) {
    return on_core(ec, [&](PipeCore& c) { return c.recv_message(out, max_size, ec); });
  }
  ReceiveResult recv(std::vector<std::byte>& out,
                     std::size_t max_size) requires(Mode == StreamMode::Messages) {
    return localsock::detail::or_throw("PipeStream::recv", core_name(), [&](std::error_code& ec) {
      return recv(out, max_size, ec);
    });
  }
  /// Waits for the next message and returns its size without taking it.
  ReceiveResult peek_size(std::error_code& ec) noexcept requires(Mode == StreamMode::Messages) {
    return on_core(ec, [&](PipeCore& c) { return c.peek_message(ec); });
  }
  ReceiveResult peek_size() requires(Mode == StreamMode::Messages) {
    return localsock::detail::or_throw("PipeStream::peek_size", core_name(),
                                       [&](std::error_code& ec) { return peek_size(ec); });
  }

 private:
  detail::PipeCore* core() noexcept { return static_cast<Derived*>(this)->connection(); }
  const std::string& core_name() noexcept { return name_of(core()); }
  // Runs `f` on the connection; without one, `errc::not_connected` and an empty result.
  template <typename F>
  auto on_core(std::error_code& ec, F f) {
    if (PipeCore* c = core()) return f(*c);
    ec = make_error_code(errc::not_connected);
    return decltype(f(std::declval<PipeCore&>()))();
  }
};

/// The sending operations of a pipe stream whose write mode is `Mode`.
template <typename Derived, StreamMode Mode>
class PipeWriteOps {
 public:
  /// Writes at least one byte and at most the pipe's buffer size; waits until the pipe
  /// takes them. A call that times out or is cancelled (cancel_io) took nothing: the
  /// bytes counted so far are exactly what the peer can read, so resuming after them
  /// keeps the stream intact.
  std::size_t write_some(ConstBuffer buf, std::error_code& ec) noexcept
      requires(Mode == StreamMode::Bytes) {
    return on_core(ec, [&](PipeCore& c) { return c.write(buf, ec); });
  }
  std::size_t write_some(ConstBuffer buf) requires(Mode == StreamMode::Bytes) {
    return localsock::detail::or_throw("PipeStream::write_some", core_name(),
                                       [&](std::error_code& ec) { return write_some(buf, ec); });
  }

  /// Sends `msg` as one message, whole or not at all: one WriteFile, whose length this
  /// library limits to max_io_size (2 GiB − 1 bytes); a longer message is
  /// `errc::message_too_large`. Zero-length messages are allowed.
  void send(ConstBuffer msg, std::error_code& ec) noexcept requires(Mode == StreamMode::Messages) {
    on_core(ec, [&](PipeCore& c) { c.send_message(msg, ec); });
  }
  void send(ConstBuffer msg) requires(Mode == StreamMode::Messages) {
    localsock::detail::or_throw("PipeStream::send", core_name(),
                                [&](std::error_code& ec) { send(msg, ec); });
  }

  /// Waits until the peer has read everything written (FlushFileBuffers). It waits as
  /// long as the peer neither reads nor closes.
  void flush(std::error_code& ec) noexcept {
    on_core(ec, [&](PipeCore& c) { c.flush(ec); });
  }
  void flush() {
    localsock::detail::or_throw("PipeStream::flush", core_name(),
                                [&](std::error_code& ec) { flush(ec); });
  }

 private:
  detail::PipeCore* core() noexcept { return static_cast<Derived*>(this)->connection(); }
  const std::string& core_name() noexcept { return name_of(core()); }
  // Runs `f` on the connection; without one, `errc::not_connected` and an empty result.
  template <typename F>
  auto on_core(std::error_code& ec, F f) {
    if (PipeCore* c = core()) return f(*c);
    ec = make_error_code(errc::not_connected);
    return decltype(f(std::declval<PipeCore&>()))();
  }
};

/// Nothing to add for an absent side.
template <typename Derived>
class PipeReadOps<Derived, StreamMode::None> {};
template <typename Derived>
class PipeWriteOps<Derived, StreamMode::None> {};

}  // namespace detail

}  // namespace localsock::win
