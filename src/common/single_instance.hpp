// SPDX-License-Identifier: MIT
#pragma once

// What both flavors of SingleInstance share: the election of the primary and a
// secondary's send.

#include <localsock/single_instance.hpp>

#include <functional>
#include <string_view>
#include <system_error>

#include "desktop.hpp"

namespace localsock::detail {

// The exchange between a secondary and the primary, one connection per launch:
//   secondary -> primary: the message
//   primary -> secondary: instance_ready  (its handler is free to take the message now)
//   secondary -> primary: instance_go     (the secondary still waits: from here on, the
//                                          message is the primary's to handle)
//   primary -> secondary: instance_ack    (the handler has returned)
// The primary calls its handler only after instance_go, so a secondary that gave up
// before sending it (timed out) knows that its message will never be handled, and one
// that meets a primary going away before it can retry without delivering twice.

/// The primary's handler is free: it asks whether the sender still waits.
inline constexpr std::string_view instance_ready = "ready";
/// The sender still waits: the primary may hand the message to its handler.
inline constexpr std::string_view instance_go = "go";
/// The acknowledgement a primary sends once its handler has returned.
inline constexpr std::string_view instance_ack = "ok";

/// How long a primary waits for one step of a sender (its message, instance_go): a
/// sender sends each at once, so this is short, and a silent connection is let go soon.
inline constexpr Timeout instance_step_timeout{2000};
/// How many launches a blocking primary serves at once (each on a thread of its own);
/// more wait in the listener's backlog until one of them is done.
inline constexpr int instance_max_connections = 16;

/// Tries to become the primary of `o.name()`: takes the instance lock and, holding it,
/// calls `bind(reclaim, ec)` (reclaim: a stale socket file may be replaced, since only
/// the lock's holder binds). Returns the lock held when this process is the primary;
/// one not held when another process is (`ec` clear); or reports an error.
InstanceLock elect_primary(const SingleInstanceOptions& o,
                           const std::function<void(bool reclaim, std::error_code&)>& bind,
                           std::error_code& ec);

/// A secondary's send: connects (waiting for a primary still starting), sends one
/// message and waits for the acknowledgement, all within `o.timeout()`. A primary that
/// goes away before it has taken the message is replaced by trying again: a new primary
/// is waited for, and `errc::no_listener` reported once there is none (the instance
/// lock is free). `errc::peer_closed`: the primary went away after taking the message
/// (its handler may have acted on it).
void send_to_primary(const SingleInstanceOptions& o, std::string_view message, std::error_code& ec);

}  // namespace localsock::detail
