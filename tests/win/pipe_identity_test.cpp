// SPDX-License-Identifier: MIT
// Named-pipe servers: process ids and users of both ends, impersonation, and a client
// in another process.
#include <localsock/win/named_pipe.hpp>

#include <windows.h>
#include <winternl.h>
#include <aclapi.h>
#include <sddl.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <future>
#include <mutex>
#include <new>
#include <string>
#include <span>
#include <thread>
#include <vector>

#include <localsock/config.hpp>
#include <localsock/logging.hpp>
#include <localsock/testing.hpp>

#include "child_main.hpp"
#include "doctest_ext.hpp"
#include "pipe_server_util.hpp"
#include "process.hpp"
#include "unique_name.hpp"

using namespace std::chrono_literals;
using localsock::errc;
using localsock::LocalName;
namespace win = localsock::win;
using namespace localsock::test::pipe_server;

TEST_CASE("pipe identity: process ids of both ends, seen from both ends") {
  Pair p = open_pair();
  const auto self = static_cast<std::uint32_t>(localsock::test::current_pid());
  std::error_code ec;
  CHECK(p.server.client_process_id(ec) == self);
  CHECK_FALSE(ec);
  CHECK(p.server.server_process_id(ec) == self);
  CHECK(p.client.client_process_id(ec) == self);
  CHECK(p.client.server_process_id(ec) == self);
  CHECK(p.server.peer_process_id() == self);
  CHECK(p.client.peer_process_id() == self);
  const auto s1 = p.server.client_session_id(ec);
  CHECK_FALSE(ec);
  CHECK(p.client.client_session_id(ec) == s1);
  CHECK(p.client.server_session_id(ec) == p.server.server_session_id(ec));
  CHECK_FALSE(ec);
  win::DuplexBytePipeStream empty;
  empty.peer_process_id(ec);
  CHECK(ec == errc::not_connected);
}

TEST_CASE("pipe identity: the server learns the client's user and may impersonate it") {
  Pair p = open_pair();
  std::error_code ec;
  // The client cannot impersonate the server.
  auto none = p.client.impersonate_client(ec);
  CHECK(ec == errc::wrong_end);
  CHECK_FALSE(none.active());
  p.client.client_user_sid(ec);
  CHECK(ec == errc::wrong_end);
  // Windows impersonates the sender of the last message read: read first.
  const std::byte hello[1] = {byte_of(1)};
  p.client.write_some(hello);
  CHECK(read_n(p.server, 1).size() == 1);
  const std::string sid = p.server.client_user_sid();
  CHECK(sid.rfind("S-1-", 0) == 0);
  {
    auto guard = p.server.impersonate_client(ec);
    REQUIRE_FALSE(ec);
    CHECK(guard.active());
    // While impersonating, the thread has a token of its own.
    HANDLE token = nullptr;
    CHECK(::OpenThreadToken(::GetCurrentThread(), TOKEN_QUERY, TRUE, &token));
    if (token != nullptr) ::CloseHandle(token);
    guard.revert();
    CHECK_FALSE(guard.active());
  }
  // Reverted: the thread has no token again.
  HANDLE token = nullptr;
  CHECK_FALSE(::OpenThreadToken(::GetCurrentThread(), TOKEN_QUERY, TRUE, &token));
  CHECK(::GetLastError() == ERROR_NO_TOKEN);
}

namespace {
// The user SID of the calling thread's own token (impersonation token), empty when the
// thread has none.
std::string thread_token_sid() {
  HANDLE token = nullptr;
  if (!::OpenThreadToken(::GetCurrentThread(), TOKEN_QUERY, TRUE, &token)) return {};
  DWORD len = 0;
  ::GetTokenInformation(token, TokenUser, nullptr, 0, &len);
  std::vector<std::byte> info(len);
  std::string sid;
  char* text = nullptr;
  if (len != 0 && ::GetTokenInformation(token, TokenUser, info.data(), len, &len) &&
      ::ConvertSidToStringSidA(reinterpret_cast<TOKEN_USER*>(info.data())->User.Sid, &text)) {
    sid = text;
    ::LocalFree(text);
  }
  ::CloseHandle(token);
  return sid;
}
}  // namespace

TEST_CASE("pipe identity: asking the client's user keeps an impersonation the caller holds") {
  Pair p = open_pair();
  const std::byte hello[1] = {byte_of(1)};
  p.client.write_some(hello);
  CHECK(read_n(p.server, 1).size() == 1);
  std::error_code ec;
  auto guard = p.server.impersonate_client(ec);
  REQUIRE_FALSE(ec);
  const std::string as_client = thread_token_sid();
  REQUIRE_FALSE(as_client.empty());
  // Each of these impersonates the client for a moment; none may end the caller's
  // impersonation (the thread would silently run as the server while guard.active()).
  CHECK(p.server.client_user_sid() == as_client);
  CHECK(thread_token_sid() == as_client);
  CHECK(p.server.peer_user_sid() == as_client);
  CHECK(thread_token_sid() == as_client);
  CHECK(guard.active());
#ifdef LOCALSOCK_FAULT_INJECTION
  // A failed RevertToSelf is reported, and the guard stays active (the thread still acts
  // as the client).
  localsock::testing::arm_fault(localsock::testing::Fault::revert_to_self);
  guard.revert(ec);
  CHECK(ec);
  CHECK(guard.active());
  CHECK(thread_token_sid() == as_client);
#endif
  guard.revert(ec);
  CHECK_FALSE(ec);
  CHECK_FALSE(guard.active());
  CHECK(thread_token_sid().empty());
  // Without a guard, they leave the thread without a token.
  CHECK(p.server.client_user_sid() == as_client);
  HANDLE token = nullptr;
  CHECK_FALSE(::OpenThreadToken(::GetCurrentThread(), TOKEN_QUERY, TRUE, &token));
}

TEST_CASE(
    "pipe identity: nested and reassigned impersonation guards keep the thread's token right") {
  Pair a = open_pair();
  Pair b = open_pair();
  const std::byte hello[1] = {byte_of(1)};
  a.client.write_some(hello);
  b.client.write_some(hello);
  CHECK(read_n(a.server, 1).size() == 1);
  CHECK(read_n(b.server, 1).size() == 1);
  std::error_code ec;
  auto outer = a.server.impersonate_client(ec);
  REQUIRE_FALSE(ec);
  const std::string as_client = thread_token_sid();
  REQUIRE_FALSE(as_client.empty());
  {
    // An inner guard ends by giving the thread back the outer guard's token, not by
    // dropping every impersonation while the outer guard says it is active.
    auto inner = b.server.impersonate_client(ec);
    REQUIRE_FALSE(ec);
  }
  CHECK(outer.active());
  CHECK(thread_token_sid() == as_client);
  // Reassigning an active guard: the new impersonation is made first, then the old one
  // ends; the guard must still act as the client it now holds.
  outer = b.server.impersonate_client(ec);
  REQUIRE_FALSE(ec);
  CHECK(outer.active());
  CHECK(thread_token_sid() == as_client);
  outer.revert(ec);
  CHECK_FALSE(ec);
  CHECK_FALSE(outer.active());
  CHECK(thread_token_sid().empty());
}
namespace {
// The child side of the two-process test: connect, send our pid as a message, echo one
// message back.
const localsock::test::RegisterChild pipe_child("pipe-msg-client", [](const auto& args) {
  auto c = win::DuplexMsgPipeStream::connect(LocalName::namespaced(args.at(0)), 20s);
  const std::string pid = std::to_string(localsock::test::current_pid());
  c.send(std::as_bytes(std::span(pid)));
  std::vector<std::byte> msg;
  c.recv(msg, 1 << 20);
  c.send(msg);
  return 0;
});
}  // namespace

TEST_CASE("pipe processes: a client process is identified and exchanges messages") {
  const LocalName name = fresh_name();
  auto listener = win::PipeListenerOptions()
                      .name(name)
                      .mode(win::PipeMode::Messages)
                      .create<win::DuplexMsgPipeStream>();
  auto child = localsock::test::Child::spawn(localsock::test::self_path(),
                                             {"--child", "pipe-msg-client", name.str()});
  REQUIRE(child.running());
  std::error_code ec;
  auto s = listener.accept_for(30s, ec);
  REQUIRE_FALSE(ec);
  std::vector<std::byte> msg;
  s.recv(msg, 64);
  const std::string pid(reinterpret_cast<const char*>(msg.data()), msg.size());
  CHECK(std::to_string(s.peer_process_id()) == pid);
  CHECK(s.peer_process_id() != localsock::test::current_pid());
  std::vector<std::byte> big(300 * 1024, byte_of(3));
  std::thread sender([&] { s.send(big); });
  CHECK(s.recv(msg, 1 << 20).size == big.size());
  sender.join();
  CHECK(msg == big);
  CHECK(child.wait() == 0);
}
