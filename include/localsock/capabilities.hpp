// SPDX-License-Identifier: MIT
#pragma once

#include <localsock/export.hpp>

namespace localsock {

/// What this platform, and the runtime the program runs on, support or enforce. The
/// enforcement entries are measured once (by trying), not assumed: under Wine, for
/// example, a Windows build learns that security descriptors are not enforced, and on
/// Unix a process holding CAP_DAC_OVERRIDE (root, or any user given it) learns that
/// socket-file permissions do not keep it out.
/// Applications can refuse to run where a protection they rely on is missing.
struct LOCALSOCK_API Capabilities {
  bool namespaced_names = false;     ///< LocalName::namespaced works.
  bool filesystem_names = false;     ///< LocalName::path works (Unix).
  bool abstract_names = false;       ///< Namespaced names leave no file (Linux).
  bool native_messages = false;      ///< Message mode's default transport is native
                                     ///< (seqpacket, message pipes), not length-prefixed
                                     ///< frames over a stream; on Unix,
                                     ///< MessageTransport::seqpacket works exactly then.
  bool half_close = false;           ///< shutdown(read) / shutdown(write) alone.
  bool peer_pid = false;             ///< PeerInfo::pid is reported.
  bool peer_user = false;            ///< PeerInfo has the peer's user (uid or SID).
  bool descriptor_passing = false;   ///< File descriptors travel with data (Unix).
  bool credentials_passing = false;  ///< Credentials travel as ancillary data (Linux).
  bool remote_clients = false;       ///< Clients on other machines are possible (Windows).
  /// A second listener on a live name is refused by the system itself (Windows:
  /// FILE_FLAG_FIRST_PIPE_INSTANCE is enforced; Unix: bind refuses). localsock refuses
  /// it in any case; this says whether a squatter outside localsock is refused too.
  bool first_instance_enforced = false;
  /// Access control on the listener is enforced by the system (Windows: the pipe's DACL;
  /// Unix: the socket file's permissions). The current_user_only check on accept holds
  /// either way.
  bool access_control_enforced = false;
};

/// This platform's capabilities, measured on first use. Thread-safe.
LOCALSOCK_API const Capabilities& capabilities() noexcept;

}  // namespace localsock
