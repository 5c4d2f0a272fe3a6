// SPDX-License-Identifier: MIT
// release_library_caches() for the suites of the public API alone, which cannot reach
// the library's caches: nothing to do (their handle counts are taken in steady state).
#include "process.hpp"

namespace localsock::test {

void release_library_caches() noexcept {}

}  // namespace localsock::test
