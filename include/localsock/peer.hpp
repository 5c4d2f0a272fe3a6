// SPDX-License-Identifier: MIT
#pragma once

#include <localsock/export.hpp>

#include <cstdint>
#include <optional>
#include <string>

namespace localsock {

/// Who is at the other end of a connection, as the operating system vouches for it.
/// Both ends can ask, so a client can check its server too.
/// @note POSIX: the credentials the kernel recorded when the connection was made, not
/// who the peer is now: a client's as of its connect(), a server's as of its listen()
/// (when the listener was made), both ends of a socketpair as of socketpair() (Linux
/// SO_PEERCRED; getpeereid and LOCAL_PEERPID elsewhere). A peer that changes its user
/// afterwards (setuid) still shows the ids it connected with, and the pid stays that of
/// the process that connected (or listened), even if it handed the socket on.
/// @note Windows: `pid` is the process id the system recorded for the pipe's client (the
/// process that opened it) or server (the one that created the instance); `sid` is read
/// when peer_info() is called, from that process's token (a process's user does not
/// change while it runs). If that token may not be read (a more privileged peer), a
/// server takes the client's identity from the pipe through impersonation (as the
/// client's connect captured it; the library's clients allow identification only, with
/// static tracking: the identity at connect) and a client takes the pipe's owner (the
/// owner the server's token gave the pipe, its user or, for an elevated server, possibly
/// the Administrators group). Ask while the connection is live: a peer that has exited
/// may have its process id reused by another process.
struct LOCALSOCK_API PeerInfo {
  /// The peer's process id (Linux SO_PEERCRED, macOS LOCAL_PEERPID: the process that
  /// connected or listened; Windows the pipe's client or server process id). Empty where
  /// the platform does not tell (BSD getpeereid).
  std::optional<std::int64_t> pid;
  /// Unix: the peer's effective user and group ids when the connection was made.
  std::optional<std::uint32_t> uid;
  std::optional<std::uint32_t> gid;
  /// Windows: the peer's user as a SID string (`S-1-5-21-...`). Empty on Unix.
  std::string sid;

  /// Whether the peer's recorded user is this process's user, portably: on Unix its
  /// `uid` (the peer's effective uid when the connection was made; see the notes above)
  /// is this process's effective uid now (`geteuid()`), on Windows its `sid` is the user
  /// SID of this process's token. False when the field the platform compares is empty (a
  /// PeerInfo not filled by peer_info(), or a platform that does not tell).
  /// @par Thread Safety: safe to call from any thread.
  /// @note Windows: reads this process's token (one system call and an allocation).
  bool is_current_user() const noexcept;
};

}  // namespace localsock
