// SPDX-License-Identifier: MIT
// Windows: a peer is this process's user when its user SID (from its process token, or
// the pipe's owner; read by the caller) is this process's token user.
#include <localsock/win/named_pipe.hpp>

#include "../common/desktop.hpp"

namespace localsock::detail {

bool is_current_user(const PeerInfo& peer) noexcept {
  if (peer.sid.empty()) return false;
  try {
    std::error_code ec;
    const std::string mine = win::current_user_sid(ec);
    // Both come from ConvertSidToStringSid: one spelling per SID.
    return !ec && mine == peer.sid;
  } catch (const std::bad_alloc&) {
    return false;
  }
}

}  // namespace localsock::detail
