// SPDX-License-Identifier: MIT
#pragma once

#include <localsock/export.hpp>

#include <chrono>
#include <cstddef>
#include <span>
#include <string_view>
#include <type_traits>

namespace localsock {

/// What a connection carries: a byte stream, or messages whose boundaries are kept.
enum class Mode { bytes, messages };

/// How message mode travels on Unix (ListenerOptions::transport,
/// ConnectOptions::transport). Windows has one message transport, message-mode pipes,
/// and ignores the choice.
enum class MessageTransport {
  /// seqpacket where the system has it for Unix sockets (Linux), framed elsewhere (macOS
  /// and the generic Unix flavor).
  automatic,
  /// SOCK_SEQPACKET: the kernel keeps the boundaries. A message is bounded by the send
  /// buffer the system allows (see posix::UdSeqpacket::max_message_size). Where the
  /// system has no seqpacket Unix sockets, `errc::not_supported`.
  seqpacket,
  /// Length-prefixed frames over a byte stream (posix::FramedStream), after a short
  /// greeting each end sends when the connection is made: no system size limit (up to
  /// 4 GiB - 1 per message). Available on every Unix system.
  framed,
};

/// Which direction(s) of a connection `shutdown` ends.
enum class Shutdown {
  read,   ///< No more receiving.
  write,  ///< No more sending; the peer reads end of stream once it has read everything.
  both,   ///< Both directions.
};

/// Timeouts are given in milliseconds; `infinite` waits forever.
using Timeout = std::chrono::milliseconds;
inline constexpr Timeout infinite{-1};

/// A read-only view of bytes to send.
using ConstBuffer = std::span<const std::byte>;
/// A writable view of bytes to receive into.
using MutableBuffer = std::span<std::byte>;

/// The outcome of receiving one message (or bytes that may carry descriptors).
struct LOCALSOCK_API ReceiveResult {
  /// Bytes received; for a message larger than the buffer (`errc::message_truncated`),
  /// the size the buffer needs.
  std::size_t size = 0;
  /// End of stream: the peer closed and no message was received. A zero-length message
  /// has `size == 0` and `end == false`.
  bool end = false;
  /// Unix descriptor passing: more descriptors were sent than there was room for; the
  /// extra ones were closed (MSG_CTRUNC). Always false elsewhere.
  bool fds_truncated = false;
};

namespace detail {

/// The bytes a text overload sends (LocalSocket::write_some / write_all,
/// LocalMessageSocket::send, their halves, AsyncSocket::write). A char array is taken
/// by its size, not by its first zero: all its N chars, less one terminating '\0' when
/// its last char is '\0'. So a string literal is its text (`"ping"`: 4 bytes), a zero
/// inside counts (`"a\0b"`: 3 bytes), binary data in a `char[4]` is 4 bytes whatever it
/// holds, and a `char[8]` with no zero is 8 bytes, never read past its end. A buffer
/// filled in part is sent whole, up to its size: pass `std::string_view(buf)` (or the
/// length) to send only the C string in it.
template <std::size_t N>
constexpr std::string_view text_of(const char (&text)[N]) noexcept {
  return std::string_view(text, text[N - 1] == '\0' ? N - 1 : N);
}
/// Anything else convertible to std::string_view is taken as that view: a std::string or
/// a string_view whole, a `const char*` up to its first '\0' (strlen), as a C string.
template <typename Text>
requires(!std::is_array_v<Text>) constexpr std::string_view
    text_of(const Text& text) noexcept(noexcept(std::string_view(text))) {
  return std::string_view(text);
}

}  // namespace detail

}  // namespace localsock
