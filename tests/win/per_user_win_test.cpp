// SPDX-License-Identifier: MIT
// Per-user names on Windows: the pipe name carries the user's SID (pipe names are
// global across sessions and users), a per-session name also the session id, and the
// length rule keeps any id within the 256-character limit.
#include <localsock/localsock.hpp>
#include <localsock/win/named_pipe.hpp>

#include <windows.h>

#include <string>

#include "doctest_ext.hpp"

using localsock::LocalName;

namespace {
std::string my_sid() {
  std::error_code ec;
  std::string sid = localsock::win::current_user_sid(ec);
  REQUIRE_FALSE(ec);
  return sid;
}
}  // namespace

TEST_CASE("per_user (Windows): the pipe name carries the user's SID, per_session the session id") {
  const std::string sid = my_sid();
  const LocalName user = LocalName::per_user("app");
  CHECK(user.kind() == localsock::NameKind::namespaced);
  CHECK(user.str() == "localsock-" + sid + "-app");
  DWORD session = 0;
  REQUIRE(::ProcessIdToSessionId(::GetCurrentProcessId(), &session));
  CHECK(LocalName::per_session("app").str() ==
        "localsock-" + sid + "+s" + std::to_string(session) + "-app");
  CHECK_FALSE(LocalName::per_session("app") == user);
}

TEST_CASE(
    "per_user (Windows): a long id is hashed so that the pipe path stays within 256 characters") {
  const LocalName name = LocalName::per_user(std::string(300, 'z'));
  CHECK(name.native().size() <= 256);
  CHECK(name.str().starts_with("localsock-" + my_sid() + "-"));
}
