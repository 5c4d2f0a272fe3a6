// SPDX-License-Identifier: MIT
// release_library_caches() for the suites that link the library's internals.
#if defined(_WIN32)
#include <localsock/testing_win.hpp>
#endif

#include "process.hpp"

namespace localsock::test {

void release_library_caches() noexcept {
#if defined(_WIN32)
  testing::release_kept_events();
#endif
}

}  // namespace localsock::test
