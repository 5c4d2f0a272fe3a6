// SPDX-License-Identifier: MIT
#pragma once

#include <localsock/export.hpp>
#include <localsock/name.hpp>
#include <localsock/peer.hpp>
#include <localsock/types.hpp>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>

namespace localsock {

/// Settings of a LocalListener or LocalMessageListener, set builder-style:
/// `LocalListener::bind(ListenerOptions().name(n).current_user_only(true))`.
///
/// The mode (bytes or messages) is the listener's type. Options that only one platform
/// has are accepted on both and apply where they mean something; each says where.
class LOCALSOCK_API ListenerOptions {
 public:
  ListenerOptions() = default;
  /// Shorthand for `ListenerOptions().name(n)`.
  ListenerOptions(LocalName n) : name_(std::move(n)) {}  // NOLINT: implicit on purpose

  /// The name to listen on.
  ListenerOptions& name(LocalName n) {
    name_ = std::move(n);
    return *this;
  }
  /// accept() fails with `errc::would_block` instead of waiting.
  ListenerOptions& nonblocking(bool on) noexcept {
    nonblocking_ = on;
    return *this;
  }
  /// Only clients running as this process's user are accepted, on both platforms.
  /// Unix: a filesystem name gets mode 0600 (unless `permissions` says otherwise) and
  /// every client's uid is checked (SO_PEERCRED), which also protects abstract names.
  /// Windows: the pipe's descriptor grants access to this user alone and every client's
  /// user is checked. Other clients are disconnected and accept goes on waiting.
  /// Default: on for a per-user name (LocalName::per_user), else off.
  ListenerOptions& current_user_only(bool on) noexcept {
    current_user_only_ = on ? 1 : 0;
    return *this;
  }
  /// Unix: permission bits of a filesystem name's socket file (0600: the owner only),
  /// in place from the first instant. Windows: not used (see security_descriptor).
  ListenerOptions& permissions(std::uint32_t mode) noexcept {
    permissions_ = mode;
    return *this;
  }
  /// Windows: the pipe's security descriptor in SDDL, on every instance. Unix: not used
  /// (see permissions).
  ListenerOptions& security_descriptor(std::string sddl) {
    sddl_ = std::move(sddl);
    return *this;
  }
  /// Windows: accept clients from other machines. Default false. Unix sockets are local.
  ListenerOptions& accept_remote(bool on) noexcept {
    accept_remote_ = on;
    return *this;
  }
  /// Windows: refuse a name another server already serves (FILE_FLAG_FIRST_PIPE_INSTANCE,
  /// against squatters). Default true. Unix always refuses a live name.
  ListenerOptions& first_instance(bool on) noexcept {
    first_instance_ = on;
    return *this;
  }
  /// Unix: replace a stale socket file (nobody accepts on it) at a filesystem name.
  /// Default false: such a file is `errc::stale_name`. Windows: no such thing.
  ListenerOptions& reclaim_stale(bool on) noexcept {
    reclaim_stale_ = on;
    return *this;
  }
  /// Unix: the kernel's queue of connections not yet accepted (listen backlog).
  /// Windows: not used (a pipe has no queue; see instance_limit).
  ListenerOptions& backlog(int n) noexcept {
    backlog_ = n;
    return *this;
  }
  /// Windows: the most live connections; further clients wait within their connect
  /// timeout. Unset: unlimited. Unix: not used.
  ListenerOptions& instance_limit(std::optional<std::uint8_t> n) noexcept {
    instance_limit_ = n;
    return *this;
  }
  /// Buffer size hint for each direction of a connection (Windows: the pipe's in and out
  /// buffers, default 64 KiB; Unix: SO_SNDBUF/SO_RCVBUF, default the system's).
  ListenerOptions& buffer_size(std::uint32_t n) noexcept {
    buffer_size_ = n;
    return *this;
  }
  /// Unix, message listeners: how messages travel (MessageTransport). Clients must use
  /// the same transport: a client of the other one fails with `errc::mode_mismatch`
  /// (seqpacket against framed: at connect; see ConnectOptions::transport). Default
  /// `automatic`: seqpacket on Linux, framed where the system has no seqpacket (macOS,
  /// the generic Unix flavor); an explicit `seqpacket` there fails the bind with
  /// `errc::not_supported`. Byte listeners ignore it.
  /// Windows: ignored; messages always travel as message-mode pipes.
  ListenerOptions& transport(MessageTransport t) noexcept {
    transport_ = t;
    return *this;
  }

  const LocalName& name() const noexcept { return name_; }
  bool nonblocking() const noexcept { return nonblocking_; }
  bool current_user_only() const noexcept {
    return current_user_only_ < 0 ? name_.is_per_user() : current_user_only_ != 0;
  }
  std::optional<std::uint32_t> permissions() const noexcept { return permissions_; }
  const std::string& security_descriptor() const noexcept { return sddl_; }
  bool accept_remote() const noexcept { return accept_remote_; }
  bool first_instance() const noexcept { return first_instance_; }
  bool reclaim_stale() const noexcept { return reclaim_stale_; }
  int backlog() const noexcept { return backlog_; }
  std::optional<std::uint8_t> instance_limit() const noexcept { return instance_limit_; }
  std::optional<std::uint32_t> buffer_size() const noexcept { return buffer_size_; }
  MessageTransport transport() const noexcept { return transport_; }

 private:
  LocalName name_;
  bool nonblocking_ = false;
  std::int8_t current_user_only_ = -1;  // unset: the name decides (on for per-user names)
  std::optional<std::uint32_t> permissions_;
  std::string sddl_;
  bool accept_remote_ = false;
  bool first_instance_ = true;
  bool reclaim_stale_ = false;
  int backlog_ = 128;
  std::optional<std::uint8_t> instance_limit_;
  std::optional<std::uint32_t> buffer_size_;
  MessageTransport transport_ = MessageTransport::automatic;
};

/// Settings of a connect, builder-style: `LocalSocket::connect(ConnectOptions(n).timeout(1s))`.
class LOCALSOCK_API ConnectOptions {
 public:
  ConnectOptions() = default;
  ConnectOptions(LocalName n) : name_(std::move(n)) {}  // NOLINT: implicit on purpose

  ConnectOptions& name(LocalName n) {
    name_ = std::move(n);
    return *this;
  }
  /// How long to wait for a listener that is busy: Windows waits for a free pipe
  /// instance, Unix for room in a full backlog. Then `errc::timed_out`. Nobody listening
  /// is `errc::no_listener` at once. Default 10 s; `infinite` waits forever.
  ConnectOptions& timeout(Timeout t) noexcept {
    timeout_ = t;
    return *this;
  }
  /// The connected socket starts in nonblocking mode.
  ConnectOptions& nonblocking(bool on) noexcept {
    nonblocking_ = on;
    return *this;
  }
  /// After connecting, check that the server runs as this process's user; otherwise
  /// close the connection and fail with `errc::access_denied` (a squatter that took
  /// the name first is never talked to). Default: on for a per-user name
  /// (LocalName::per_user), else off.
  /// @note POSIX: the server's uid from the socket (SO_PEERCRED, getpeereid).
  /// @note Windows: the user of the pipe's server process (its token), or where that
  /// cannot be read, the owner of the pipe object (which its creator's user owns).
  ConnectOptions& current_user_only(bool on) noexcept {
    current_user_only_ = on ? 1 : 0;
    return *this;
  }
  /// After connecting (and after the current_user_only check), call `check` with what
  /// the system says about the server; when it returns false, close the connection and
  /// fail with `errc::access_denied`. For servers that run as another account (a
  /// service): `expect_server([](const PeerInfo& p) { return p.uid == 0; })`. Called on
  /// the connecting thread (the thread pool for AsyncSocket::connect). A predicate that
  /// throws refuses the server: the exception is swallowed and the connect fails with
  /// `errc::access_denied` (blocking and async alike; on the pool thread it could reach
  /// no caller).
  ConnectOptions& expect_server(std::function<bool(const PeerInfo&)> check) {
    expect_server_ = std::move(check);
    return *this;
  }
  /// Unix, message sockets: how messages travel; it must be the listener's (see
  /// ListenerOptions::transport). A seqpacket client at a framed listener, or a framed
  /// client at a seqpacket listener, fails to connect with `errc::mode_mismatch`.
  /// Framed connections begin with a greeting each end sends without waiting for the
  /// other (connect never waits for the server to accept): a framed end whose peer is
  /// a byte-mode socket (or any program that does not greet) gets
  /// `errc::mode_mismatch` from its first receive as soon as the peer's first bytes
  /// are not the greeting, and ends the connection, so the peer reads the end of the
  /// stream instead of waiting. Default `automatic` (seqpacket on Linux, framed
  /// elsewhere); an explicit `seqpacket` where the system has none is
  /// `errc::not_supported`. Windows: ignored (message-mode pipes).
  ConnectOptions& transport(MessageTransport t) noexcept {
    transport_ = t;
    return *this;
  }

  const LocalName& name() const noexcept { return name_; }
  Timeout timeout() const noexcept { return timeout_; }
  bool nonblocking() const noexcept { return nonblocking_; }
  bool current_user_only() const noexcept {
    return current_user_only_ < 0 ? name_.is_per_user() : current_user_only_ != 0;
  }
  const std::function<bool(const PeerInfo&)>& expect_server() const noexcept {
    return expect_server_;
  }
  MessageTransport transport() const noexcept { return transport_; }

 private:
  LocalName name_;
  Timeout timeout_{10'000};
  bool nonblocking_ = false;
  std::int8_t current_user_only_ = -1;  // unset: the name decides (on for per-user names)
  std::function<bool(const PeerInfo&)> expect_server_;
  MessageTransport transport_ = MessageTransport::automatic;
};

}  // namespace localsock
