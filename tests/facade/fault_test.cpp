// SPDX-License-Identifier: MIT
// Faults, on both platforms: peers killed at each phase, listeners closed under
// waiting clients, and no descriptor or handle left behind afterwards. Every byte the
// peer wrote before it died arrives, in order.
#include <localsock/localsock.hpp>

#include <thread>
#include <vector>

#include "child_main.hpp"
#include "doctest_ext.hpp"
#include "pattern.hpp"
#include "process.hpp"
#include "unique_name.hpp"

using namespace std::chrono_literals;
using localsock::ConnectOptions;
using localsock::errc;
using localsock::LocalListener;
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
const localsock::test::RegisterChild write_until_killed("fault-write-forever", [](const auto& args) {
  auto s = LocalSocket::connect(ConnectOptions(LocalName::namespaced(args.at(0))).timeout(20s));
  const auto data = pattern(64 << 20, 5);
  for (std::size_t at = 0; at < data.size(); at += 16 * 1024)
    s.write_all(std::span(data).subspan(at, 16 * 1024));
  std::this_thread::sleep_for(60s);
  return 0;
});

localsock::test::Child spawn(const char* routine, const LocalName& name) {
  return localsock::test::Child::spawn(localsock::test::self_path(), {"--child", routine, name.str()});
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
  CHECK_FALSE(ec);  // the end of the stream, not an error
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
  const std::size_t before = localsock::test::open_handles();
  for (int i = 0; i < 20; ++i) cycle();
  const std::size_t after = localsock::test::open_handles();
  CAPTURE(before);
  CAPTURE(after);
  CHECK(after <= before);
}
