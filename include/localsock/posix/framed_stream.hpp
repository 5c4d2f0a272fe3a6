// SPDX-License-Identifier: MIT
#pragma once

#include <localsock/posix/ud_stream.hpp>

#include <array>
#include <cstdint>
#include <vector>

namespace localsock::posix {

/// Message mode over a byte stream: each message travels as a 4-byte little-endian
/// length followed by its bytes. The portable fallback for Unix systems without
/// SOCK_SEQPACKET on Unix sockets (macOS); selectable on Linux too.
///
/// It keeps the rules of UdSeqpacket: a message larger than the buffer is
/// `errc::message_truncated` with the needed size and is not lost; a zero-length
/// message differs from the end; a peer that goes away inside a frame is
/// `errc::peer_closed`, while a clean end between frames sets `ReceiveResult::end`.
/// A timeout or `would_block` while a header is read loses nothing; inside a message's
/// body it leaves the stream out of step, so close the connection then.
/// @par Thread Safety: one thread may receive while another sends.
class FramedStream {
 public:
  /// The largest message a frame can carry.
  static constexpr std::size_t max_message = 0xffffffffu;
  /// Frames travel on a byte stream (what a listener of FramedStreams listens for).
  static constexpr SocketType socket_type = SocketType::stream;

  FramedStream() noexcept = default;
  /// Frames messages over a connected stream.
  explicit FramedStream(UdStream stream) noexcept : stream_(std::move(stream)) {}
  /// Adopts a connected SOCK_STREAM descriptor.
  FramedStream(int fd, std::string name) noexcept : stream_(fd, std::move(name)) {}

  static FramedStream connect(const LocalName& name, Timeout timeout = infinite);
  static FramedStream connect(const LocalName& name, Timeout timeout, std::error_code& ec);

  /// Sends `msg` as one frame, completing partial writes.
  void send(ConstBuffer msg, std::error_code& ec) noexcept;
  void send(ConstBuffer msg);

  /// Receives one message into `buf`. On `errc::message_truncated` the returned size is
  /// the size needed and the message waits for the next call.
  ReceiveResult recv(MutableBuffer buf, std::error_code& ec) noexcept;
  ReceiveResult recv(MutableBuffer buf);
  /// Receives one message into `out`, resized to fit. A message over `max_size` is read
  /// and dropped (so the stream stays in step) and reported as `errc::message_too_large`.
  ReceiveResult recv(std::vector<std::byte>& out, std::size_t max_size, std::error_code& ec);
  ReceiveResult recv(std::vector<std::byte>& out, std::size_t max_size);

  /// Waits for the next message's header and returns its size without taking it.
  ReceiveResult peek_size(std::error_code& ec) noexcept;

  /// The underlying byte stream.
  UdStream& stream() noexcept { return stream_; }
  const UdStream& stream() const noexcept { return stream_; }
  bool is_open() const noexcept { return stream_.is_open(); }
  const std::string& name() const noexcept { return stream_.name(); }
  void close() noexcept { stream_.close(); }

 private:
  // Reads the next frame's header unless one was read already; false at a clean end.
  bool next_size(std::error_code& ec) noexcept;
  // Reads exactly buf.size() bytes of a frame body; the end of stream here is a fault.
  void read_body(MutableBuffer buf, std::error_code& ec) noexcept;

  UdStream stream_;
  // A header being read: its bytes so far.
  std::array<std::byte, 4> header_{};
  std::size_t header_got_ = 0;
  // The size of a frame whose header was read but whose body was not (a receive that
  // reported message_truncated), else -1.
  std::int64_t pending_ = -1;
};

}  // namespace localsock::posix
