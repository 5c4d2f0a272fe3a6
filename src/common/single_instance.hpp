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

/// The acknowledgement a primary sends once its handler has taken a message.
inline constexpr std::string_view instance_ack = "ok";

/// Tries to become the primary of `o.name()`: takes the instance lock and, holding it,
/// calls `bind(reclaim, ec)` (reclaim: a stale socket file may be replaced, since only
/// the lock's holder binds). Returns the lock held when this process is the primary;
/// one not held when another process is (`ec` clear); or reports an error.
InstanceLock elect_primary(const SingleInstanceOptions& o,
                           const std::function<void(bool reclaim, std::error_code&)>& bind,
                           std::error_code& ec);

/// A secondary's send: connects (waiting for a primary still starting), sends one
/// message and waits for the acknowledgement, all within `o.timeout()`.
void send_to_primary(const SingleInstanceOptions& o, std::string_view message, std::error_code& ec);

}  // namespace localsock::detail
