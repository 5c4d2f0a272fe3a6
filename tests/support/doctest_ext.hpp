// SPDX-License-Identifier: MIT
#pragma once

// doctest 2.4.9 needs <ostream> to print a std::error_code in a failed check.
#include <ostream>
#include <string>
#include <system_error>

#include <doctest.h>

namespace doctest {
template <>
struct StringMaker<std::error_code> {
  static String convert(const std::error_code& ec) {
    std::string s = ec.category().name();
    s += ':' + std::to_string(ec.value()) + " (" + ec.message() + ")";
    return String(s.c_str());
  }
};
}  // namespace doctest
