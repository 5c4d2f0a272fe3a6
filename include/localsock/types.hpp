// SPDX-License-Identifier: MIT
#pragma once

#include <localsock/export.hpp>

#include <chrono>
#include <cstddef>
#include <span>

namespace localsock {

/// What a connection carries: a byte stream, or messages whose boundaries are kept.
enum class Mode { bytes, messages };

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

}  // namespace localsock
