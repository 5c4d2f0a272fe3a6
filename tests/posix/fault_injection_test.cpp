// SPDX-License-Identifier: MIT
// Injected faults on the Unix backend: each path runs deterministically.
#include <localsock/localsock.hpp>
#include <localsock/testing.hpp>

#include <thread>
#include <vector>

#include "doctest_ext.hpp"
#include "pattern.hpp"
#include "unique_name.hpp"

using localsock::errc;
using localsock::testing::Fault;
namespace lt = localsock::testing;

namespace {
struct Armed {
  ~Armed() { lt::clear_faults(); }
};

struct Pair {
  localsock::LocalListener listener;
  localsock::LocalSocket server, client;
};
Pair open_pair() {
  Pair p;
  p.listener = localsock::LocalListener::bind(
      localsock::LocalName::namespaced(localsock::test::unique_name("lfi")));
  p.client = localsock::LocalSocket::connect(p.listener.name());
  p.server = p.listener.accept();
  return p;
}
}  // namespace

TEST_CASE("fault injection: EINTR is retried, never reported") {
  Armed guard;
  Pair p = open_pair();
  const auto data = localsock::test::pattern(1000, 1);
  lt::arm_fault(Fault::eintr, 5);
  p.client.write_all(data);
  std::vector<std::byte> got(data.size());
  p.server.read_exact(got);
  CHECK(lt::faults_left(Fault::eintr) == 0);  // every injected EINTR happened...
  CHECK(got == data);                         // ...and none was seen
}

TEST_CASE("fault injection: short writes are completed by write_all") {
  Armed guard;
  Pair p = open_pair();
  const auto data = localsock::test::pattern(4096, 2);
  lt::arm_fault(Fault::short_write, 6);
  CHECK(p.client.write_some(data) == data.size() / 2);  // the short write itself
  p.client.write_all(std::span(data).subspan(data.size() / 2));
  std::vector<std::byte> got(data.size());
  p.server.read_exact(got);
  CHECK(got == data);
}

TEST_CASE(
    "fault injection: EAGAIN is would_block in nonblocking mode; ECONNREFUSED is no_listener") {
  Armed guard;
  Pair p = open_pair();
  std::error_code ec;
  p.client.write_all(localsock::test::pattern(3, 3));
  p.server.set_nonblocking(true, ec);
  lt::arm_fault(Fault::eagain);
  std::byte b[8];
  CHECK(p.server.read_some(b, ec) == 0);
  CHECK(ec == errc::would_block);
  CHECK(p.server.read_some(b, ec) == 3);  // the data was there all along, and still is
  lt::arm_fault(Fault::connect_refused);
  localsock::LocalSocket::connect(p.listener.name(), ec);
  CHECK(ec == errc::no_listener);
  auto ok = localsock::LocalSocket::connect(p.listener.name(), ec);  // the next one works
  CHECK_FALSE(ec);
}
