// SPDX-License-Identifier: MIT
#pragma once

// Where tallyd listens, shared by the daemon and its command-line tool.
//
// On Unix the daemon listens on a socket file, which the file system's permissions
// protect and `ls` shows. Windows has no socket files for named pipes
// (LocalName::path is errc::not_supported there), so there the same setting names a
// pipe after the file's name: `tallyd.sock` becomes `\\.\pipe\tallyd.sock`.

#include <localsock/localsock.hpp>

#include <cstdlib>
#include <filesystem>
#include <string>

namespace tally {

// $XDG_RUNTIME_DIR/tallyd.sock (a directory only this user may enter), else the
// temporary directory.
inline std::string default_socket_path() {
  const char* runtime = std::getenv("XDG_RUNTIME_DIR");
  const std::filesystem::path dir = runtime != nullptr && *runtime != '\0'
                                        ? std::filesystem::path(runtime)
                                        : std::filesystem::temp_directory_path();
  return (dir / "tallyd.sock").string();
}

inline localsock::LocalName control_name(const std::string& socket_path) {
  if (localsock::LocalName::supported().path) return localsock::LocalName::path(socket_path);
  return localsock::LocalName::namespaced(std::filesystem::path(socket_path).filename().string());
}

}  // namespace tally
