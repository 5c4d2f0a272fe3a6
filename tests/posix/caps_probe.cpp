// SPDX-License-Identifier: MIT
// Prints what capabilities() measured about access control: "enforced" or
// "not enforced". Run by capabilities_test.sh under different users and privileges.
#include <localsock/capabilities.hpp>

#include <cstdio>

int main() {
  std::puts(localsock::capabilities().access_control_enforced ? "enforced" : "not enforced");
  return 0;
}
