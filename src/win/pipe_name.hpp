// SPDX-License-Identifier: MIT
#pragma once

#include <localsock/name.hpp>

#include <string>

namespace localsock::win::detail {

/// `\\.\pipe\` followed by the name, or the name itself when it already is a full pipe
/// path (`\\.\pipe\x`, `\\host\pipe\x`).
std::string pipe_path(const std::string& name);

/// UTF-8 to UTF-16 for the wide Win32 functions.
std::wstring widen(const std::string& s);

}  // namespace localsock::win::detail
