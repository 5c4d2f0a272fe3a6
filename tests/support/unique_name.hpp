// SPDX-License-Identifier: MIT
#pragma once

#include <atomic>
#include <string>

#include "process.hpp"

namespace localsock::test {

/// A name no other test (or concurrently running suite) uses: prefix, pid, counter.
/// Kept short: a socket path holds 107 bytes at most on Linux.
inline std::string unique_name(const char* prefix = "lst") {
  static std::atomic<unsigned> counter{0};
  return std::string(prefix) + "-" + std::to_string(current_pid()) + "-" +
         std::to_string(counter++);
}

}  // namespace localsock::test
