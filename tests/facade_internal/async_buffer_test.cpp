// SPDX-License-Identifier: MIT
// Async message mode, measured through the library's internals
// (localsock::testing::kept_read_buffer): the receive buffers a connection keeps.
#include <localsock/testing.hpp>

#include "async_support.hpp"

TEST_CASE("async: message mode keeps no large receive buffer after a large message") {
  // A server whose clients each sent one large message must not hold that much memory
  // per connection: what is kept between reads is capped (256 KiB, plus a read chunk).
  TestLoop t;
  const LocalName name = fresh_name();
  AsyncSocket::Ptr server_side;
  std::vector<std::size_t> sizes;
  auto server = AsyncListener::listen(*t.async, localsock::test::message_listen(name),
                                      Mode::messages, [&](std::error_code, AsyncSocket::Ptr s) {
                                        server_side = s;
                                        s->start_reading([&](const ReadEvent& e) {
                                          CHECK_FALSE(e.error);
                                          sizes.push_back(e.data.size());
                                        });
                                      });
  AsyncSocket::Ptr c;
  AsyncSocket::connect(*t.async, localsock::test::message_connect(name), Mode::messages,
                       [&](std::error_code ec, AsyncSocket::Ptr s) {
                         REQUIRE_FALSE(ec);
                         c = s;
                       });
  REQUIRE(t.run([&] { return c && server_side; }));
  const std::size_t large = std::min<std::size_t>(c->max_message_size(), 2 * 1024 * 1024);
  REQUIRE(large > 512 * 1024);
  c->write(pattern(large, 1));
  REQUIRE(t.run([&] { return sizes.size() == 1; }));
  c->write(pattern(10, 2));
  REQUIRE(t.run([&] { return sizes.size() == 2; }));
  CHECK(sizes[0] == large);
  const std::size_t kept = localsock::testing::kept_read_buffer(*server_side);
  CAPTURE(kept);
  CHECK(kept <= 256 * 1024 + localsock::AsyncOptions{}.read_chunk);
  c->close();
  server_side->close();
  server->close();
  t.settle();
}

TEST_CASE("async: an idle connection holds no read buffer once what it read is delivered") {
  // Idle connections cost little memory: a read buffer is taken from the loop when data
  // is there and given back once the data is delivered (Windows waits for data with a
  // zero-byte read). Before that, a connection kept its buffer from its first read on.
  for (const Mode mode : {Mode::bytes, Mode::messages}) {
    CAPTURE(int(mode));
    TestLoop t;
    const LocalName name = fresh_name();
    AsyncSocket::Ptr server_side;
    std::vector<std::vector<std::byte>> got;
    std::size_t bytes = 0;
    auto server = AsyncListener::listen(
        *t.async,
        mode == Mode::messages ? localsock::test::message_listen(name) : ListenerOptions(name),
        mode, [&](std::error_code, AsyncSocket::Ptr s) {
          server_side = s;
          s->start_reading([&](const ReadEvent& e) {
            CHECK_FALSE(e.error);
            got.emplace_back(e.data.begin(), e.data.end());
            bytes += e.data.size();
          });
        });
    AsyncSocket::Ptr c;
    AsyncSocket::connect(
        *t.async,
        mode == Mode::messages ? localsock::test::message_connect(name) : ConnectOptions(name),
        mode, [&](std::error_code ec, AsyncSocket::Ptr s) {
          REQUIRE_FALSE(ec);
          c = s;
        });
    REQUIRE(t.run([&] { return c && server_side; }));
    CHECK(localsock::testing::kept_read_buffer(*server_side) == 0);
    // A small write, then one larger than a first read (a message put together from
    // several reads on Windows).
    for (const std::size_t size : {std::size_t{100}, std::size_t{5000}}) {
      CAPTURE(size);
      const std::size_t before = bytes;
      c->write(pattern(size, 1));
      REQUIRE(t.run([&] { return bytes == before + size; }));
      // Once the loop has run on (the next wait has started), nothing is kept.
      t.run([] { return false; }, 50ms);
      CHECK(localsock::testing::kept_read_buffer(*server_side) == 0);
    }
    if (mode == Mode::messages) {
      // An empty message is taken whole by the zero-byte wait on Windows, and delivered
      // once, in its place.
      const std::size_t before = got.size();
      c->write(std::span<const std::byte>{});
      c->write(pattern(10, 2));
      REQUIRE(t.run([&] { return got.size() == before + 2; }));
      CHECK(got[before].empty());
      CHECK(got[before + 1] == pattern(10, 2));
      t.run([] { return false; }, 50ms);
      CHECK(got.size() == before + 2);
      CHECK(localsock::testing::kept_read_buffer(*server_side) == 0);
    }
    c->close();
    server_side->close();
    server->close();
    t.settle();
  }
}
