// SPDX-License-Identifier: MIT
#include <localsock/name.hpp>

#include <string>

#include "doctest_ext.hpp"

using localsock::errc;
using localsock::LocalName;

TEST_CASE("LocalName: Windows has pipe names only; a path is not supported") {
  CHECK_FALSE(LocalName::supported().path);
  CHECK(LocalName::supported().namespaced);
  std::error_code ec;
  LocalName::path("C:\\temp\\x.sock", ec);
  CHECK(ec == errc::not_supported);
}

TEST_CASE("LocalName: a bare name maps to \\\\.\\pipe\\NAME") {
  CHECK(LocalName::namespaced("svc").native() == R"(\\.\pipe\svc)");
}

TEST_CASE("LocalName: a backslash is forbidden in a pipe name") {
  std::error_code ec;
  LocalName::namespaced("a\\b", ec);
  CHECK(ec == errc::invalid_name);
}

TEST_CASE("LocalName: full local and remote pipe paths are accepted as given") {
  CHECK(LocalName::namespaced(R"(\\.\pipe\svc)").native() == R"(\\.\pipe\svc)");
  CHECK(LocalName::namespaced(R"(\\host\PIPE\svc)").native() == R"(\\host\PIPE\svc)");
  std::error_code ec;
  for (const char* bad :
       {R"(\\host\share\svc)", R"(\\.\pipe\)", R"(\\\pipe\x)", R"(\\.\pipe\a\b)", R"(\\host)"}) {
    CAPTURE(bad);
    LocalName::namespaced(bad, ec);
    CHECK(ec == errc::invalid_name);
  }
}

TEST_CASE("LocalName: the whole pipe path holds at most 256 characters") {
  std::error_code ec;
  // \\.\pipe\ is 9 characters.
  LocalName::namespaced(std::string(247, 'a'), ec);
  CHECK_FALSE(ec);
  LocalName::namespaced(std::string(248, 'a'), ec);
  CHECK(ec == errc::name_too_long);
  CHECK(ec.message().find("256") != std::string::npos);
}

TEST_CASE("LocalName: names Windows would rewrite are refused, so no two names reach one pipe") {
  // Win32 normalises \\.\pipe\ paths: a trailing dot or space is dropped, '/' becomes
  // a separator and '.' and '..' are resolved, so 'name.' would reach the pipe 'name'.
  // The \\?\pipe\ form skips that rewriting, but WaitNamedPipe does not take it.
  std::error_code ec;
  for (const char* bad :
       {"name.", "name ", "x/../name", ".", "..", "/", "a/..", "a/b", "...", R"(\\.\pipe\name.)",
        R"(\\.\pipe\x/../name)", R"(\\.\pipe\..)", R"(\\?\pipe\name)"}) {
    CAPTURE(bad);
    LocalName::namespaced(bad, ec);
    CHECK(ec == errc::invalid_name);
  }
  for (const char* good : {"name", ".name", "a.b", " name", "n a m e", "name.x"}) {
    CAPTURE(good);
    LocalName::namespaced(good, ec);
    CHECK_FALSE(ec);
  }
}

TEST_CASE("LocalName: pipe names are case-insensitive, and compare so on Windows") {
  CHECK(LocalName::namespaced("Svc") == LocalName::namespaced("sVC"));
  CHECK(LocalName::namespaced("svc") == LocalName::namespaced(R"(\\.\PIPE\SVC)"));
  CHECK(LocalName::namespaced("svc") != LocalName::namespaced("svc2"));
  CHECK(LocalName::namespaced(R"(\\host\pipe\svc)") != LocalName::namespaced("svc"));
  CHECK(LocalName::namespaced("\xc3\x84pfel") ==
        LocalName::namespaced("\xc3\xa4PFEL"));  // Äpfel, äPFEL
}
