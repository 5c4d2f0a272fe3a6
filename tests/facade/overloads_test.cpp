// SPDX-License-Identifier: MIT
// Every fallible operation of the portable API has both overloads: the one that reports
// through a std::error_code& and the one that throws localsock::Error. This file calls
// both for each operation (it would not compile if one were missing), makes each fail,
// and checks that the two report the same error and that the thrown one names the class
// and operation that failed (a message socket never says "LocalSocket::shutdown").
#include <localsock/async.hpp>
#include <localsock/localsock.hpp>

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "connected.hpp"
#include "doctest_ext.hpp"
#include "unique_name.hpp"

using namespace localsock;
using namespace std::chrono_literals;

namespace {

// Runs the error_code overload, then the throwing one: both must fail alike, and the
// exception must name `operation`.
template <typename WithEc, typename Throwing>
void both_fail(std::string_view operation, WithEc with_ec, Throwing throwing) {
  CAPTURE(operation);
  std::error_code ec;
  with_ec(ec);
  CHECK(ec);
  bool thrown = false;
  try {
    throwing();
  } catch (const Error& e) {
    thrown = true;
    CHECK(e.operation() == operation);
    CHECK(e.code() == ec);
  }
  CHECK(thrown);
}

LocalName fresh_name() { return LocalName::namespaced(test::unique_name("lov")); }

// The async API's overloads, checked by the compiler (they need a running loop to fail).
static_assert(requires(const AsyncSocket& s, std::error_code& ec) {
  { s.peer_info(ec) } -> std::same_as<PeerInfo>;
  { s.peer_info() } -> std::same_as<PeerInfo>;
});
static_assert(requires(AsyncLoop & loop, const ListenerOptions& o, std::error_code& ec) {
  AsyncListener::listen(loop, o, Mode::bytes, AsyncListener::AcceptCallback(), ec);
  AsyncListener::listen(loop, o, Mode::bytes, AsyncListener::AcceptCallback());
});
// Sockets and listeners report their names alike.
static_assert(std::is_same_v<decltype(LocalSocket().name()), const LocalName&>);
static_assert(std::is_same_v<decltype(LocalMessageSocket().name()), const LocalName&>);
static_assert(std::is_same_v<decltype(LocalListener().name()), const LocalName&>);
static_assert(std::is_same_v<decltype(LocalMessageListener().name()), const LocalName&>);
// Sockets, halves and listeners are move-only.
static_assert(!std::is_copy_constructible_v<LocalSocket> &&
              std::is_nothrow_move_constructible_v<LocalSocket>);
static_assert(!std::is_copy_assignable_v<LocalMessageSocket> &&
              std::is_nothrow_move_assignable_v<LocalMessageSocket>);
static_assert(!std::is_copy_constructible_v<LocalSocket::ReceiveHalf> &&
              !std::is_copy_constructible_v<LocalMessageSocket::SendHalf>);
static_assert(!std::is_copy_constructible_v<LocalListener> &&
              std::is_nothrow_move_constructible_v<LocalMessageListener>);
// Mode-only calls exist only in their mode, and on the half that fits.
template <typename T>
concept CanSend = requires(T& s, ConstBuffer b) {
  s.send(b);
};
template <typename T>
concept CanRecv = requires(T& s, MutableBuffer b) {
  s.recv(b);
};
template <typename T>
concept CanWrite = requires(T& s, ConstBuffer b) {
  s.write_all(b);
};
template <typename T>
concept CanRead = requires(T& s, MutableBuffer b) {
  s.read_some(b);
};
static_assert(CanRead<LocalSocket> && CanWrite<LocalSocket>);
static_assert(!CanSend<LocalSocket> && !CanRecv<LocalSocket>);
static_assert(CanSend<LocalMessageSocket> && CanRecv<LocalMessageSocket>);
static_assert(!CanWrite<LocalMessageSocket> && !CanRead<LocalMessageSocket>);
static_assert(CanRead<LocalSocket::ReceiveHalf> && !CanWrite<LocalSocket::ReceiveHalf>);
static_assert(CanWrite<LocalSocket::SendHalf> && !CanRead<LocalSocket::SendHalf>);
static_assert(CanRecv<LocalMessageSocket::ReceiveHalf> &&
              !CanSend<LocalMessageSocket::ReceiveHalf>);
static_assert(CanSend<LocalMessageSocket::SendHalf> && !CanRecv<LocalMessageSocket::SendHalf>);

}  // namespace

TEST_CASE("overloads: every byte-socket operation has both overloads, naming LocalSocket") {
  std::byte buf[8] = {};
  std::string text;
  LocalSocket s;  // holds no connection: every operation fails
  const ConnectOptions nobody = ConnectOptions(fresh_name()).timeout(100ms);
  both_fail(
      "LocalSocket::connect", [&](auto& ec) { LocalSocket::connect(nobody, ec); },
      [&] { LocalSocket::connect(nobody); });
  both_fail(
      "LocalSocket::read_some", [&](auto& ec) { s.read_some(buf, ec); }, [&] { s.read_some(buf); });
  both_fail(
      "LocalSocket::read_some", [&](auto& ec) { s.read_some(text, 8, ec); },
      [&] { s.read_some(text, 8); });
  both_fail(
      "LocalSocket::read_exact", [&](auto& ec) { s.read_exact(buf, ec); },
      [&] { s.read_exact(buf); });
  both_fail(
      "LocalSocket::write_some", [&](auto& ec) { s.write_some(ConstBuffer(buf), ec); },
      [&] { s.write_some(ConstBuffer(buf)); });
  both_fail(
      "LocalSocket::write_some", [&](auto& ec) { s.write_some("x", ec); },
      [&] { s.write_some("x"); });
  both_fail(
      "LocalSocket::write_all", [&](auto& ec) { s.write_all(ConstBuffer(buf), ec); },
      [&] { s.write_all(ConstBuffer(buf)); });
  both_fail(
      "LocalSocket::write_all", [&](auto& ec) { s.write_all(std::string("x"), ec); },
      [&] { s.write_all(std::string("x")); });
  both_fail(
      "LocalSocket::shutdown", [&](auto& ec) { s.shutdown(Shutdown::both, ec); },
      [&] { s.shutdown(Shutdown::both); });
  both_fail(
      "LocalSocket::set_nonblocking", [&](auto& ec) { s.set_nonblocking(true, ec); },
      [&] { s.set_nonblocking(true); });
  both_fail(
      "LocalSocket::set_read_timeout", [&](auto& ec) { s.set_read_timeout(1s, ec); },
      [&] { s.set_read_timeout(1s); });
  both_fail(
      "LocalSocket::set_write_timeout", [&](auto& ec) { s.set_write_timeout(1s, ec); },
      [&] { s.set_write_timeout(1s); });
  both_fail(
      "LocalSocket::peer_info", [&](auto& ec) { s.peer_info(ec); }, [&] { s.peer_info(); });

  LocalSocket::ReceiveHalf r;
  LocalSocket::SendHalf w;
  both_fail(
      "LocalSocket::read_some", [&](auto& ec) { r.read_some(buf, ec); }, [&] { r.read_some(buf); });
  both_fail(
      "LocalSocket::read_exact", [&](auto& ec) { r.read_exact(buf, ec); },
      [&] { r.read_exact(buf); });
  both_fail(
      "LocalSocket::write_some", [&](auto& ec) { w.write_some("x", ec); },
      [&] { w.write_some("x"); });
  both_fail(
      "LocalSocket::write_all", [&](auto& ec) { w.write_all("x", ec); }, [&] { w.write_all("x"); });
  // Halves of two different connections (two empty halves are one empty socket's, and
  // reunite into it).
  auto p1 = test::connect_pair<Mode::bytes>();
  auto p2 = test::connect_pair<Mode::bytes>();
  auto [r1, w1] = p1.client.split();
  auto [r2, w2] = p2.client.split();
  both_fail(
      "LocalSocket::reunite", [&](auto& ec) { LocalSocket::reunite(r1, w2, ec); },
      [&] { LocalSocket::reunite(r1, w2); });
}

TEST_CASE(
    "overloads: every message-socket operation has both overloads, naming LocalMessageSocket") {
  std::byte buf[8] = {};
  std::vector<std::byte> vec;
  std::string text;
  LocalMessageSocket s;
  const ConnectOptions nobody = ConnectOptions(fresh_name()).timeout(100ms);
  both_fail(
      "LocalMessageSocket::connect", [&](auto& ec) { LocalMessageSocket::connect(nobody, ec); },
      [&] { LocalMessageSocket::connect(nobody); });
  both_fail(
      "LocalMessageSocket::recv", [&](auto& ec) { s.recv(buf, ec); }, [&] { s.recv(buf); });
  both_fail(
      "LocalMessageSocket::recv", [&](auto& ec) { s.recv(vec, 8, ec); }, [&] { s.recv(vec, 8); });
  both_fail(
      "LocalMessageSocket::recv", [&](auto& ec) { s.recv(text, 8, ec); }, [&] { s.recv(text, 8); });
  both_fail(
      "LocalMessageSocket::peek_size", [&](auto& ec) { s.peek_size(ec); }, [&] { s.peek_size(); });
  both_fail(
      "LocalMessageSocket::send", [&](auto& ec) { s.send(ConstBuffer(buf), ec); },
      [&] { s.send(ConstBuffer(buf)); });
  both_fail(
      "LocalMessageSocket::send", [&](auto& ec) { s.send("x", ec); }, [&] { s.send("x"); });
  both_fail(
      "LocalMessageSocket::max_message_size", [&](auto& ec) { s.max_message_size(ec); },
      [&] { s.max_message_size(); });
  both_fail(
      "LocalMessageSocket::flush", [&](auto& ec) { s.flush(ec); }, [&] { s.flush(); });
  both_fail(
      "LocalMessageSocket::shutdown", [&](auto& ec) { s.shutdown(Shutdown::both, ec); },
      [&] { s.shutdown(Shutdown::both); });
  both_fail(
      "LocalMessageSocket::set_nonblocking", [&](auto& ec) { s.set_nonblocking(true, ec); },
      [&] { s.set_nonblocking(true); });
  both_fail(
      "LocalMessageSocket::set_read_timeout", [&](auto& ec) { s.set_read_timeout(1s, ec); },
      [&] { s.set_read_timeout(1s); });
  both_fail(
      "LocalMessageSocket::set_write_timeout", [&](auto& ec) { s.set_write_timeout(1s, ec); },
      [&] { s.set_write_timeout(1s); });
  both_fail(
      "LocalMessageSocket::peer_info", [&](auto& ec) { s.peer_info(ec); }, [&] { s.peer_info(); });

  LocalMessageSocket::ReceiveHalf r;
  LocalMessageSocket::SendHalf w;
  both_fail(
      "LocalMessageSocket::recv", [&](auto& ec) { r.recv(buf, ec); }, [&] { r.recv(buf); });
  both_fail(
      "LocalMessageSocket::peek_size", [&](auto& ec) { r.peek_size(ec); }, [&] { r.peek_size(); });
  both_fail(
      "LocalMessageSocket::send", [&](auto& ec) { w.send("x", ec); }, [&] { w.send("x"); });
  both_fail(
      "LocalMessageSocket::flush", [&](auto& ec) { w.flush(ec); }, [&] { w.flush(); });
  both_fail(
      "LocalMessageSocket::max_message_size", [&](auto& ec) { w.max_message_size(ec); },
      [&] { w.max_message_size(); });
  // Halves of two different connections (see the byte-socket case).
  auto p1 = test::connect_pair<Mode::messages>();
  auto p2 = test::connect_pair<Mode::messages>();
  auto [r1, w1] = p1.client.split();
  auto [r2, w2] = p2.client.split();
  both_fail(
      "LocalMessageSocket::reunite", [&](auto& ec) { LocalMessageSocket::reunite(r1, w2, ec); },
      [&] { LocalMessageSocket::reunite(r1, w2); });
}

TEST_CASE_TEMPLATE("overloads: every listener operation has both overloads, naming its class",
                   Listener, LocalListener, LocalMessageListener) {
  const std::string type =
      std::is_same_v<Listener, LocalListener> ? "LocalListener" : "LocalMessageListener";
  const LocalName name = fresh_name();
  Listener live = Listener::bind(name);
  both_fail(
      type + "::bind", [&](auto& ec) { Listener::bind(name, ec); }, [&] { Listener::bind(name); });
  Listener closed = Listener::bind(fresh_name());
  closed.close();
  both_fail(
      type + "::accept", [&](auto& ec) { closed.accept(ec); }, [&] { closed.accept(); });
  both_fail(
      type + "::accept_for", [&](auto& ec) { closed.accept_for(10ms, ec); },
      [&] { closed.accept_for(10ms); });
  both_fail(
      type + "::set_nonblocking", [&](auto& ec) { closed.set_nonblocking(true, ec); },
      [&] { closed.set_nonblocking(true); });
  std::error_code ec;
  closed.set_nonblocking(true, ec);
  CHECK(ec == errc::listener_closed);
  // On an open listener both succeed.
  live.set_nonblocking(true, ec);
  CHECK_FALSE(ec);
  live.set_nonblocking(false);
  // A timed accept that finds nobody: both report timed_out. (A listener of its own: the
  // second bind above may have probed `live` with a connection, where names are files.)
  Listener idle = Listener::bind(fresh_name());
  both_fail(
      type + "::accept_for", [&](auto& e) { idle.accept_for(10ms, e); },
      [&] { idle.accept_for(10ms); });
  idle.accept_for(10ms, ec);
  CHECK(ec == errc::timed_out);
}
