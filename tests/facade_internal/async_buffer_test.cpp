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
  auto server = AsyncListener::listen(*t.async, localsock::test::message_listen(name), Mode::messages,
                                      [&](std::error_code, AsyncSocket::Ptr s) {
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
