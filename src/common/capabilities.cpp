// SPDX-License-Identifier: MIT
#include <localsock/capabilities.hpp>

#include "platform.hpp"

namespace localsock {

const Capabilities& capabilities() noexcept {
  // Measured once; a function-local static is initialised exactly once, thread-safely.
  static const Capabilities measured = detail::probe_capabilities();
  return measured;
}

}  // namespace localsock
