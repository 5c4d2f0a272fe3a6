// SPDX-License-Identifier: MIT
#pragma once

// Identity and access: SIDs of users and security descriptors for pipe instances.

#include <windows.h>

#include <memory>
#include <string>
#include <system_error>

namespace localsock::win::detail {

struct LocalFreer {
  void operator()(void* p) const noexcept { ::LocalFree(p); }
};
/// Memory the system allocated with LocalAlloc (a security descriptor, a SID string).
using LocalMemory = std::unique_ptr<void, LocalFreer>;

/// The SID string of a token's user.
std::string token_user_sid(HANDLE token, std::error_code& ec);

/// The security descriptor of `sddl`, for the instances of a listener.
LocalMemory descriptor_from_sddl(const std::string& sddl, std::error_code& ec);

/// The SDDL that grants all access to the user `sid` alone (current_user_only).
std::string user_only_sddl(const std::string& sid);

/// The descriptor (SDDL) a pipe gets when its options name none: full access for the
/// creating user, LocalSystem and the Administrators group, and nobody else; protected
/// (`P`) so that nothing is inherited. Windows' own default for a pipe would also let
/// Everyone and Anonymous read. Fills `out`; false with `ec` set on failure.
bool default_pipe_sddl(std::string& out, std::error_code& ec);

}  // namespace localsock::win::detail
