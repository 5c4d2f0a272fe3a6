// SPDX-License-Identifier: MIT
// The default access control of the pipes localsock creates. Without a descriptor of
// its own, a pipe gets the default DACL of the creator's token, which (for pipes)
// grants read access to Everyone and Anonymous Logon: another user's process could
// open a read-only client, take a free instance of a duplex byte pipe and read what
// the server writes. So the library's default admits only the creating user, SYSTEM
// and Administrators; access for others is asked for explicitly, with a descriptor.
#include "default_security.hpp"

#include <localsock/win/named_pipe.hpp>

namespace localsock::win::detail {

bool default_pipe_sddl(std::string& out, std::error_code& ec) {
  const std::string user = current_user_sid(ec);
  if (ec) return false;
  // GA: GENERIC_ALL, which the pipe file system maps to FILE_ALL_ACCESS (and with it
  // FILE_CREATE_PIPE_INSTANCE, which the server's further instances need).
  out = "D:P(A;;GA;;;" + user + ")(A;;GA;;;SY)(A;;GA;;;BA)";
  return true;
}

}  // namespace localsock::win::detail
