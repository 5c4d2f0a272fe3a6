// SPDX-License-Identifier: MIT
// TestLoop's clean-up for the suites that link the library's internals.
#include <localsock/testing.hpp>

#include "test_loop.hpp"

namespace localsock::test {

void reset_library_test_state() noexcept { testing::clear_faults(); }

}  // namespace localsock::test
