// SPDX-License-Identifier: MIT
// TestLoop's clean-up for the suites that use the public API alone (and may link the
// shared library, whose internals they cannot reach): they arm no faults, so there is
// nothing inside the library to undo.
#include "test_loop.hpp"

namespace localsock::test {

void reset_library_test_state() noexcept {}

}  // namespace localsock::test
