// SPDX-License-Identifier: MIT
#pragma once

#include <localsock/name.hpp>

#include <sys/socket.h>
#include <sys/un.h>

#include <string>
#include <system_error>

namespace localsock::posix::detail {

/// A socket address for a LocalName, with its exact length.
struct UnixAddress {
  sockaddr_un addr{};
  socklen_t len = 0;

  const sockaddr* get() const noexcept { return reinterpret_cast<const sockaddr*>(&addr); }
};

/// The longest path a sockaddr_un holds with its terminating NUL.
inline constexpr std::size_t max_path_length = sizeof(sockaddr_un::sun_path) - 1;

/// Whether namespaced names live in the Linux abstract namespace (else they map to a
/// socket file in the runtime directory).
bool has_abstract_namespace() noexcept;

/// The filesystem path a name occupies, or an empty string for an abstract name.
std::string filesystem_path(const LocalName& name);

/// The namespaced name whose socket file is `path` (in the runtime directory, where there
/// is no abstract namespace); an empty name when `path` is no such file.
LocalName namespaced_of_path(std::string_view path);

/// Fills `out` for `name`.
std::error_code make_address(const LocalName& name, UnixAddress& out) noexcept;

}  // namespace localsock::posix::detail
