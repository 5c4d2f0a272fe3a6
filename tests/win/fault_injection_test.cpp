// SPDX-License-Identifier: MIT
// Injected faults on the named-pipe backend: busy pipes, clients gone before accept,
// ERROR_PIPE_CONNECTED and ERROR_MORE_DATA, each path deterministically.
#include <localsock/testing.hpp>
#include <localsock/win/named_pipe.hpp>

#include <chrono>
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
TEST_CASE("fault injection: handle exhaustion gives clear errors, and recovery once handles free up") {
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
