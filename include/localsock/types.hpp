// SPDX-License-Identifier: MIT
#pragma once

#include <chrono>
#include <cstddef>
#include <span>

namespace localsock {

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

}  // namespace localsock
