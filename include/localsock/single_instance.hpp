// SPDX-License-Identifier: MIT
#pragma once

/// @file
/// One instance per user (or per session, or per name) of a desktop application: the
/// first process to start becomes the primary and receives a message from every later
/// launch, which learns that it is secondary, sends its message, gets an
/// acknowledgement and can exit.

#include <localsock/error.hpp>
#include <localsock/export.hpp>
#include <localsock/name.hpp>
#include <localsock/peer.hpp>
#include <localsock/types.hpp>

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace localsock {

class AsyncLoop;

/// What a later launch usually sends: its arguments and working directory, as one
/// message (encode() / decode()).
struct LOCALSOCK_API LaunchInfo {
  std::vector<std::string> arguments;  ///< argv[1..], in order
  std::string working_directory;

  /// This process's launch: `argv[1]` to `argv[argc - 1]` and the current directory.
  static LaunchInfo of_this_process(int argc, const char* const* argv);
  /// The message form: each field followed by a NUL byte, the directory first.
  std::string encode() const;
  /// The inverse of encode(); `std::errc::invalid_argument` for bytes that are not an
  /// encoded LaunchInfo.
  static LaunchInfo decode(std::string_view message, std::error_code& ec);
};

/// Settings of a SingleInstance, builder-style.
class LOCALSOCK_API SingleInstanceOptions {
 public:
  /// For `name`: usually `LocalName::per_user("org.example.app")` (or per_session).
  SingleInstanceOptions(LocalName name) : name_(std::move(name)) {}  // NOLINT: implicit on purpose

  /// How long a secondary's send() waits for the primary to take its message (a
  /// primary still starting up, or busy in its handler with an earlier launch, is
  /// waited for) and for the handler to return. Default 5 s. A send() that times out
  /// before the primary took the message fails with `errc::timed_out`, and the primary
  /// then never acts on that message; once taken, the message is delivered, and send()
  /// returns when the handler has returned or, at the latest, at the timeout.
  SingleInstanceOptions& timeout(Timeout t) noexcept {
    timeout_ = t;
    return *this;
  }
  /// Both ends talk only to processes of this user: the primary's listener admits this
  /// user alone, and a secondary checks that the primary runs as this user, failing
  /// with `errc::access_denied` otherwise (a squatter holding the name). Default true.
  SingleInstanceOptions& current_user_only(bool on) noexcept {
    current_user_only_ = on;
    return *this;
  }
  /// The largest message the primary takes; a larger one is dropped unacknowledged
  /// (the sender's send() fails). Default 1 MiB.
  SingleInstanceOptions& max_message_size(std::size_t n) noexcept {
    max_message_size_ = n;
    return *this;
  }

  const LocalName& name() const noexcept { return name_; }
  Timeout timeout() const noexcept { return timeout_; }
  bool current_user_only() const noexcept { return current_user_only_; }
  std::size_t max_message_size() const noexcept { return max_message_size_; }

 private:
  LocalName name_;
  Timeout timeout_{5000};
  bool current_user_only_ = true;
  std::size_t max_message_size_ = std::size_t{1024} * 1024;
};

/// A message from a later launch, as the primary receives it.
using InstanceMessageHandler = std::function<void(std::string message, const PeerInfo& sender)>;

/// The blocking flavor: a primary receives messages on a thread of its own.
///
/// Races and crashes: of processes starting at once, exactly one becomes the primary
/// and every other one's message is delivered. The election is an exclusive lock that
/// the system releases when its holder dies (Unix: `flock` on `<socket file>.lock`
/// beside the socket; Windows: a lock file opened without sharing in the user's
/// temporary directory; Linux abstract names need none: the kernel frees the name with
/// its process), so a primary killed with SIGKILL or TerminateProcess is replaced by
/// the next launch, which alone may then replace the stale socket file (never a live
/// one: a live listener there is left alone and makes this process a secondary).
///
/// Serving: each launch's connection is served on a thread of its own (at most 16 at
/// once; more wait in the listener's backlog), so a connection that says nothing (a
/// launcher probing whether the app runs, a launch stopped with ^Z) is let go after
/// 2 s and holds up no other launch. The handler still takes one message at a time: a
/// message waits while the handler runs on an earlier one (see
/// SingleInstanceOptions::timeout()), and the primary hands a message to its handler
/// only once its sender has confirmed that it still waits, so that a sender that gave
/// up is never acted on behind its back.
/// @par Thread Safety: send() may be called from any one thread at a time; the handler
/// runs on a connection's thread, one message at a time.
class LOCALSOCK_API SingleInstance {
 public:
  /// Becomes the primary if no live primary holds the name (then `on_message` is
  /// called for every message, on the instance's own thread, until destruction), else
  /// a secondary.
  /// @throws localsock::Error on a system error or an unusable name.
  SingleInstance(const SingleInstanceOptions& options, InstanceMessageHandler on_message);
  /// As above, reporting through `ec`; the object is then neither primary nor usable.
  SingleInstance(const SingleInstanceOptions& options, InstanceMessageHandler on_message,
                 std::error_code& ec);
  /// Primary: stops listening, waits for the connections in progress (a handler running
  /// returns and is acknowledged; messages not yet handed to it are refused, and their
  /// senders turn to the next primary), and gives up the name. Never throws.
  ~SingleInstance();
  SingleInstance(SingleInstance&&) noexcept;
  SingleInstance& operator=(SingleInstance&&) noexcept;

  /// True in the primary.
  bool is_primary() const noexcept;
  /// Secondary: sends `message` to the primary and waits (within the options' timeout)
  /// for its acknowledgement, which comes once the handler has returned (see
  /// SingleInstanceOptions::timeout() for a handler still running at the timeout).
  /// @throws localsock::Error: `errc::access_denied` when the name's server is not this
  /// user's (a squatter); `errc::timed_out` when no primary took the message in time
  /// (it will never be handled: trying again delivers it once);
  /// `errc::no_listener` when the primary went away before taking the message (it was
  /// quitting, or was killed) and this instance took its place in a new election: it
  /// is the primary now (is_primary() is true, the handler receives later launches) and
  /// its message was not sent, so the caller carries on as the primary (a launch meeting
  /// a primary that went away and another launch that took over sends to that one
  /// instead, all within the election's few rounds); `errc::peer_closed` when the
  /// primary went away after taking the message, inside its handler (it may have acted
  /// on it); `errc::wrong_end` in the primary.
  void send(std::string_view message);
  void send(std::string_view message, std::error_code& ec);

  const LocalName& name() const noexcept;

  /// For the library's own use.
  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

/// The libuv flavor: a primary receives messages on `loop`'s thread (through the async
/// API), so the handler may touch the application's loop-side state freely. A
/// secondary's send() blocks (a secondary usually sends and exits). Loop-thread only,
/// except send(). As in the blocking flavor, a connection that says nothing for 2 s
/// (its message, or its go-ahead) is closed, so that silent connections hold no
/// descriptors of the primary for ever.
class LOCALSOCK_API AsyncSingleInstance {
 public:
  /// As SingleInstance's constructor; `on_message` runs on the loop thread.
  static std::unique_ptr<AsyncSingleInstance> start(AsyncLoop& loop,
                                                    const SingleInstanceOptions& options,
                                                    InstanceMessageHandler on_message,
                                                    std::error_code& ec);
  static std::unique_ptr<AsyncSingleInstance> start(AsyncLoop& loop,
                                                    const SingleInstanceOptions& options,
                                                    InstanceMessageHandler on_message);
  /// Closes (see close()).
  ~AsyncSingleInstance();

  bool is_primary() const noexcept;
  /// Secondary: as SingleInstance::send (blocking), except that it takes no part in a new
  /// election (the listener would belong to this instance's loop): `errc::no_listener`
  /// when the primary went away and no other took its place (start a new
  /// AsyncSingleInstance: this process may become the primary).
  void send(std::string_view message);
  void send(std::string_view message, std::error_code& ec);
  /// Primary: stops listening and closes the connections in progress, then gives up
  /// the name; `on_closed` runs on the loop once all is released. Idempotent.
  void close(std::function<void()> on_closed = {});

  const LocalName& name() const noexcept;

  /// For the library's own use.
  struct Impl;
  explicit AsyncSingleInstance(std::shared_ptr<Impl> impl) noexcept;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace localsock
