// SPDX-License-Identifier: MIT
// A library built without fault injection (see faults.hpp): nothing can be armed, and
// clearing, which test fixtures do on their way out, has nothing to do.
#include "desktop.hpp"
#include "faults.hpp"

namespace localsock::testing {

void clear_faults() noexcept {}

}  // namespace localsock::testing

namespace localsock::detail {

std::string per_user_base_override() { return {}; }

}  // namespace localsock::detail
