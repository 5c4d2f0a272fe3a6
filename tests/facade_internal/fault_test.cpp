// SPDX-License-Identifier: MIT
// Faults, on both platforms: peers killed at each phase, listeners closed under
// waiting clients, and no descriptor or handle left behind afterwards. Every byte the
// peer wrote before it died arrives, in order.
#include <localsock/localsock.hpp>
#include <localsock/testing.hpp>

#include <atomic>
#include <thread>
#include <vector>

#include "child_main.hpp"
#include "connected.hpp"
#include "doctest_ext.hpp"
#include "pattern.hpp"
#include "process.hpp"
#include "unique_name.hpp"

using namespace std::chrono_literals;
using localsock::ConnectOptions;
using localsock::errc;
using localsock::ListenerOptions;
using localsock::LocalListener;
using localsock::LocalMessageListener;
using localsock::LocalMessageSocket;
using localsock::LocalName;
using localsock::LocalSocket;
using localsock::test::pattern;

namespace {

LocalName fresh_name() { return LocalName::namespaced(localsock::test::unique_name("lft")); }

// Child routines: connect and stop at a given phase, waiting to be killed there.
const localsock::test::RegisterChild connect_then_wait("fault-connect-wait", [](const auto& args) {
  auto s = LocalSocket::connect(ConnectOptions(LocalName::namespaced(args.at(0))).timeout(20s));
  std::this_thread::sleep_for(60s);
  return 0;
});

// Writes the pattern in 16 KiB writes until killed: the parent does not read, so the
// buffers fill and the child is killed in the middle of a blocked write. Every write
// that returned was acknowledged by the system and must reach the parent (a write still
// blocked when the writer dies was never acknowledged: on Windows its data may not be
// in the pipe at all).
const localsock::test::RegisterChild write_until_killed(
    "fault-write-forever", [](const auto& args) {
      auto s = LocalSocket::connect(ConnectOptions(LocalName::namespaced(args.at(0))).timeout(20s));
      const auto data = pattern(64 << 20, 5);
      for (std::size_t at = 0; at < data.size(); at += 16 * 1024)
        s.write_all(std::span(data).subspan(at, 16 * 1024));
      std::this_thread::sleep_for(60s);
      return 0;
    });

// Sends 48 KiB messages, each numbered by its pattern, until killed: the parent does
// not read, so a send blocks (a message pipe's or socket's buffer is full) and the child
// dies in it.
constexpr std::size_t message_size = 48 * 1024;
const localsock::test::RegisterChild send_until_killed(
    "fault-send-forever", [](const auto& args) -> int {
      auto s = LocalMessageSocket::connect(
          localsock::test::message_connect(LocalName::namespaced(args.at(0))).timeout(20s));
      for (unsigned i = 0;; ++i) s.send(pattern(message_size, i));
    });

// A listener that cannot take another client: nobody accepts, and its backlog (Unix) or
// its one instance (Windows) is held by the child's own clients. Then it binds
// NAME-full, which tells the parent so, and waits to be killed.
const localsock::test::RegisterChild busy_listener("fault-busy-listener", [](const auto& args) {
  const LocalName name = LocalName::namespaced(args.at(0));
  auto listener = LocalListener::bind(ListenerOptions(name).backlog(1).instance_limit(1));
  std::vector<LocalSocket> held;
  std::error_code ec;
  while (!ec && held.size() < 64) {
    auto s = LocalSocket::connect(ConnectOptions(name).timeout(100ms), ec);
    if (!ec) held.push_back(std::move(s));
  }
  if (ec != errc::timed_out) return 1;
  auto flag = LocalListener::bind(LocalName::namespaced(args.at(0) + "-full"));
  std::this_thread::sleep_for(60s);
  return 0;
});

localsock::test::Child spawn(const char* routine, const LocalName& name) {
  return localsock::test::Child::spawn(localsock::test::self_path(),
                                       {"--child", routine, name.str()});
}

}  // namespace

TEST_CASE("faults: a client killed before accept leaves the listener serving") {
  const LocalName name = fresh_name();
  auto listener = LocalListener::bind(name);
  auto child = spawn("fault-connect-wait", name);
  // Wait until the child's connection is there, then kill the child before accepting.
  std::this_thread::sleep_for(500ms);
  child.kill();
  child.wait();
  // Whatever accept hands over for the dead client reads as the end; then a live client
  // is served.
  std::thread good([&] {
    auto c = LocalSocket::connect(ConnectOptions(name).timeout(20s));
    const std::byte b[1] = {std::byte{9}};
    c.write_all(b);
  });
  std::byte got[1];
  std::error_code ec;
  bool served = false;
  for (int i = 0; i < 2 && !served; ++i) {
    auto s = listener.accept_for(20s, ec);
    REQUIRE_FALSE(ec);
    served = s.read_some(got, ec) == 1 && got[0] == std::byte{9};
  }
  good.join();
  CHECK(served);
}

TEST_CASE("faults: a writer killed in a blocked write — every byte it wrote arrives in order") {
  const LocalName name = fresh_name();
  auto listener = LocalListener::bind(name);
  auto child = spawn("fault-write-forever", name);
  std::error_code ec;
  auto s = listener.accept_for(30s, ec);
  REQUIRE_FALSE(ec);
  const auto want = pattern(64 << 20, 5);
  // The first bytes show that the child is writing; then stop reading so that its
  // writes fill the buffers and block, and kill it there.
  std::vector<std::byte> buf(64 * 1024);
  std::size_t got = s.read_exact(std::span(buf).first(1024), ec);
  REQUIRE_FALSE(ec);
  bool in_order = std::equal(buf.begin(), buf.begin() + 1024, want.begin());
  std::this_thread::sleep_for(300ms);
  child.kill();
  child.wait();
  for (;;) {
    const std::size_t n = s.read_some(buf, ec);
    if (ec || n == 0) break;
    in_order = in_order && std::equal(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(n),
                                      want.begin() + static_cast<std::ptrdiff_t>(got));
    got += n;
  }
  CHECK_FALSE(ec);    // the end of the stream, not an error
  CHECK(got > 1024);  // what was written while we did not read
  CHECK(got < want.size());
  CHECK(in_order);
}

TEST_CASE("faults: nothing leaks — descriptors and handles after successes and failures") {
  const LocalName name = fresh_name();
  auto cycle = [&] {
    auto listener = LocalListener::bind(name);
    std::error_code ec;
    LocalListener::bind(name, ec);  // name in use
    // Where the name is a socket file (no abstract namespace), that bind tells a live
    // listener from a stale file by connecting to it: the probe waits in the backlog as
    // a client that left at once. Taken here, so the exchange below gets the real client.
    if (!localsock::capabilities().abstract_names && localsock::capabilities().filesystem_names)
      listener.accept();
    std::thread t([&] {
      auto s = listener.accept();
      std::byte b[1];
      s.read_exact(b);
      s.write_all(b);
    });
    {
      auto c = LocalSocket::connect(name);
      const std::byte b[1] = {std::byte{1}};
      c.write_all(b);
      std::byte r[1];
      c.read_exact(r);
    }
    t.join();
    std::thread blocked([&] { listener.accept(ec); });  // stopped by close below
    std::this_thread::sleep_for(20ms);
    listener.close();
    blocked.join();
    LocalSocket::connect(ConnectOptions(name).timeout(100ms), ec);  // nobody listening
  };
  cycle();  // warm-up: anything made once per process exists now
  std::size_t before = localsock::test::open_handles();
  for (int i = 0; i < 20; ++i) cycle();
  std::size_t after = localsock::test::open_handles();
  if (after > before) {
    // Windows: the threading runtime (winpthreads, Wine) makes an event for a lock the
    // first time threads contend for it, and keeps it: a few, once, whenever the load
    // makes it happen. A leak grows the count again over the next cycles.
    MESSAGE("handles " << before << " -> " << after << ": counted again over 20 cycles");
    before = after;
    for (int i = 0; i < 20; ++i) cycle();
    after = localsock::test::open_handles();
  }
  CAPTURE(before);
  CAPTURE(after);
  CHECK(after <= before);
}

TEST_CASE("faults: a message sender killed mid-message — whole messages in order, then the end") {
  const LocalName name = fresh_name();
  auto listener = LocalMessageListener::bind(localsock::test::message_listen(name));
  auto child = spawn("fault-send-forever", name);
  std::error_code ec;
  auto s = listener.accept_for(30s, ec);
  REQUIRE_FALSE(ec);
  // Let the sends fill the buffers and block, then kill the sender inside one.
  std::this_thread::sleep_for(500ms);
  child.kill();
  child.wait();
  std::vector<std::byte> msg;
  unsigned received = 0;
  bool whole = true;
  for (;;) {
    const auto r = s.recv(msg, 1 << 20, ec);
    if (ec || r.end) break;
    CAPTURE(received);
    // A message arrives whole or not at all: never a cut one.
    whole = whole && r.size == message_size && msg == pattern(message_size, received);
    ++received;
  }
  // The end of the stream, not an error, where messages are native. Framed messages
  // (the framed transport: macOS, the generic flavor, or chosen) cross a byte stream: the
  // frame the sender died in is cut, and the receiver says so (peer_closed) instead of
  // handing out part of it.
  if (localsock::test::messages_framed())
    CHECK((!ec || ec == errc::peer_closed));
  else
    CHECK_FALSE(ec);
  CHECK(received >= 1);
  CHECK(whole);
}

TEST_CASE("faults: a client killed while it waits in connect leaves the listener serving") {
  const std::size_t handles_before = localsock::test::open_handles();
  {
    const LocalName name = fresh_name();
    auto listener = LocalListener::bind(ListenerOptions(name).backlog(1).instance_limit(1));
    // Fill the listener so that the child's connect must wait.
    std::vector<LocalSocket> held;
    std::error_code ec;
    while (!ec && held.size() < 64) {
      auto c = LocalSocket::connect(ConnectOptions(name).timeout(100ms), ec);
      if (!ec) held.push_back(std::move(c));
    }
    REQUIRE(ec == errc::timed_out);
    auto child = spawn("fault-connect-wait", name);  // connects with a 20 s timeout
    std::this_thread::sleep_for(500ms);
    child.kill();
    child.wait();
    // Room again: the held clients go, and every connection still queued is accepted
    // (each reads as the end); then a new client is served.
    const std::size_t queued = held.size();
    held.clear();
    for (std::size_t i = 0; i < queued; ++i) {
      auto gone = listener.accept_for(1s, ec);
      if (ec) break;
      std::byte b[1];
      CHECK(gone.read_some(b, ec) == 0);
    }
    std::thread good([&] {
      auto c = LocalSocket::connect(ConnectOptions(name).timeout(20s));
      const std::byte b[1] = {std::byte{7}};
      c.write_all(b);
    });
    bool served = false;
    for (int i = 0; i < 3 && !served; ++i) {  // the killed child's connect may be queued
      auto s = listener.accept_for(20s, ec);
      REQUIRE_FALSE(ec);
      std::byte got[1];
      served = s.read_some(got, ec) == 1 && got[0] == std::byte{7};
    }
    good.join();
    CHECK(served);
  }
  const std::size_t handles_after = localsock::test::open_handles();
  CAPTURE(handles_before);
  CAPTURE(handles_after);
  CHECK(handles_after <= handles_before);
}

TEST_CASE(
    "faults: a listener killed while a client waits in connect — an error, within the timeout") {
  const LocalName name = fresh_name();
  auto child = spawn("fault-busy-listener", name);
  // Wait until the child's listener is full (it then binds NAME-full).
  const LocalName full = LocalName::namespaced(name.str() + "-full");
  std::error_code ec;
  for (int i = 0; i < 3000; ++i) {
    LocalSocket::connect(ConnectOptions(full).timeout(1s), ec);
    if (!ec) break;
    std::this_thread::sleep_for(10ms);
  }
  REQUIRE_FALSE(ec);
  const auto timeout = 3s;
  const auto start = std::chrono::steady_clock::now();
  std::thread killer([&] {
    std::this_thread::sleep_for(300ms);
    child.kill();
  });
  auto c = LocalSocket::connect(ConnectOptions(name).timeout(timeout), ec);
  const auto took = std::chrono::steady_clock::now() - start;
  killer.join();
  child.wait();
  if (!ec) {
    // The connect got in as the listener died: the connection reads as the end.
    std::byte b[1];
    const std::size_t n = c.read_some(b, ec);
    CHECK((ec == errc::peer_closed || (!ec && n == 0)));
  } else {
    CAPTURE(ec.message());
    CHECK((ec == errc::no_listener || ec == errc::timed_out || ec == errc::peer_closed));
  }
  CHECK(took < timeout + 2s);
}

TEST_CASE("faults: a listener closed while clients connect under injected faults") {
  // Connects that find the pipe busy, reads and writes that are interrupted or short,
  // all retried inside the library; closing the listener in the middle must end
  // every client with a clear outcome, none hanging, nothing leaking.
  namespace lt = localsock::testing;
#ifdef _WIN32
  const lt::Fault fault = lt::Fault::pipe_busy;  // connects wait and retry
  lt::arm_fault(lt::Fault::accept_no_data, 5);
#else
  const lt::Fault fault = lt::Fault::eintr;  // reads and writes retry
  lt::arm_fault(lt::Fault::short_write, 100);
#endif
  lt::arm_fault(fault, 400);
  const std::size_t handles_before = localsock::test::open_handles();
  {
    const LocalName name = fresh_name();
    auto listener = LocalListener::bind(name);
    std::atomic<bool> stop{false};
    std::atomic<int> served{0}, cut{0}, refused{0}, other{0};
    std::thread acceptor([&] {
      std::error_code ec;
      while (!ec) {
        auto s = listener.accept_for(20s, ec);
        const std::byte hello[1] = {std::byte{1}};
        if (!ec) s.write_all(hello, ec);
        if (ec == errc::peer_closed) ec.clear();  // that client gave up first
      }
      CHECK(ec == errc::listener_closed);
    });
    std::vector<std::thread> clients;
    for (int i = 0; i < 6; ++i) {
      clients.emplace_back([&] {
        while (!stop) {
          std::error_code ec;
          auto c = LocalSocket::connect(ConnectOptions(name).timeout(2s), ec);
          std::byte b[1];
          if (!ec && c.read_some(b, ec) == 1)
            ++served;
          else if (ec == errc::no_listener || ec == errc::timed_out)
            ++refused;  // connect failed
          else if (!ec || ec == errc::peer_closed)
            ++cut;  // queued when the listener closed: the end, at once
          else
            ++other;
          std::this_thread::sleep_for(1ms);
        }
      });
    }
    std::this_thread::sleep_for(300ms);
    listener.close();
    acceptor.join();
    std::this_thread::sleep_for(100ms);
    stop = true;
    for (auto& t : clients) t.join();
    CAPTURE(served.load());
    CAPTURE(cut.load());
    CAPTURE(refused.load());
    CHECK(served > 0);
    CHECK(refused > 0);  // at least those after the close
    CHECK(other == 0);
  }
  CHECK(lt::faults_left(fault) < 400);  // the faults did happen
  lt::clear_faults();
  const std::size_t handles_after = localsock::test::open_handles();
  CAPTURE(handles_before);
  CAPTURE(handles_after);
  CHECK(handles_after <= handles_before);
}
