// SPDX-License-Identifier: MIT
#pragma once

// Child routines for multi-process tests: a test spawns its own executable with
// `--child NAME ARGS...`, and main() runs the routine registered under NAME.

#include <functional>
#include <map>
#include <string>
#include <vector>

namespace localsock::test {

using ChildRoutine = std::function<int(const std::vector<std::string>&)>;

inline std::map<std::string, ChildRoutine>& child_routines() {
  static std::map<std::string, ChildRoutine> routines;
  return routines;
}

/// Registers a child routine at static-initialisation time.
struct RegisterChild {
  RegisterChild(const char* name, ChildRoutine routine) {
    child_routines().emplace(name, std::move(routine));
  }
};

inline int run_child(const char* name, int argc, char** argv) {
  auto it = child_routines().find(name);
  if (it == child_routines().end()) return 127;
  return it->second(std::vector<std::string>(argv, argv + argc));
}

}  // namespace localsock::test
