// SPDX-License-Identifier: MIT
#pragma once

// The functions every backend provides to the portable code in src/common. Each is
// defined once per platform (src/posix/*.cpp or src/win/*.cpp); Meson compiles one
// set, so nothing here needs an #ifdef.

#include <localsock/capabilities.hpp>
#include <localsock/error.hpp>
#include <localsock/name.hpp>

#include <string>
#include <string_view>
#include <system_error>

namespace localsock::detail {

/// The operating system's description of a native error value (errno or GetLastError).
std::string system_message(int value);

/// Whether the native error `value` (in system_category) means `condition`.
bool system_error_means(int value, errc condition) noexcept;

/// Platform checks of a name that the portable checks (empty, NUL) already passed.
std::error_code validate_name(NameKind kind, std::string_view name) noexcept;

/// The name as the operating system sees it (see LocalName::native).
std::string native_name(NameKind kind, const std::string& name);

/// Whether two names of kind `kind` name the same object here (see LocalName's ==).
bool same_name(NameKind kind, const std::string& a, const std::string& b);

/// Kinds of name this platform supports natively.
NameSupport name_support() noexcept;

/// A sentence stating the platform's length limit for names, for error messages.
std::string name_limit_text();

/// The text of `errc::access_denied`: what keeps a user out on this platform (Unix: the
/// socket file or a directory on its path; Windows: the pipe's security descriptor).
const char* access_denied_text() noexcept;

/// Measures what this platform and runtime support and enforce (see Capabilities).
Capabilities probe_capabilities() noexcept;

}  // namespace localsock::detail
