// SPDX-License-Identifier: MIT
#pragma once

#include <string>
#include <system_error>

namespace localsock::win::detail {

/// The descriptor (SDDL) a pipe gets when its options name none: full access for the
/// creating user, LocalSystem and the Administrators group, and nobody else; protected
/// (`P`) so that nothing is inherited. Windows' own default for a pipe would also let
/// Everyone and Anonymous read. Fills `out`; false with `ec` set on failure.
bool default_pipe_sddl(std::string& out, std::error_code& ec);

}  // namespace localsock::win::detail
