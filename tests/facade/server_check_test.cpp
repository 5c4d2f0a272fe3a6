// SPDX-License-Identifier: MIT
// The client's check of its server (ConnectOptions::current_user_only, expect_server),
// blocking and async, in both modes: a server that passes is talked to; one that fails
// is disconnected before a byte is sent, and the connect reports access_denied.
#include <localsock/localsock.hpp>
#include <localsock/async.hpp>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <thread>

#include "doctest_ext.hpp"
#include "process.hpp"
#include "test_loop.hpp"
#include "unique_name.hpp"

using namespace std::chrono_literals;
using localsock::ConnectOptions;
using localsock::errc;
using localsock::LocalListener;
using localsock::LocalMessageListener;
using localsock::LocalMessageSocket;
using localsock::LocalName;
using localsock::LocalSocket;
using localsock::PeerInfo;

namespace {
LocalName fresh_name() { return LocalName::namespaced(localsock::test::unique_name("lsc")); }
}  // namespace

TEST_CASE("connect: current_user_only accepts a server of this user") {
  const LocalName name = fresh_name();
  SUBCASE("bytes") {
    LocalListener listener = LocalListener::bind(name);
    std::thread t([&] { listener.accept(); });
    LocalSocket c = LocalSocket::connect(ConnectOptions(name).current_user_only(true));
    t.join();
    CHECK(c.is_open());
  }
  SUBCASE("messages") {
    LocalMessageListener listener = LocalMessageListener::bind(name);
    std::thread t([&] { listener.accept(); });
    LocalMessageSocket c =
        LocalMessageSocket::connect(ConnectOptions(name).current_user_only(true));
    t.join();
    CHECK(c.is_open());
  }
}

TEST_CASE("connect: per-user names check the server's user unless told otherwise") {
  const LocalName name = LocalName::per_user(localsock::test::unique_name("lsd"));
  CHECK(ConnectOptions(name).current_user_only());
  CHECK_FALSE(ConnectOptions(name).current_user_only(false).current_user_only());
  CHECK_FALSE(ConnectOptions(fresh_name()).current_user_only());
}

TEST_CASE(
    "connect: expect_server sees the server and a refusal closes the connection with "
    "access_denied") {
  const LocalName name = fresh_name();
  LocalListener listener = LocalListener::bind(name);
  LocalSocket server;
  // A client that leaves before accept takes it may never be seen by the listener
  // (Windows drops such a client, ERROR_NO_DATA): wait a bounded time for it.
  std::error_code accept_ec;
  std::thread t([&] { server = listener.accept_for(std::chrono::seconds(1), accept_ec); });
  PeerInfo seen;
  int calls = 0;
  std::error_code ec;
  LocalSocket c = LocalSocket::connect(ConnectOptions(name).expect_server([&](const PeerInfo& p) {
    seen = p;
    ++calls;
    return false;
  }),
                                       ec);
  t.join();
  CHECK(ec == errc::access_denied);
  CHECK_FALSE(c.is_open());
  CHECK(calls == 1);
  // The server is this very process (its pid where the system tells it; its user
  // everywhere).
  CHECK((seen.uid.has_value() || !seen.sid.empty()));
  if (localsock::capabilities().peer_pid) {
    REQUIRE(seen.pid.has_value());
    CHECK(*seen.pid == static_cast<std::int64_t>(localsock::test::current_pid()));
  }
  // Where the server took the connection, it sees the client gone: nothing was sent.
  if (server.is_open()) {
    char b[4];
    std::error_code read_ec;
    CHECK(server.read_some(std::as_writable_bytes(std::span(b)), read_ec) == 0);
  } else {
    CHECK(accept_ec == errc::timed_out);
  }
  // The throwing overload throws it.
  std::thread t2([&] { server = listener.accept_for(std::chrono::seconds(1), accept_ec); });
  CHECK_THROWS_AS(LocalSocket::connect(
                      ConnectOptions(name).expect_server([](const PeerInfo&) { return false; })),
                  localsock::Error);
  t2.join();
}

TEST_CASE("connect: expect_server accepting the server leaves the connection usable") {
  const LocalName name = fresh_name();
  LocalMessageListener listener = LocalMessageListener::bind(name);
  LocalMessageSocket server;
  std::thread t([&] { server = listener.accept(); });
  LocalMessageSocket c =
      LocalMessageSocket::connect(ConnectOptions(name).current_user_only(true).expect_server(
          [](const PeerInfo& p) { return p.uid.has_value() || !p.sid.empty(); }));
  t.join();
  c.send("ping");
  std::string got;
  server.recv(got, 16);
  CHECK(got == "ping");
}

TEST_CASE("connect (async): a refused server fails the connect with access_denied") {
  localsock::test::TestLoop loop;
  const LocalName name = fresh_name();
  std::error_code accept_ec;
  auto listener =
      localsock::AsyncListener::listen(*loop.async, name, localsock::Mode::messages,
                                       [&](std::error_code e, localsock::AsyncSocket::Ptr s) {
                                         accept_ec = e;
                                         if (s) s->close();
                                       });
  std::error_code connect_ec;
  bool done = false;
  auto c = localsock::AsyncSocket::connect(
      *loop.async, ConnectOptions(name).expect_server([](const PeerInfo&) { return false; }),
      localsock::Mode::messages, [&](std::error_code e, localsock::AsyncSocket::Ptr) {
        connect_ec = e;
        done = true;
      });
  CHECK(loop.run([&] { return done; }, 10s));
  CHECK(connect_ec == errc::access_denied);
  CHECK_FALSE(c->is_open());
  listener->close();
  c->close();
}

TEST_CASE(
    "PeerInfo::is_current_user: true for a peer of this user, on both ends; false for another "
    "user") {
  const LocalName name = fresh_name();
  LocalListener listener = LocalListener::bind(name);
  LocalSocket server;
  std::thread t([&] { server = listener.accept(); });
  LocalSocket client = LocalSocket::connect(name);
  t.join();
  const PeerInfo of_server = client.peer_info();
  const PeerInfo of_client = server.peer_info();
  CHECK(of_server.is_current_user());
  CHECK(of_client.is_current_user());
  // Another user: the field the platform compares (uid on Unix, SID on Windows) differs.
  PeerInfo other = of_server;
  if (other.uid) other.uid = *other.uid + 1;
  if (!other.sid.empty()) other.sid = "S-1-5-18";  // LocalSystem, not the test's user
  CHECK_FALSE(other.is_current_user());
  // A PeerInfo nobody filled names no user.
  CHECK_FALSE(PeerInfo{}.is_current_user());
}

TEST_CASE("connect: an expect_server predicate that throws refuses the server with access_denied") {
  // A predicate that fails (a policy lookup that throws) must neither end the process
  // (the async connect runs it on a libuv pool thread, out of any caller's reach) nor
  // leave the connection open: the server is refused.
  const LocalName name = fresh_name();
  auto throwing = [](const PeerInfo&) -> bool { throw std::runtime_error("policy lookup failed"); };
  SUBCASE("blocking") {
    LocalMessageListener listener = LocalMessageListener::bind(name);
    std::error_code accept_ec;
    std::thread t([&] { listener.accept_for(std::chrono::seconds(1), accept_ec); });
    std::error_code ec;
    LocalMessageSocket c =
        LocalMessageSocket::connect(ConnectOptions(name).expect_server(throwing), ec);
    t.join();
    CHECK(ec == errc::access_denied);
    CHECK_FALSE(c.is_open());
  }
  SUBCASE("async") {
    localsock::test::TestLoop loop;
    auto listener =
        localsock::AsyncListener::listen(*loop.async, name, localsock::Mode::messages,
                                         [&](std::error_code, localsock::AsyncSocket::Ptr s) {
                                           if (s) s->close();
                                         });
    std::error_code connect_ec;
    bool done = false;
    auto c = localsock::AsyncSocket::connect(
        *loop.async, ConnectOptions(name).expect_server(throwing), localsock::Mode::messages,
        [&](std::error_code e, localsock::AsyncSocket::Ptr) {
          connect_ec = e;
          done = true;
        });
    CHECK(loop.run([&] { return done; }, 10s));
    CHECK(connect_ec == errc::access_denied);
    listener->close();
    c->close();
  }
}
