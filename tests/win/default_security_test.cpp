// SPDX-License-Identifier: MIT
// The descriptor of the pipes localsock creates, read back with GetSecurityInfo (Wine
// stores descriptors even though it does not enforce them): by default only the
// creating user, SYSTEM and Administrators; a descriptor given in the options is used
// as it is (the explicit way to admit others).
#include <localsock/localsock.hpp>
#include <localsock/win/facade.hpp>
#include <localsock/win/named_pipe.hpp>

#include <windows.h>
#include <aclapi.h>
#include <sddl.h>

#include <set>
#include <string>
#include <thread>

#include "doctest_ext.hpp"
#include "unique_name.hpp"

using localsock::ListenerOptions;
using localsock::LocalListener;
using localsock::LocalName;
using localsock::LocalSocket;

namespace {

struct Dacl {
  std::set<std::string> allowed;  // SIDs with an access-allowed entry
  int other_entries = 0;          // entries of any other type
  bool present = false;
  std::string sddl;  // for messages
};

// The DACL of the pipe behind `handle`.
Dacl read_dacl(void* handle) {
  Dacl out;
  PACL acl = nullptr;
  PSECURITY_DESCRIPTOR sd = nullptr;
  const DWORD err =
      ::GetSecurityInfo(static_cast<HANDLE>(handle), SE_KERNEL_OBJECT, DACL_SECURITY_INFORMATION,
                        nullptr, nullptr, &acl, nullptr, &sd);
  REQUIRE(err == ERROR_SUCCESS);
  char* text = nullptr;
  if (::ConvertSecurityDescriptorToStringSecurityDescriptorA(
          sd, SDDL_REVISION_1, DACL_SECURITY_INFORMATION, &text, nullptr)) {
    out.sddl = text;
    ::LocalFree(text);
  }
  out.present = acl != nullptr;
  for (DWORD i = 0; acl != nullptr && i < acl->AceCount; ++i) {
    void* ace = nullptr;
    REQUIRE(::GetAce(acl, i, &ace));
    const auto* header = static_cast<ACE_HEADER*>(ace);
    if (header->AceType != ACCESS_ALLOWED_ACE_TYPE) {
      ++out.other_entries;
      continue;
    }
    auto* allowed = static_cast<ACCESS_ALLOWED_ACE*>(ace);
    char* sid = nullptr;
    REQUIRE(::ConvertSidToStringSidA(reinterpret_cast<PSID>(&allowed->SidStart), &sid));
    out.allowed.insert(sid);
    ::LocalFree(sid);
  }
  ::LocalFree(sd);
  return out;
}

// The DACL of a pipe made by a listener with `options`, seen through a client's handle.
Dacl dacl_of_listener(ListenerOptions options) {
  if (options.name().empty())
    options.name(LocalName::namespaced(localsock::test::unique_name("lds")));
  LocalListener listener = LocalListener::bind(options);
  LocalSocket server;
  std::thread t([&] { server = listener.accept(); });
  LocalSocket client = LocalSocket::connect(listener.name());
  t.join();
  return read_dacl(localsock::win::native(client).native_handle());
}

std::string my_sid() {
  std::error_code ec;
  std::string sid = localsock::win::current_user_sid(ec);
  REQUIRE_FALSE(ec);
  return sid;
}

}  // namespace

TEST_CASE("default descriptor (Windows): a pipe admits only its user, SYSTEM and Administrators") {
  const Dacl d = dacl_of_listener(ListenerOptions());
  INFO("DACL: ", d.sddl);
  REQUIRE(d.present);  // a NULL DACL would admit everyone
  CHECK(d.allowed == std::set<std::string>{my_sid(), "S-1-5-18", "S-1-5-32-544"});
  CHECK(d.other_entries == 0);
  // Windows' own default for pipes admits these for reading; ours must not.
  CHECK(d.allowed.count("S-1-1-0") == 0);  // Everyone
  CHECK(d.allowed.count("S-1-5-7") == 0);  // Anonymous Logon
}

TEST_CASE(
    "default descriptor (Windows): current_user_only and per-user names admit the user alone") {
  CHECK(dacl_of_listener(ListenerOptions().current_user_only(true)).allowed ==
        std::set<std::string>{my_sid()});
  CHECK(dacl_of_listener(ListenerOptions(LocalName::per_user(localsock::test::unique_name("ldp"))))
            .allowed == std::set<std::string>{my_sid()});
}

TEST_CASE("default descriptor (Windows): a descriptor given in the options is used as it is") {
  // The explicit way to admit other users: here, Everyone.
  const Dacl d = dacl_of_listener(ListenerOptions().security_descriptor("D:(A;;GA;;;WD)"));
  INFO("DACL: ", d.sddl);
  CHECK(d.allowed == std::set<std::string>{"S-1-1-0"});
}
