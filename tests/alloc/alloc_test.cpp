// SPDX-License-Identifier: MIT
// Steady-state message paths allocate nothing: global operator new is replaced with a
// counting one, and a warmed-up exchange must not move the count.
#include <localsock/localsock.hpp>

#include <atomic>
#include <cstdlib>
#include <new>
#include <thread>
#include <vector>

#include "doctest_ext.hpp"
#include "unique_name.hpp"

namespace {
std::atomic<long> allocations{0};
}

void* operator new(std::size_t n) {
  ++allocations;
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace {

template <localsock::Mode M>
struct Pair {
  localsock::BasicLocalListener<M> listener;
  localsock::BasicLocalSocket<M> server, client;
};

template <localsock::Mode M>
Pair<M> open_pair() {
  Pair<M> p;
  p.listener = localsock::BasicLocalListener<M>::bind(
      localsock::LocalName::namespaced(localsock::test::unique_name("lal")));
  std::thread t([&] { p.server = p.listener.accept(); });
  p.client = localsock::BasicLocalSocket<M>::connect(p.listener.name());
  t.join();
  return p;
}

}  // namespace

TEST_CASE("allocations: byte-stream round trips allocate nothing once running") {
  auto p = open_pair<localsock::Mode::bytes>();
  std::byte out[256] = {}, in[256], echo[256];
  auto round = [&] {
    p.client.write_all(out);
    p.server.read_exact(echo);
    p.server.write_all(echo);
    p.client.read_exact(in);
  };
  for (int i = 0; i < 10; ++i) round();  // warm-up
  const long before = allocations;
  for (int i = 0; i < 1000; ++i) round();
  CHECK(allocations - before == 0);
}

TEST_CASE("allocations: message round trips allocate nothing once running") {
  auto p = open_pair<localsock::Mode::messages>();
  std::vector<std::byte> out(300, std::byte{1}), got;
  std::byte in[512];
  auto round = [&] {
    p.client.send(out);
    p.server.recv(got, 1 << 16);  // the vector's capacity is reused
    p.server.send(got);
    p.client.recv(in);
  };
  for (int i = 0; i < 10; ++i) round();
  const long before = allocations;
  for (int i = 0; i < 1000; ++i) round();
  CHECK(allocations - before == 0);
}
