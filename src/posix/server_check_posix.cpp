// SPDX-License-Identifier: MIT
// Unix: a peer is this process's user when its effective uid (SO_PEERCRED or
// getpeereid, read by the caller) is ours.
#include <unistd.h>

#include "../common/desktop.hpp"

namespace localsock::detail {

bool is_current_user(const PeerInfo& peer) noexcept {
  return peer.uid.has_value() && *peer.uid == static_cast<std::uint32_t>(::geteuid());
}

}  // namespace localsock::detail
