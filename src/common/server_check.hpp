// SPDX-License-Identifier: MIT
#pragma once

// The client's check of its server after a connect (ConnectOptions::current_user_only
// and expect_server), called once from the backend's connect_socket.

#include <localsock/options.hpp>
#include <localsock/peer.hpp>

#include <system_error>

namespace localsock::detail {

/// Who is at the other end of `s` (defined with the backend, in backend.hpp).
template <typename S>
PeerInfo peer_info(const S& s, std::error_code& ec);

/// `errc::access_denied` when `peer` fails the checks `o` asks for, else no error.
std::error_code check_server(const ConnectOptions& o, const PeerInfo& peer);

/// After a connect: when `o` asks for a check of the server and it fails (or who the
/// server is cannot be learned), closes `s` and reports `errc::access_denied`.
template <typename S>
void verify_server(const ConnectOptions& o, S& s, std::error_code& ec) {
  if (ec || (!o.current_user_only() && !o.expect_server())) return;
  const PeerInfo peer = peer_info(s, ec);
  ec = ec ? make_error_code(errc::access_denied) : check_server(o, peer);
  if (ec) s.close();
}

}  // namespace localsock::detail
