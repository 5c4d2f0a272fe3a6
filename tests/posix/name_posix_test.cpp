// SPDX-License-Identifier: MIT
#include <localsock/capabilities.hpp>
#include <localsock/error.hpp>
#include <localsock/name.hpp>
#include <unistd.h>

#include <string>

#include "doctest_ext.hpp"

using localsock::errc;
using localsock::LocalName;

// sun_path is 108 bytes on Linux: 107 bytes of path and the terminating NUL.
TEST_CASE("LocalName::path: 107 bytes fit, 108 do not, and the message says 107") {
  std::error_code ec;
  const std::string fits = "/" + std::string(106, 'p');
  CHECK(LocalName::path(fits, ec).str() == fits);
  CHECK_FALSE(ec);
  const std::string too_long = "/" + std::string(107, 'p');
  LocalName::path(too_long, ec);
  CHECK(ec == errc::name_too_long);
  CHECK(ec.message().find("107") != std::string::npos);
  try {
    LocalName::path(too_long);
    FAIL("no exception");
  } catch (const localsock::Error& e) {
    CHECK(std::string(e.what()).find("107") != std::string::npos);
    CHECK(e.name() == too_long);
  }
}

TEST_CASE("LocalName: Unix supports filesystem names; Linux also abstract names") {
  CHECK(LocalName::supported().path);
  if (localsock::capabilities().abstract_names) {
    CHECK(LocalName::supported().namespaced);
    CHECK(LocalName::namespaced("svc").native() == "@svc");
    std::error_code ec;
    LocalName::namespaced(std::string(107, 'a'), ec);
    CHECK_FALSE(ec);
    LocalName::namespaced(std::string(108, 'a'), ec);
    CHECK(ec == errc::name_too_long);
  } else {
    // macOS, BSD, the generic flavor: a socket file in this user's private directory.
    CHECK_FALSE(LocalName::supported().namespaced);
    const std::string native = LocalName::namespaced("svc").native();
    CHECK(native.ends_with("/localsock-" + std::to_string(::geteuid()) + "/svc.sock"));
    std::error_code ec;
    LocalName::namespaced("a/b", ec);
    CHECK(ec == errc::invalid_name);
  }
}

TEST_CASE("LocalName: a backslash is an ordinary character on Unix") {
  std::error_code ec;
  LocalName::namespaced("a\\b", ec);
  CHECK_FALSE(ec);
  CHECK(LocalName::path("/tmp/a\\b").native() == "/tmp/a\\b");
}
