// SPDX-License-Identifier: MIT
// The async API's Unix backend: the message limit of a seqpacket connection.
#include <localsock/async.hpp>
#include <localsock/config.hpp>
#include <localsock/localsock.hpp>
#include <localsock/posix/message_socket.hpp>
#include <localsock/posix/ud_seqpacket.hpp>

#include <algorithm>
#include <cstddef>
#include <vector>

#include "doctest_ext.hpp"
#include "pattern.hpp"
#include "test_loop.hpp"
#include "unique_name.hpp"

using localsock::AsyncListener;
using localsock::AsyncOptions;
using localsock::AsyncSocket;
using localsock::ConnectOptions;
using localsock::errc;
using localsock::ListenerOptions;
using localsock::LocalName;
using localsock::Mode;
using localsock::ReadEvent;
using localsock::test::pattern;

namespace {

// Each transport this system has: seqpacket (where supported) and framed.
std::vector<localsock::MessageTransport> transports() {
  std::vector<localsock::MessageTransport> all{localsock::MessageTransport::framed};
  if (localsock::posix::seqpacket_supported())
    all.push_back(localsock::MessageTransport::seqpacket);
  return all;
}

}  // namespace

TEST_CASE(
    "async seqpacket: the message limit is the system's measured one; up to it messages go, above "
    "it message_too_large") {
  // Asked for more than the kernel sends in one message (about 4 MiB on Linux), a
  // connection's limit is what the system can send, as the blocking sockets measure
  // it: not a rounded figure below it. Framed messages have no system limit: the
  // option's is the limit.
  for (const auto transport : transports()) {
    const bool framed = transport == localsock::MessageTransport::framed;
    CAPTURE(framed);
    AsyncOptions settings;
    settings.max_message_size = 8 * 1024 * 1024;
    const std::size_t expected = framed
                                     ? settings.max_message_size
                                     : std::min(settings.max_message_size,
                                                localsock::posix::UdSeqpacket().max_message_size());
    localsock::test::TestLoop t;
    const LocalName name = LocalName::namespaced(localsock::test::unique_name("lap"));
    std::vector<std::vector<std::byte>> got;
    AsyncSocket::Ptr server_side;
    auto server = AsyncListener::listen(
        *t.async, ListenerOptions(name).transport(transport), Mode::messages,
        [&](std::error_code, AsyncSocket::Ptr s) {
          server_side = s;
          s->start_reading([&](const ReadEvent& e) {
            CHECK_FALSE(e.error);
            if (!e.end) got.emplace_back(e.data.begin(), e.data.end());
          });
        },
        settings);
    AsyncSocket::Ptr c;
    AsyncSocket::connect(
        *t.async, ConnectOptions(name).transport(transport), Mode::messages,
        [&](std::error_code ec, AsyncSocket::Ptr s) {
          REQUIRE_FALSE(ec);
          c = s;
        },
        settings);
    REQUIRE(t.run([&] { return c && server_side; }));
    CHECK(c->max_message_size() == expected);
    if (!framed) {
      const std::size_t limit = c->max_message_size();
      std::error_code at_limit = make_error_code(errc::not_connected), above = at_limit;
      int done = 0;
      c->write(pattern(limit, 5), [&](std::error_code ec) {
        at_limit = ec;
        ++done;
      });
      c->write(pattern(limit + 1, 6), [&](std::error_code ec) {
        above = ec;
        ++done;
      });
      REQUIRE(t.run([&] { return done == 2 && !got.empty(); }));
      CHECK_FALSE(at_limit);
      CHECK(above == errc::message_too_large);
      REQUIRE(got.size() == 1);
      CHECK(got[0] == pattern(limit, 5));
    }
    c->close();
    server_side->close();
    server->close();
    t.settle();
  }
}

TEST_CASE("async: queued_bytes() counts only what is not yet written of a partly written write") {
  // A 1 MiB write to a peer that does not read is written in part (what the system's
  // buffers take) and the rest waits. queued_bytes() is the rest: what the peer can
  // read now plus what is still queued is everything that was written.
  localsock::test::TestLoop t;
  const LocalName name = LocalName::namespaced(localsock::test::unique_name("qb"));
  auto listener = localsock::LocalListener::bind(ListenerOptions(name).buffer_size(64 * 1024));
  AsyncSocket::Ptr c;
  AsyncSocket::connect(*t.async, ConnectOptions(name), Mode::bytes,
                       [&](std::error_code ec, AsyncSocket::Ptr s) {
                         REQUIRE_FALSE(ec);
                         c = s;
                       });
  REQUIRE(t.run([&] { return c != nullptr; }));
  localsock::LocalSocket peer = listener.accept();
  const std::size_t total = 1024 * 1024;
  bool finished = false;
  c->write(pattern(total, 9), [&](std::error_code) { finished = true; });
  // Let the loop write until the system's buffers are full.
  t.run([] { return false; }, std::chrono::milliseconds(300));
  REQUIRE_FALSE(finished);
  const std::size_t queued = c->queued_bytes();
  peer.set_nonblocking(true);
  std::vector<std::byte> buf(256 * 1024);
  std::size_t readable = 0;
  for (;;) {
    std::error_code ec;
    const std::size_t n = peer.read_some(buf, ec);
    if (ec) break;
    readable += n;
  }
  CHECK(readable > 0);
  CHECK(queued + readable == total);
  c->close();
  t.settle();
}
