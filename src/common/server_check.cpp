// SPDX-License-Identifier: MIT
// The client's check of its server: the portable part. Whether a peer is this
// process's user is the platform's question (src/*/server_check_*.cpp).
#include "server_check.hpp"

#include "desktop.hpp"

namespace localsock::detail {

std::error_code check_server(const ConnectOptions& o, const PeerInfo& peer) {
  if (o.current_user_only() && !is_current_user(peer)) return make_error_code(errc::access_denied);
  if (o.expect_server()) {
    // A predicate that throws refuses the server: the async connect runs it on a libuv
    // pool thread, where an exception would end the process, and the blocking connect
    // behaves the same, so that a failed policy lookup never lets a server through.
    bool accepted = false;
    try {
      accepted = o.expect_server()(peer);
    } catch (...) {
      accepted = false;
    }
    if (!accepted) return make_error_code(errc::access_denied);
  }
  return {};
}

}  // namespace localsock::detail

namespace localsock {

bool PeerInfo::is_current_user() const noexcept { return detail::is_current_user(*this); }

}  // namespace localsock
