// SPDX-License-Identifier: MIT
#pragma once

#include <localsock/export.hpp>
#include <localsock/posix/ud_stream.hpp>

#include <array>
#include <atomic>
#include <concepts>
#include <cstdint>
#include <string>
#include <vector>

namespace localsock::posix {

/// Message mode over a byte stream: each message travels as a 4-byte little-endian
/// length followed by its bytes. The portable fallback for Unix systems without
/// SOCK_SEQPACKET on Unix sockets (macOS); selectable on Linux too
/// (MessageTransport::framed), where it has no system size limit.
///
/// A connection made by connect() and accepted by a listener of FramedStreams begins
/// with a greeting: each end writes the 8 bytes of `greeting` at once (the client in
/// connect(), the server in accept(); neither waits for the other, so a client that
/// connects before the server accepts is not held up), and the first receive of each end
/// reads the peer's greeting before the first frame. A peer whose first bytes are not the
/// greeting is not a framed localsock peer (a byte-mode socket, another program): that
/// receive fails with `errc::mode_mismatch`, the connection is shut down in both
/// directions (the peer reads the end of the stream, never waits for a reply), and every
/// later send and receive fails the same way. The bytes are checked as they come, so one
/// wrong byte is enough. The cost is one 8-byte write at each end and one 8-byte read
/// before the first frame; nothing waits a round trip. Streams made from a descriptor
/// or a UdStream (pairs, adopted connections) have no greeting.
///
/// It keeps the rules of UdSeqpacket: a message larger than the buffer is
/// `errc::message_truncated` with the needed size and is not lost; a zero-length
/// message differs from the end; a peer that goes away inside a frame is
/// `errc::peer_closed`, while a clean end between frames sets `ReceiveResult::end`.
///
/// Partial I/O resumes, never restarts (a nonblocking socket or a timeout can stop a
/// frame anywhere):
/// - Receiving: a `would_block` or `timed_out` inside a header or a body loses nothing.
///   The bytes read so far stay in this object, and the next receive, into the same
///   buffer or another one, with either recv() overload, goes on where this one stopped
///   (a buffer too small for the message is `errc::message_truncated`, as always). A
///   message being dropped by recv(vector) as over-size is still dropped after an
///   interruption, and then reported as `errc::message_too_large`.
/// - Sending: send() either takes the message or does not. `would_block` or
///   `timed_out` means that nothing of this message was written: send the same message
///   again later. On a nonblocking socket, once part of a frame has been written the
///   message is taken: the bytes the socket did not accept yet are copied here and
///   send() succeeds; they go out first, before anything else, on the next send() or
///   flush() (see send_pending()); shutdown() of the sending side sends them before the
///   end. Flush before closing, or the rest of that frame is lost. On a blocking socket whose write
///   timeout passes after part of the frame was written, the message is neither taken nor untaken:
///   the sending side fails for good (this and every later send() and flush() report
///   `std::errc::connection_aborted`), as a Windows message pipe does, so the peer never receives
///   anything after the cut frame (it reads `errc::peer_closed` once this end closes).
/// @par Thread Safety: one thread may receive while another sends.
class LOCALSOCK_API FramedStream {
 public:
  /// The largest message a frame can carry.
  static constexpr std::size_t max_message = 0xffffffffu;
  /// Frames travel on a byte stream (what a listener of FramedStreams listens for).
  static constexpr SocketType socket_type = SocketType::stream;

  /// What each end of a connection made by connect() and accept() writes first:
  /// "LSFRAME" and the version of the framing (1).
  static constexpr std::array<std::byte, 8> greeting{std::byte{'L'}, std::byte{'S'}, std::byte{'F'},
                                                     std::byte{'R'}, std::byte{'A'}, std::byte{'M'},
                                                     std::byte{'E'}, std::byte{1}};

  FramedStream() noexcept = default;
  /// Frames messages over a connected stream, without a greeting.
  explicit FramedStream(UdStream stream) noexcept : stream_(std::move(stream)) {}
  /// Adopts a connected SOCK_STREAM descriptor whose greetings (if any) are done.
  FramedStream(int fd, std::string name) noexcept : stream_(fd, std::move(name)) {}
  /// The same, for a descriptor connected through `name` (its text is shared; a
  /// template only so that a call with `{}` for the name keeps choosing the text).
  template <std::same_as<LocalName> Name>
  FramedStream(int fd, const Name& name) noexcept : stream_(fd, name) {}
  /// Moves take the connection with its partial frames both ways; the moved-from stream
  /// is empty (nothing pending). A stream moved onto itself stays as it was.
  FramedStream(FramedStream&& other) noexcept;
  FramedStream& operator=(FramedStream&& other) noexcept;
  FramedStream(const FramedStream&) = delete;
  FramedStream& operator=(const FramedStream&) = delete;
  ~FramedStream() = default;

  /// Connects to a listener of FramedStreams and writes the greeting; the server's is
  /// checked by the first receive. `errc::mode_mismatch` at once when a SOCK_SEQPACKET
  /// listener holds the name.
  static FramedStream connect(const LocalName& name, Timeout timeout = infinite);
  static FramedStream connect(const LocalName& name, Timeout timeout, std::error_code& ec);
  /// The server's end of a connection a listener accepted (`fd`): writes the greeting
  /// and expects the client's. A client gone already shows on the first send or receive.
  static FramedStream accepted(int fd, std::string name) noexcept {
    return greeted(FramedStream(fd, std::move(name)));
  }
  template <std::same_as<LocalName> Name>
  static FramedStream accepted(int fd, const Name& name) noexcept {
    return greeted(FramedStream(fd, name));
  }

  /// Sends `msg` as one frame, completing partial writes. First finishes the frame a
  /// previous send left unfinished (send_pending()); if that cannot be finished now,
  /// `msg` is not taken and the error is `would_block` or `timed_out`. If part of
  /// `msg`'s frame is written before the socket would block, the message is taken (the
  /// rest is kept, see send_pending()) and no error is reported; if the write timeout
  /// passes after part of it, the sending side fails for good
  /// (`std::errc::connection_aborted`); if none of it is written, the error is reported
  /// and nothing was sent. Other errors mean the connection failed.
  void send(ConstBuffer msg, std::error_code& ec);
  void send(ConstBuffer msg);

  /// Writes the rest of a frame that a send() took but could not finish; `would_block`
  /// or `timed_out` when some of it remains (see send_pending()).
  void flush(std::error_code& ec) noexcept;
  void flush();
  /// Bytes of a taken frame not yet written (0 when every taken message is written).
  std::size_t send_pending() const noexcept { return out_rest_.size() - out_done_; }

  /// Receives one message into `buf`. On `errc::message_truncated` the returned size is
  /// the size needed and the message waits for the next call. Interrupted (`would_block`,
  /// `timed_out`) inside the message, it keeps what it read for the next receive.
  ReceiveResult recv(MutableBuffer buf, std::error_code& ec) noexcept;
  ReceiveResult recv(MutableBuffer buf);
  /// Receives one message into `out`, resized to fit. A message over `max_size` is read
  /// and dropped (so the stream stays in step) and reported as `errc::message_too_large`.
  /// `max_size` is a limit, never a reservation: a header only announces a size, so `out`
  /// grows as the body's bytes arrive (from at most 64 KiB, at least doubling; its
  /// capacity is used as it is), and a peer that announces a large message and sends
  /// little of it costs little memory. Interrupted inside the message, the bytes read so
  /// far move into this object (with `out`'s storage, unless that is much larger than
  /// they are: then they are copied and `out` keeps its storage) and come back on the
  /// next receive. Memory that cannot be had is `std::errc::not_enough_memory` (never
  /// std::bad_alloc from this overload), kept like an interruption: nothing is lost.
  ReceiveResult recv(std::vector<std::byte>& out, std::size_t max_size, std::error_code& ec);
  ReceiveResult recv(std::vector<std::byte>& out, std::size_t max_size);
  /// Receives one message into `out` as the vector overload does. A message that fits
  /// `out`'s capacity is read straight into it (no allocation); a larger one collects in
  /// this object as it arrives (growing the same way) and is copied into `out` once
  /// whole. Interrupted, or out of memory (`std::errc::not_enough_memory`), it keeps
  /// what it read for the next receive.
  ReceiveResult recv(std::string& out, std::size_t max_size, std::error_code& ec);
  ReceiveResult recv(std::string& out, std::size_t max_size);

  /// Waits for the next message's header and returns its size without taking it.
  ReceiveResult peek_size(std::error_code& ec) noexcept;
  ReceiveResult peek_size() {
    return localsock::detail::or_throw("FramedStream::peek_size", name(),
                                       [&](std::error_code& ec) { return peek_size(ec); });
  }

  /// Ends one or both directions of the underlying stream (as UdStream::shutdown). The
  /// end of the sending side goes after every message send() took: the rest of a frame
  /// a nonblocking send() left (send_pending()) is written first, as flush() does, so
  /// that the peer reads the message and then the end. When it cannot all go now, the
  /// error is flush()'s (`would_block` on a nonblocking socket, `timed_out` when the
  /// write timeout passes), nothing is shut down, and the call can be made again. After
  /// a send that failed for good (a cut frame) there is nothing to finish: the stream
  /// is shut down at once.
  void shutdown(Shutdown how, std::error_code& ec) noexcept;
  void shutdown(Shutdown how) {
    localsock::detail::or_throw("FramedStream::shutdown", name(),
                                [&](std::error_code& ec) { shutdown(how, ec); });
  }

  /// The underlying byte stream.

  UdStream& stream() noexcept { return stream_; }
  const UdStream& stream() const noexcept { return stream_; }
  bool is_open() const noexcept { return stream_.is_open(); }
  const std::string& name() const noexcept { return stream_.name(); }
  void close() noexcept { stream_.close(); }

 private:
  // Writes the greeting of a connection just accepted (see accepted()).
  static FramedStream greeted(FramedStream s) noexcept;
  // Reads from the stream; a connection the peer reset (closed with bytes unread) is
  // its end.
  std::size_t read(MutableBuffer buf, std::error_code& ec) noexcept;
  // Writes the greeting and expects the peer's.
  void greet(std::error_code& ec) noexcept;
  // Reads what is left of the peer's greeting; false at a clean end or on an error
  // (mode_mismatch when the bytes differ).
  bool read_greeting(std::error_code& ec) noexcept;
  // Reads the next frame's header unless one was read already; false at a clean end.
  bool next_size(std::error_code& ec) noexcept;
  // Reads the body of the pending frame into `body` (its size), from body_got_ on; the
  // end of stream here is a fault.
  void read_body(MutableBuffer body, std::error_code& ec) noexcept;
  // Reads the body of the pending frame into `body`, which holds its first body_got_
  // bytes, making room as the bytes come (see grow_for_body in framed_stream.cpp); on
  // return `body` holds body_got_ bytes. Throws std::bad_alloc when room cannot be had.
  void read_growing(std::vector<std::byte>& body, std::error_code& ec);
  // Reads and discards the rest of the pending frame; message_too_large once done.
  ReceiveResult drop_body(std::error_code& ec) noexcept;
  // The pending frame was received whole: ready for the next header.
  void frame_done() noexcept;

  // (The moves are written out in framed_stream.cpp, for self-moves: a member added
  // here is added there too.)
  UdStream stream_;
  // Bytes of the peer's greeting read so far (all of it: none is expected).
  std::size_t greeting_got_ = greeting.size();
  // The peer's first bytes were not the greeting: the connection is shut down. Written
  // by the receiving side and read by send(), which may run on another thread at the
  // same time. Relaxed is enough: nothing else is published with it (a send that has
  // not seen it yet meets the shut-down socket), and a thread that learned of the
  // mismatch from the receive is ordered after the write by that.
  std::atomic<bool> mismatch_{false};
  // A header being read: its bytes so far.
  std::array<std::byte, 4> header_{};
  std::size_t header_got_ = 0;
  // The size of the frame whose header was read and whose body was not received yet
  // (a receive that reported message_truncated, or was interrupted), else -1.
  std::int64_t pending_ = -1;
  // Bytes of that body read so far. They are in body_ while no receive runs.
  std::size_t body_got_ = 0;
  std::vector<std::byte> body_;
  // The pending frame is being dropped as over-size (body_got_ counts what was dropped).
  bool dropping_ = false;
  // The rest of a frame that send() took but the socket did not accept yet.
  std::vector<std::byte> out_rest_;
  std::size_t out_done_ = 0;
  // A blocking send timed out inside a frame: nothing more may be sent.
  bool send_failed_ = false;
};

}  // namespace localsock::posix
