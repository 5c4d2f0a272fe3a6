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
