// SPDX-License-Identifier: MIT
#pragma once

/// @file
/// A test seam for per-user names (see <localsock/testing.hpp> for the others): where
/// LocalName::per_user makes its private directory on Unix. Built into the library only
/// with the `fault_injection` build option, as the other seams. Not installed.

#include <string>

namespace localsock::testing {

/// Unix: per-user names use `dir` in place of the system's choice (/run/user/<uid>,
/// the system's per-user temporary directory, /tmp), making `localsock-<uid>` in it as
/// in /tmp, so that tests can plant links and modes there without touching the user's
/// real directory. An empty `dir` gives the system's choice back. Thread-safe.
void set_per_user_base(std::string dir);

}  // namespace localsock::testing
