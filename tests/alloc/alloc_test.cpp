// SPDX-License-Identifier: MIT
// Steady-state message paths allocate nothing: global operator new is replaced with a
// counting one, and a warmed-up exchange must not move the count. Blocking and async
// (libuv) paths, byte and message mode, on both platforms.
#include <localsock/async.hpp>
#include <localsock/localsock.hpp>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <new>
#include <thread>
#include <vector>

#include <uv.h>

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

namespace {

// An async echo on one loop: the server writes back what it reads (write(span): written
// at once on Unix, copied into a reused buffer on Windows), the client sends the next
// message when the echo is complete. Read buffers come from the loop's pool and go back
// to it between messages (an idle connection holds none); with `settings.read_chunk`
// below `size`, a Windows message is put together from several reads, in pooled memory.
void async_round_trips_allocate_nothing(localsock::Mode mode, std::size_t size = 300,
                                        localsock::AsyncOptions settings = {}) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  long counted = -1;
  {
    localsock::AsyncLoop async(&loop);
    const auto name = localsock::LocalName::namespaced(localsock::test::unique_name("laa"));
    auto server = localsock::AsyncListener::listen(
        async, localsock::ListenerOptions(name), mode,
        [](std::error_code ec, localsock::AsyncSocket::Ptr s) {
          REQUIRE_FALSE(ec);
          localsock::AsyncSocket* raw = s.get();
          s->start_reading([raw](const localsock::ReadEvent& e) {
            if (e.end || e.error) {
              raw->close();
              return;
            }
            raw->write(e.data);
          });
        },
        settings);
    const std::vector<std::byte> payload(size, std::byte{7});
    constexpr int warm_up = 100, measured = 1000;
    int rounds = 0;
    std::size_t got = 0;
    long before = 0;
    localsock::AsyncSocket::Ptr client = localsock::AsyncSocket::connect(
        async, localsock::ConnectOptions(name), mode,
        [&](std::error_code ec, localsock::AsyncSocket::Ptr c) {
          REQUIRE_FALSE(ec);
          localsock::AsyncSocket* raw = c.get();
          c->start_reading([&, raw](const localsock::ReadEvent& e) {
            if (e.end || e.error) return;
            got += e.data.size();
            if (got < payload.size()) return;
            got = 0;
            if (++rounds == warm_up) before = allocations;
            if (rounds == warm_up + measured) {
              counted = allocations - before;
              raw->close();
              server->close();
              return;
            }
            raw->write(payload);
          });
          c->write(payload);
        },
        settings);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (counted < 0 && std::chrono::steady_clock::now() < deadline) uv_run(&loop, UV_RUN_ONCE);
    client.reset();
    server.reset();
    uv_run(&loop, UV_RUN_DEFAULT);
  }
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);
  CHECK(counted == 0);
}

}  // namespace

TEST_CASE("allocations: async byte-stream round trips allocate nothing once running") {
  async_round_trips_allocate_nothing(localsock::Mode::bytes);
}

TEST_CASE("allocations: async message round trips allocate nothing once running") {
  async_round_trips_allocate_nothing(localsock::Mode::messages);
}

TEST_CASE("allocations: async messages larger than one read allocate nothing once running") {
  localsock::AsyncOptions small_reads;
  small_reads.read_chunk = 1024;
  async_round_trips_allocate_nothing(localsock::Mode::messages, 3000, small_reads);
}
