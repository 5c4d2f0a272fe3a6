// SPDX-License-Identifier: MIT
#include <localsock/capabilities.hpp>
#include <localsock/name.hpp>

#include <string>

#include "doctest_ext.hpp"

using localsock::errc;
using localsock::LocalName;
using localsock::NameKind;

TEST_CASE("LocalName: an empty name is invalid, of either kind") {
  std::error_code ec;
  CHECK(LocalName::namespaced("", ec).empty());
  CHECK(ec == errc::invalid_name);
  LocalName::path("", ec);
  CHECK(ec == errc::invalid_name);
}

TEST_CASE("LocalName: an embedded NUL is invalid") {
  using namespace std::string_literals;
  std::error_code ec;
  LocalName::namespaced("ab\0cd"s, ec);
  CHECK(ec == errc::invalid_name);
  LocalName::path("/tmp/ab\0cd"s, ec);
  CHECK(ec == errc::invalid_name);
}

TEST_CASE("LocalName: the throwing overload names the operation and the name") {
  try {
    LocalName::namespaced("");
    FAIL("no exception");
  } catch (const localsock::Error& e) {
    CHECK(e.code() == errc::invalid_name);
    CHECK(std::string(e.what()).rfind("LocalName::namespaced", 0) == 0);
  }
}

TEST_CASE("LocalName: a plain namespaced name is valid on every platform") {
  std::error_code ec = localsock::make_error_code(errc::timed_out);
  const LocalName n = LocalName::namespaced("app-control.v1", ec);
  CHECK_FALSE(ec);
  CHECK(n.kind() == NameKind::namespaced);
  CHECK(n.str() == "app-control.v1");
  CHECK(n.native().find("app-control.v1") != std::string::npos);
  // Natively (leaving no file) where the system has a namespace for it: Windows pipes,
  // Linux abstract names; elsewhere (macOS, the generic Unix flavor) it is a socket file.
  CHECK(LocalName::supported().namespaced ==
        (localsock::capabilities().abstract_names || !localsock::capabilities().filesystem_names));
}

TEST_CASE("LocalName: values compare by kind and text") {
  CHECK(LocalName::namespaced("a") == LocalName::namespaced("a"));
  CHECK(LocalName::namespaced("a") != LocalName::namespaced("b"));
  CHECK(LocalName().empty());
}
