// SPDX-License-Identifier: MIT
// The doctest main shared by every suite. A suite may also serve as a child process
// for multi-process tests: `--child NAME ARGS...` runs a registered child routine.
#define DOCTEST_CONFIG_IMPLEMENT
#include "doctest_ext.hpp"

#include <cstring>

#include "child_main.hpp"

int main(int argc, char** argv) {
  if (argc >= 3 && std::strcmp(argv[1], "--child") == 0)
    return localsock::test::run_child(argv[2], argc - 3, argv + 3);
  doctest::Context context(argc, argv);
  return context.run();
}
