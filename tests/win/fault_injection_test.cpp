// SPDX-License-Identifier: MIT
// Injected faults on the named-pipe backend: busy pipes, clients gone before accept,
// ERROR_PIPE_CONNECTED and ERROR_MORE_DATA, each path deterministically.
#include <localsock/testing.hpp>
#include <localsock/win/named_pipe.hpp>

#include <atomic>
#include <chrono>
#include <span>
#include <system_error>
#include <thread>
#include <vector>

#include "doctest_ext.hpp"
#include "pattern.hpp"
#include "unique_name.hpp"

using namespace std::chrono_literals;
using localsock::LocalName;
using localsock::testing::Fault;
namespace lt = localsock::testing;
namespace win = localsock::win;

namespace {
struct Armed {
  ~Armed() { lt::clear_faults(); }
};
LocalName fresh_name() { return LocalName::namespaced(localsock::test::unique_name("lwf")); }
}  // namespace

TEST_CASE("fault injection: ERROR_PIPE_BUSY on connect waits and retries") {
  Armed guard;
  const LocalName name = fresh_name();
  auto listener = win::PipeListenerOptions().name(name).create<win::DuplexBytePipeStream>();
  lt::arm_fault(Fault::pipe_busy, 3);
  auto c = win::DuplexBytePipeStream::connect(name, 10s);
  CHECK(c.is_open());
  CHECK(lt::faults_left(Fault::pipe_busy) == 0);
  lt::arm_fault(Fault::pipe_busy, 1000);  // busy for good: the timeout holds
  std::error_code ec;
  win::DuplexBytePipeStream::connect(name, 200ms, ec);
  CHECK(ec == localsock::errc::timed_out);
}

TEST_CASE("fault injection: ERROR_NO_DATA on accept is skipped; ERROR_PIPE_CONNECTED is a client") {
  Armed guard;
  const LocalName name = fresh_name();
  auto listener = win::PipeListenerOptions().name(name).create<win::DuplexBytePipeStream>();
  lt::arm_fault(Fault::accept_no_data, 2);
  std::thread client([&] {
    std::this_thread::sleep_for(100ms);
    auto c = win::DuplexBytePipeStream::connect(name, 10s);
    const std::byte b[1] = {std::byte{5}};
    c.write_some(b);
    std::this_thread::sleep_for(200ms);
  });
  std::error_code ec;
  auto s = listener.accept_for(10s, ec);
  REQUIRE_FALSE(ec);
  CHECK(lt::faults_left(Fault::accept_no_data) == 0);
  std::byte b[1];
  CHECK(s.read_some(b) == 1);
  client.join();

  // A client connected before accept: ERROR_PIPE_CONNECTED hands it over at once.
  auto c2 = win::DuplexBytePipeStream::connect(name, 10s);
  lt::arm_fault(Fault::accept_pipe_connected);
  auto s2 = listener.accept_for(1s, ec);
  CHECK_FALSE(ec);
  CHECK(s2.client_process_id(ec) != 0);
}

TEST_CASE("fault injection: ERROR_MORE_DATA on a receive that fits still gives the whole message") {
  Armed guard;
  const LocalName name = fresh_name();
  auto listener = win::PipeListenerOptions()
                      .name(name)
                      .mode(win::PipeMode::Messages)
                      .create<win::DuplexMsgPipeStream>();
  auto c = win::DuplexMsgPipeStream::connect(name);
  auto s = listener.accept();
  const auto msg = localsock::test::pattern(100, 7);
  c.send(msg);
  lt::arm_fault(Fault::more_data);
  std::vector<std::byte> buf(200);
  const auto r = s.recv(std::span(buf));
  CHECK(lt::faults_left(Fault::more_data) == 0);
  CHECK(r.size == 100);
  CHECK(std::vector<std::byte>(buf.begin(), buf.begin() + 100) == msg);
}

// Windows has no RLIMIT_NOFILE to lower, and its handle table (16 million entries) is
// too large to fill in a test; running out of handles or kernel pool is injected as the
// ERROR_NO_SYSTEM_RESOURCES CreateNamedPipe and CreateFile then return.
TEST_CASE(
    "fault injection: handle exhaustion gives clear errors, and recovery once handles free up") {
  Armed guard;
  const LocalName name = fresh_name();
  std::error_code ec;

  // Creating a listener.
  lt::arm_fault(Fault::out_of_handles);
  win::PipeListenerOptions().name(name).create<win::DuplexBytePipeStream>(ec);
  CHECK(ec == localsock::errc::out_of_resources);  // the portable test (Unix: EMFILE too)
  const std::string text = localsock::Error(ec, "PipeListener::create", name.str()).what();
  CAPTURE(text);
  CHECK(text.find("out of descriptors or handles") != std::string::npos);
  auto listener = win::PipeListenerOptions().name(name).create<win::DuplexBytePipeStream>();

  // Connecting.
  lt::arm_fault(Fault::out_of_handles);
  win::DuplexBytePipeStream::connect(name, 1s, ec);
  CHECK(ec == localsock::errc::out_of_resources);
  auto c1 = win::DuplexBytePipeStream::connect(name, 10s);

  // Accepting: the connected client is handed over even though the next instance
  // cannot be made; the next accept makes it, and a new client is served.
  lt::arm_fault(Fault::out_of_handles);
  auto s1 = listener.accept_for(10s, ec);
  REQUIRE_FALSE(ec);
  CHECK(lt::faults_left(Fault::out_of_handles) == 0);
  const std::byte one[1] = {std::byte{1}};
  c1.write_some(one);
  std::byte got[1];
  CHECK(s1.read_some(got) == 1);

  std::thread client([&] {
    // Until the next accept makes an instance, nobody listens: retry briefly.
    std::error_code cec;
    for (int i = 0; i < 200; ++i) {
      auto c = win::DuplexBytePipeStream::connect(name, 10s, cec);
      if (!cec) {
        const std::byte two[1] = {std::byte{2}};
        c.write_some(two);
        std::this_thread::sleep_for(100ms);
        return;
      }
      std::this_thread::sleep_for(10ms);
    }
  });
  auto s2 = listener.accept_for(10s, ec);
  REQUIRE_FALSE(ec);
  CHECK(s2.read_some(got) == 1);
  CHECK(got[0] == std::byte{2});
  client.join();
}

TEST_CASE(
    "fault injection: accept_for that refuses other users' clients still returns by its deadline") {
  // current_user_only refuses every client (injected: Wine has one user), and clients
  // keep coming: each refusal must not restart the timeout.
  Armed guard;
  const LocalName name = fresh_name();
  auto listener = win::PipeListenerOptions()
                      .name(name)
                      .current_user_only(true)
                      .create<win::DuplexBytePipeStream>();
  lt::arm_fault(Fault::foreign_user, 100000);
  std::atomic<bool> stop{false};
  std::thread clients([&] {
    // Long enough to keep an accept that ignores its deadline busy for seconds.
    const auto until = std::chrono::steady_clock::now() + 3s;
    while (!stop && std::chrono::steady_clock::now() < until) {
      std::error_code ec;
      auto c = win::DuplexBytePipeStream::connect(name, 100ms, ec);
      if (ec) continue;
      std::byte b[1];
      c.set_read_timeout(200ms);  // the last one may connect after accept_for returned
      c.read_some(b, ec);         // the refusal ends the connection
    }
  });
  std::error_code ec;
  const auto start = std::chrono::steady_clock::now();
  listener.accept_for(300ms, ec);
  const auto waited = std::chrono::steady_clock::now() - start;
  stop = true;
  clients.join();
  CHECK(ec == localsock::errc::timed_out);
  CHECK(100000 - lt::faults_left(Fault::foreign_user) >= 1);  // clients were refused
  CHECK(waited >= 250ms);
  CHECK(waited < 1500ms);
  // Without the fault, the same listener lets this user's client in.
  lt::clear_faults();
  std::thread good([&] {
    auto c = win::DuplexBytePipeStream::connect(name, 5s);
    const std::byte hello[1] = {std::byte{7}};
    c.write_some(hello);
    std::byte b[1];
    std::error_code ignored;
    c.read_some(b, ignored);  // stays connected until the server closes
  });
  // The last refused client may have connected after accept_for returned: skip it.
  bool served = false;
  for (int i = 0; i < 3 && !served; ++i) {
    auto s = listener.accept_for(5s, ec);
    REQUIRE_FALSE(ec);
    std::byte b[1];
    std::error_code rec;
    served = s.read_some(b, rec) == 1 && b[0] == std::byte{7};
  }
  CHECK(served);
  good.join();
}

TEST_CASE(
    "fault injection: a message whose rest cannot be sized ends receiving, never a garbled "
    "message") {
  Armed guard;
  const LocalName name = fresh_name();
  auto listener = win::PipeListenerOptions()
                      .name(name)
                      .mode(win::PipeMode::Messages)
                      .create<win::DuplexMsgPipeStream>();
  auto c = win::DuplexMsgPipeStream::connect(name);
  auto s = listener.accept();
  c.send(localsock::test::pattern(100, 3));
  c.send(localsock::test::pattern(10, 4));
  // The first read takes one byte of the first message (ERROR_MORE_DATA), and
  // PeekNamedPipe, asked how much is left of it, fails.
  lt::arm_fault(Fault::more_data);
  lt::arm_fault(Fault::peek_fails);
  std::vector<std::byte> buf(1000);
  std::error_code ec;
  (void)s.recv(std::span(buf), ec);
  CHECK(lt::faults_left(Fault::peek_fails) == 0);
  CHECK(ec == std::error_code(8 /* ERROR_NOT_ENOUGH_MEMORY */, std::system_category()));
  // The rest of that message is still in the pipe: it never passes for a message, and
  // neither does anything after it.
  const auto r = s.recv(std::span(buf), ec);
  CHECK(ec == std::errc::connection_aborted);
  CHECK(r.size == 0);
  std::vector<std::byte> out;
  s.recv(out, 1000, ec);
  CHECK(ec == std::errc::connection_aborted);
  CHECK(out.empty());
}
