// SPDX-License-Identifier: MIT
// Fuzz target: name parsing and validation. Any bytes give a name or a clear error,
// never a crash; a name that is made survives a round trip through its text.
#include <localsock/name.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  for (bool path : {true, false}) {
    std::error_code ec;
    const localsock::LocalName name =
        path ? localsock::LocalName::path(text, ec) : localsock::LocalName::namespaced(text, ec);
    if (ec) {
      if (!name.empty()) std::abort();         // an error leaves no half-made name
      if (ec.message().empty()) std::abort();  // every error says what it is
      continue;
    }
    if (name.str() != text) std::abort();
    (void)name.native();
    std::error_code again;
    const auto copy = path ? localsock::LocalName::path(name.str(), again)
                           : localsock::LocalName::namespaced(name.str(), again);
    if (again || !(copy == name)) std::abort();
  }
  return 0;
}
