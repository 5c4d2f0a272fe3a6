// SPDX-License-Identifier: MIT
#pragma once

#include <localsock/export.hpp>

#include <cstdint>
#include <optional>
#include <string>

namespace localsock {

/// Who is at the other end of a connection, as the operating system vouches for it.
/// Both ends can ask, so a client can check its server too.
struct LOCALSOCK_API PeerInfo {
  /// The peer's process id (Linux SO_PEERCRED; Windows the pipe's client or server
  /// process id). Empty where the platform does not tell (BSD getpeereid).
  std::optional<std::int64_t> pid;
  /// Unix: the peer's effective user and group ids.
  std::optional<std::uint32_t> uid;
  std::optional<std::uint32_t> gid;
  /// Windows: the peer's user as a SID string (`S-1-5-21-...`). Empty on Unix.
  std::string sid;

  /// Whether the peer runs as this process's user, portably: on Unix its `uid` is this
  /// process's effective uid (`geteuid()`), on Windows its `sid` is the user SID of this
  /// process's token. False when the field the platform compares is empty (a PeerInfo
  /// not filled by peer_info(), or a platform that does not tell).
  /// @par Thread Safety: safe to call from any thread.
  /// @note Windows: reads this process's token (one system call and an allocation).
  bool is_current_user() const noexcept;
};

}  // namespace localsock
