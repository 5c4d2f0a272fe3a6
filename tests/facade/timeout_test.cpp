// SPDX-License-Identifier: MIT
// Very long timeouts: a timeout of a thousand years, or Timeout::max(), is a wait that
// does not end, never one that ends at once because its deadline (now + timeout, in
// the clock's nanoseconds) overflowed into the past.
#include <localsock/localsock.hpp>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "async_support.hpp"
#include "doctest_ext.hpp"
#include "pattern.hpp"
#include "unique_name.hpp"

using localsock::LocalListener;
using localsock::LocalSocket;
using localsock::Timeout;

namespace {

LocalName long_timeout_name() { return LocalName::namespaced(localsock::test::unique_name("llt")); }

// Timeouts far beyond what steady_clock can add to now (about 292 years of nanoseconds).
const Timeout thousand_years = std::chrono::duration_cast<Timeout>(std::chrono::years(1000));

// A listener whose backlog (Unix) or one instance (Windows) is taken by clients nobody
// accepts: the next client waits.
struct BusyListener {
  LocalName name = long_timeout_name();
  LocalListener listener = LocalListener::bind(ListenerOptions(name).backlog(1).instance_limit(1));
  std::vector<LocalSocket> held;
  BusyListener() {
    std::error_code ec;
    while (!ec && held.size() < 64) {
      auto s = LocalSocket::connect(ConnectOptions(name).timeout(100ms), ec);
      if (!ec) held.push_back(std::move(s));
    }
    REQUIRE(ec == errc::timed_out);
  }
  // Makes room: the waiting clients go away and the listener accepts (and closes) what
  // arrives until `done`.
  void free_until(const std::atomic<bool>& done) {
    held.clear();
    for (int i = 0; i < 50 && !done; ++i) {
      std::error_code ec;
      listener.accept_for(100ms, ec);
    }
  }
};

}  // namespace

TEST_CASE("timeouts: accept_for with a timeout of a thousand years waits for its client") {
  for (const Timeout timeout : {thousand_years, Timeout::max()}) {
    CAPTURE(timeout.count());
    const LocalName name = long_timeout_name();
    auto listener = LocalListener::bind(name);
    std::thread client([&] {
      std::this_thread::sleep_for(100ms);
      std::error_code ec;
      auto c = LocalSocket::connect(ConnectOptions(name).timeout(2s), ec);
      CHECK_FALSE(ec);
    });
    std::error_code ec;
    const auto start = std::chrono::steady_clock::now();
    auto s = listener.accept_for(timeout, ec);
    CHECK(std::chrono::steady_clock::now() - start >= 50ms);  // it waited for the client
    client.join();
    CHECK_FALSE(ec);
    CHECK(s.is_open());
  }
}

TEST_CASE("timeouts: a read timeout of a thousand years waits for the data") {
  for (const Timeout timeout : {thousand_years, Timeout::max()}) {
    CAPTURE(timeout.count());
    auto p = localsock::test::connect_pair<localsock::Mode::bytes>(ListenerOptions());
    p.server.set_read_timeout(timeout);
    std::thread writer([&] {
      std::this_thread::sleep_for(100ms);
      p.client.write_all(pattern(4, 9));
    });
    std::vector<std::byte> got(4);
    std::error_code ec;
    p.server.read_exact(got, ec);
    writer.join();
    CHECK_FALSE(ec);
    CHECK(got == pattern(4, 9));
  }
}

TEST_CASE("timeouts: connect with a timeout of a thousand years waits for a busy listener") {
  for (const Timeout timeout : {thousand_years, Timeout::max()}) {
    CAPTURE(timeout.count());
    BusyListener busy;
    std::atomic<bool> done{false};
    std::error_code connect_ec = make_error_code(errc::not_connected);
    std::thread client([&] {
      auto c = LocalSocket::connect(ConnectOptions(busy.name).timeout(timeout), connect_ec);
      done = true;
    });
    std::this_thread::sleep_for(100ms);
    CHECK_FALSE(done);  // still waiting, not timed out at once
    busy.free_until(done);
    client.join();
    CHECK_FALSE(connect_ec);
  }
}

TEST_CASE(
    "timeouts: an async connect with a timeout of a thousand years waits for a busy listener") {
  TestLoop t;
  BusyListener busy;
  std::atomic<bool> done{false};
  std::error_code connect_ec = make_error_code(errc::not_connected);
  AsyncSocket::Ptr kept;
  auto pending = AsyncSocket::connect(*t.async, ConnectOptions(busy.name).timeout(thousand_years),
                                      Mode::bytes, [&](std::error_code e, AsyncSocket::Ptr s) {
                                        connect_ec = e;
                                        kept = std::move(s);
                                        done = true;
                                      });
  // Longer than one of the slices the connect waits in (50 ms), on the loop.
  t.run([&] { return done.load(); }, 200ms);
  CHECK_FALSE(done);
  std::thread freer([&] { busy.free_until(done); });
  CHECK(t.run([&] { return done.load(); }, 10s));
  freer.join();
  CHECK_FALSE(connect_ec);
  CHECK(kept == pending);
  kept.reset();
  bool closed = false;
  pending->close([&] { closed = true; });
  CHECK(t.run([&] { return closed; }, 5s));
  t.settle();
}
