// SPDX-License-Identifier: MIT
// What Unix-domain sockets offer here. The kernel refuses to bind a name in use, so
// first-instance protection needs no measuring; whether socket-file permissions keep
// this process out is measured, because privilege is more than uid 0: a process with
// CAP_DAC_OVERRIDE passes every permission check whatever its uid, and root without it
// does not.
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>

#include "../common/platform.hpp"
#include "address.hpp"
#include "flavor.hpp"
#include "sys.hpp"

namespace localsock::detail {
namespace {

// The directory for the probe's socket: the one temporary files go to.
std::string probe_parent() {
  for (const char* var : {"TMPDIR", "XDG_RUNTIME_DIR"}) {
    const char* dir = std::getenv(var);
    if (dir != nullptr && dir[0] == '/') return dir;
  }
  return "/tmp";
}

// Binds a socket file with no permission bits at all in a fresh private directory and
// tries to connect to it: the kernel refuses (EACCES) exactly when permissions bind
// this process. Returns whether they do; `fallback` when the probe cannot be set up.
bool socket_permissions_enforced(bool fallback) noexcept {
  try {
    std::string dir = probe_parent() + "/localsock-probe-XXXXXX";
    if (::mkdtemp(dir.data()) == nullptr) return fallback;
    const std::string path = dir + "/s";
    bool result = fallback;
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.size() < sizeof addr.sun_path) {
      std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
      const auto* sa = reinterpret_cast<const sockaddr*>(&addr);
      std::error_code ec;
      posix::OwnedFd server(posix::detail::open_socket(SOCK_STREAM, ec));
      posix::OwnedFd client(posix::detail::open_socket(SOCK_STREAM, ec));
      if (server.get() >= 0 && client.get() >= 0 && ::bind(server.get(), sa, sizeof addr) == 0 &&
          ::listen(server.get(), 1) == 0 && ::chmod(path.c_str(), 0) == 0) {
        if (::connect(client.get(), sa, sizeof addr) == 0) {
          result = false;
        } else if (errno == EACCES || errno == EPERM) {
          result = true;
        }
      }
      ::unlink(path.c_str());
    }
    ::rmdir(dir.c_str());
    return result;
  } catch (...) {
    return fallback;
  }
}

}  // namespace

Capabilities probe_capabilities() noexcept {
  Capabilities c;
  c.namespaced_names = true;
  c.filesystem_names = true;
  c.abstract_names = posix::detail::has_abstract_namespace();
#if LOCALSOCK_POSIX_LINUX
  c.native_messages = true;  // the automatic transport is seqpacket
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
  // Measured; should the probe fail to run, the guess is that only root passes checks.
  c.access_control_enforced = socket_permissions_enforced(::geteuid() != 0);
  return c;
}

}  // namespace localsock::detail
