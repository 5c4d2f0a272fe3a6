// SPDX-License-Identifier: MIT
// The async API on named pipes, where Windows has paths of its own: a next instance
// that cannot be made, and clients that leave before they are accepted, must never
// leave the listener deaf; a message over the pipe limit fails alone.
#include <localsock/async.hpp>
#include <localsock/localsock.hpp>
#include <localsock/config.hpp>
#include <localsock/testing.hpp>

#include <atomic>
#include <chrono>
#include <functional>
#include <limits>
#include <thread>
#include <vector>

#include "doctest_ext.hpp"
#include "test_loop.hpp"
#include "unique_name.hpp"

using namespace std::chrono_literals;
using localsock::AsyncListener;
using localsock::AsyncLoop;
using localsock::AsyncSocket;
using localsock::ConnectOptions;
using localsock::ListenerOptions;
using localsock::LocalName;
using localsock::Mode;
using localsock::ReadEvent;
using localsock::testing::Fault;
namespace lt = localsock::testing;

namespace {

LocalName fresh_name() { return LocalName::namespaced(localsock::test::unique_name("lwa")); }

using Loop = localsock::test::TestLoop;

}  // namespace

#ifdef LOCALSOCK_FAULT_INJECTION  // an injected fault
TEST_CASE(
    "async listener: a next instance that cannot be made is retried; the listener keeps serving") {
  Loop t;
  const LocalName name = fresh_name();
  int errors = 0, accepted = 0;
  std::error_code first_error;
  std::vector<AsyncSocket::Ptr> sockets;
  auto listener = AsyncListener::listen(*t.async, ListenerOptions(name), Mode::bytes,
                                        [&](std::error_code ec, AsyncSocket::Ptr s) {
                                          if (ec) {
                                            if (errors++ == 0) first_error = ec;
                                            return;
                                          }
                                          ++accepted;
                                          sockets.push_back(s);
                                        });
  // The first client takes the listener's instance; then making the next one fails
  // three times over (handles run out, injected: Windows has no limit to lower).
  auto c1 = localsock::LocalSocket::connect(ConnectOptions(name).timeout(5s));
  lt::arm_fault(Fault::out_of_handles, 3);
  REQUIRE(t.run([&] { return accepted == 1 && lt::faults_left(Fault::out_of_handles) == 0; }, 5s));
  // Once handles are back, the next client is served.
  std::error_code client_ec = make_error_code(std::errc::interrupted);
  std::atomic<bool> client_done{false};
  std::thread client([&] {
    auto c2 = localsock::LocalSocket::connect(ConnectOptions(name).timeout(3s), client_ec);
    client_done = true;
    if (!client_ec) std::this_thread::sleep_for(200ms);
  });
  CHECK(t.run([&] { return accepted == 2 && client_done.load(); }, 6s));
  client.join();
  CHECK_FALSE(client_ec);
  CHECK(accepted == 2);
  // The accept callback heard of the failure, once for the whole episode.
  CHECK(errors == 1);
  CHECK(first_error == localsock::errc::out_of_resources);
  for (auto& s : sockets) s->close();
  listener->close();
}
#endif  // LOCALSOCK_FAULT_INJECTION

TEST_CASE("async listener: instance_limit(1) survives clients that connect and leave at once") {
  Loop t;
  const LocalName name = fresh_name();
  int accepted = 0;
  auto listener = AsyncListener::listen(*t.async, ListenerOptions(name).instance_limit(1),
                                        Mode::bytes, [&](std::error_code ec, AsyncSocket::Ptr s) {
                                          if (ec) return;
                                          ++accepted;
                                          s->close();
                                        });
  // Clients that connect and close at once: many leave before their instance is
  // accepted (ERROR_NO_DATA), each time with the only instance place in use.
  std::atomic<int> finished{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 3; ++i)
    threads.emplace_back([&] {
      for (int k = 0; k < 100; ++k) {
        std::error_code ec;
        auto c = localsock::LocalSocket::connect(ConnectOptions(name).timeout(2s), ec);
        if (ec == localsock::errc::no_listener) std::this_thread::sleep_for(1ms);
      }
      ++finished;
    });
  CHECK(t.run([&] { return finished == 3; }, 60s));
  for (auto& th : threads) th.join();
  // The listener still serves.
  const int before = accepted;
  std::error_code client_ec = make_error_code(std::errc::interrupted);
  std::atomic<bool> client_done{false};
  std::thread client([&] {
    // Between the last instance closing and the next being made the name is briefly
    // gone (a client that never saw the pipe busy reads that as no listener): retry
    // within a deadline. A dead listener stays gone.
    const auto until = std::chrono::steady_clock::now() + 3s;
    localsock::LocalSocket c;
    do {
      c = localsock::LocalSocket::connect(ConnectOptions(name).timeout(3s), client_ec);
      if (client_ec == localsock::errc::no_listener) std::this_thread::sleep_for(10ms);
    } while (client_ec == localsock::errc::no_listener && std::chrono::steady_clock::now() < until);
    client_done = true;
    if (!client_ec) std::this_thread::sleep_for(300ms);
  });
  CHECK(t.run([&] { return client_done && accepted > before; }, 6s));
  client.join();
  CHECK_FALSE(client_ec);
  CHECK(accepted > before);
  listener->close();
}

TEST_CASE(
    "async: a message over 2 GiB fails its own write; with a callback the writes behind it go on") {
  Loop t;
  const LocalName name = fresh_name();
  std::vector<std::size_t> received;
  AsyncSocket::Ptr accepted;
  auto listener = AsyncListener::listen(*t.async, ListenerOptions(name), Mode::messages,
                                        [&](std::error_code ec, AsyncSocket::Ptr s) {
                                          REQUIRE_FALSE(ec);
                                          accepted = s;
                                          s->start_reading([&](const ReadEvent& e) {
                                            if (!e.error && !e.end)
                                              received.push_back(e.data.size());
                                          });
                                        });
  AsyncSocket::Ptr writer;
  // No limit of the library's own: the write reaches the pipe's 2 GiB - 1 bound.
  localsock::AsyncOptions unlimited;
  unlimited.max_message_size = std::numeric_limits<std::size_t>::max();
  AsyncSocket::connect(
      *t.async, ConnectOptions(name), Mode::messages,
      [&](std::error_code ec, AsyncSocket::Ptr s) {
        REQUIRE_FALSE(ec);
        writer = s;
      },
      unlimited);
  REQUIRE(t.run([&] { return writer && accepted; }, 10s));
  std::vector<std::error_code> writer_read_errors;
  writer->start_reading([&](const ReadEvent& e) {
    if (e.error) writer_read_errors.push_back(e.error);
  });
  // A pipe message is at most 2 GiB - 1 bytes (a DWORD count, kept below 2^31).
  constexpr std::size_t huge = (std::size_t{1} << 31) + 1;
  std::vector<std::error_code> results(5, make_error_code(std::errc::interrupted));
  writer->write(std::vector<std::byte>(10), [&](std::error_code ec) { results[0] = ec; });
  writer->write(std::vector<std::byte>(huge), [&](std::error_code ec) { results[1] = ec; });
  writer->write(std::vector<std::byte>(20), [&](std::error_code ec) { results[2] = ec; });
  // Without a callback the write side fails as on every platform (docs/async.md, "Write
  // errors"): the writes behind it get the error, the read callback hears it once, and
  // the connection closes, since the peer would miss a message.
  writer->write(std::vector<std::byte>(huge));
  writer->write(std::vector<std::byte>(30), [&](std::error_code ec) { results[3] = ec; });
  CHECK(t.run(
      [&] { return received.size() == 2 && !writer_read_errors.empty() && !writer->is_open(); },
      5s));
  CHECK_FALSE(results[0]);
  CHECK(results[1] == localsock::errc::message_too_large);
  CHECK_FALSE(results[2]);
  CHECK(results[3] == localsock::errc::message_too_large);
  CHECK(received == std::vector<std::size_t>{10, 20});
  CHECK(writer_read_errors.size() == 1);
  if (!writer_read_errors.empty())
    CHECK(writer_read_errors[0] == localsock::errc::message_too_large);
  writer->close();
  accepted->close();
  listener->close();
}

#ifdef LOCALSOCK_FAULT_INJECTION  // injected faults
TEST_CASE(
    "async fault seam: the async accept and message reads go through the Windows fault points") {
  Loop t;
  const LocalName name = fresh_name();
  // The listener's first ConnectNamedPipe finds its client gone (ERROR_NO_DATA): the
  // instance is dropped, and the next one serves the client. The first read of the
  // message takes one byte (ERROR_MORE_DATA): the rest is read after PeekNamedPipe, and
  // the message arrives whole.
  lt::arm_fault(Fault::accept_no_data);
  lt::arm_fault(Fault::more_data);
  std::vector<AsyncSocket::Ptr> sockets;
  std::vector<std::byte> got;
  bool received = false;
  auto listener = AsyncListener::listen(*t.async, ListenerOptions(name), Mode::messages,
                                        [&](std::error_code ec, AsyncSocket::Ptr s) {
                                          if (ec) return;
                                          sockets.push_back(s);
                                          s->start_reading([&](const ReadEvent& e) {
                                            if (e.error || e.end) return;
                                            got.assign(e.data.begin(), e.data.end());
                                            received = true;
                                          });
                                        });
  // The failed instance is replaced on the loop's next turn; until then no instance
  // carries the name, so the client comes after.
  CHECK(t.run([&] { return lt::faults_left(Fault::accept_no_data) == 0; }, 2s));
  t.run([] { return false; }, 100ms);
  std::error_code client_ec = make_error_code(std::errc::interrupted);
  std::thread client([&] {
    auto c = localsock::LocalMessageSocket::connect(ConnectOptions(name).timeout(5s), client_ec);
    if (client_ec) return;
    const std::byte msg[5]{std::byte{1}, std::byte{2}, std::byte{3}, std::byte{4}, std::byte{5}};
    c.send(msg, client_ec);
    std::this_thread::sleep_for(300ms);
  });
  CHECK(t.run([&] { return received; }, 6s));
  client.join();
  CHECK_FALSE(client_ec);
  CHECK(lt::faults_left(Fault::accept_no_data) == 0);
  CHECK(lt::faults_left(Fault::more_data) == 0);
  CHECK(got == std::vector<std::byte>{std::byte{1}, std::byte{2}, std::byte{3}, std::byte{4},
                                      std::byte{5}});
  for (auto& s : sockets) s->close();
  listener->close();
}
#endif  // LOCALSOCK_FAULT_INJECTION

#ifdef LOCALSOCK_FAULT_INJECTION  // injected faults
TEST_CASE(
    "async: a message whose rest cannot be sized is an error that ends the connection, never a "
    "garbled message") {
  Loop t;
  const LocalName name = fresh_name();
  // The first read of the message takes one byte (ERROR_MORE_DATA), and PeekNamedPipe,
  // asked how much is left of it, fails.
  lt::arm_fault(Fault::more_data);
  lt::arm_fault(Fault::peek_fails);
  AsyncSocket::Ptr server;
  int data_events = 0, errors = 0;
  std::error_code first_error;
  std::function<void(const ReadEvent&)> on_read = [&](const ReadEvent& e) {
    if (e.error) {
      if (errors++ == 0) first_error = e.error;
      // Reading on (as an application may after an error) must not deliver the rest.
      server->start_reading(on_read);
      return;
    }
    if (!e.end) ++data_events;
  };
  auto listener = AsyncListener::listen(*t.async, ListenerOptions(name), Mode::messages,
                                        [&](std::error_code ec, AsyncSocket::Ptr s) {
                                          if (ec) return;
                                          server = s;
                                          s->start_reading(on_read);
                                        });
  std::atomic<bool> release{false};
  std::thread client([&] {
    std::error_code ec;
    auto c = localsock::LocalMessageSocket::connect(ConnectOptions(name).timeout(5s), ec);
    if (ec) return;
    c.send(std::vector<std::byte>(100, std::byte{7}), ec);
    c.send(std::vector<std::byte>(10, std::byte{8}), ec);
    while (!release) std::this_thread::sleep_for(5ms);
  });
  CHECK(t.run([&] { return data_events > 0 || (errors > 0 && server && !server->is_open()); }, 6s));
  release = true;
  client.join();
  CHECK(lt::faults_left(Fault::peek_fails) == 0);
  CHECK(errors == 1);
  CHECK(first_error == std::error_code(8 /* ERROR_NOT_ENOUGH_MEMORY */, std::system_category()));
  CHECK(data_events == 0);
  CHECK((server && !server->is_open()));
  if (server) server->close();
  listener->close();
  t.settle();
}
#endif  // LOCALSOCK_FAULT_INJECTION
