// SPDX-License-Identifier: MIT
// What Unix-domain sockets offer here. Nothing needs measuring: the kernel enforces
// socket-file permissions and refuses to bind a name in use.
#include <sys/socket.h>
#include <unistd.h>

#include "../common/platform.hpp"
#include "address.hpp"
#include "flavor.hpp"

namespace localsock::detail {

Capabilities probe_capabilities() noexcept {
  Capabilities c;
  c.namespaced_names = true;
  c.filesystem_names = true;
  c.abstract_names = posix::detail::has_abstract_namespace();
#if LOCALSOCK_POSIX_LINUX && !defined(LOCALSOCK_MESSAGE_FRAMING)
  c.native_messages = true;
#endif
  c.half_close = true;
#if LOCALSOCK_POSIX_LINUX || defined(LOCAL_PEERPID)
  c.peer_pid = true;
#endif
  c.peer_user = true;
  c.descriptor_passing = true;
#if LOCALSOCK_POSIX_LINUX
  c.credentials_passing = true;
#endif
  c.remote_clients = false;
  c.first_instance_enforced = true;
  // Socket-file permissions are enforced, except against root, which passes every check.
  c.access_control_enforced = ::geteuid() != 0;
  return c;
}

}  // namespace localsock::detail
