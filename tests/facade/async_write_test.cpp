// SPDX-License-Identifier: MIT
// Async writes: failures told, backpressure, close during writes, shutdown, and the data a read
// callback holds.
#include "async_support.hpp"

TEST_CASE("async: a write without a callback that fails is not dropped silently") {
  // A message the system refuses to send (Linux seqpacket: above the send buffer limit
  // or the kernel's ~4 MiB, message_too_large or out_of_resources). Learnt first with a
  // callback: where such a message goes through (Windows up to 2 GiB, framed streams),
  // there is no failure to surface.
  TestLoop t;
  const LocalName name = fresh_name();
  AsyncSocket::Ptr server_side;
  std::size_t server_got = 0;
  auto server = AsyncListener::listen(
      *t.async, localsock::test::message_listen(name), Mode::messages,
      [&](std::error_code, AsyncSocket::Ptr s) {
        server_side = s;
        s->start_reading([&](const ReadEvent& e) { server_got += !e.error && !e.end; });
      });
  AsyncSocket::Ptr c;
  AsyncSocket::connect(*t.async, localsock::test::message_connect(name), Mode::messages,
                       [&](std::error_code ec, AsyncSocket::Ptr s) {
                         REQUIRE_FALSE(ec);
                         c = s;
                       });
  REQUIRE(t.run([&] { return c && server_side; }));
  std::vector<ReadEvent> events;
  c->start_reading([&](const ReadEvent& e) { events.push_back(e); });
  const auto huge = pattern(8 * 1024 * 1024, 3);
  bool probed = false;
  std::error_code refused;
  c->write(huge, [&](std::error_code ec) {
    refused = ec;
    probed = true;
  });
  REQUIRE(t.run([&] { return probed; }));
  if (!refused) {
    MESSAGE("an 8 MiB message is sent whole here: no write failure to surface");
  } else {
    // The connection went on after a failure its callback was told of.
    CHECK(c->is_open());
    // Without a callback the failure reaches the read callback, and the connection closes.
    CHECK(c->write(huge));  // not backpressure: nothing is queued, no drain would follow
    CHECK(t.run([&] { return !events.empty() && !c->is_open(); }, 2s));
    REQUIRE(events.size() == 1);
    CHECK(events[0].error == refused);
    CHECK_FALSE(events[0].end);
    // Later writes are told at once.
    std::error_code late;
    c->write(pattern(10, 1), [&](std::error_code ec) { late = ec; });
    CHECK(late);
  }
  c->close();
  server_side->close();
  server->close();
  t.settle();
}

TEST_CASE("async: backpressure — a peer that stops reading bounds the queue; drain fires") {
  TestLoop t;
  const LocalName name = fresh_name();
  AsyncSocket::Ptr reader;
  auto server =
      AsyncListener::listen(*t.async, ListenerOptions(name).buffer_size(64 * 1024), Mode::bytes,
                            [&](std::error_code, AsyncSocket::Ptr s) { reader = s; });
  AsyncSocket::Ptr writer;
  auto c = AsyncSocket::connect(*t.async, ConnectOptions(name), Mode::bytes,
                                [&](std::error_code ec, AsyncSocket::Ptr s) {
                                  REQUIRE_FALSE(ec);
                                  writer = s;
                                });
  REQUIRE(t.run([&] { return reader && writer; }));
  writer->set_high_water_mark(256 * 1024);
  bool drained = false;
  writer->on_drain([&] { drained = true; });
  // Write as the application should: until write() says stop.
  std::size_t written = 0;
  const auto chunk = pattern(64 * 1024, 3);
  while (writer->write(chunk)) written += chunk.size();
  written += chunk.size();
  const std::size_t peak = writer->queued_bytes();
  CHECK(peak >= 256 * 1024);
  CHECK(peak <= 256 * 1024 + chunk.size());
  // Nobody reads: the loop runs, the system buffers fill, the queue stays where it is.
  t.run([] { return false; }, 300ms);
  CHECK_FALSE(drained);
  CHECK(writer->queued_bytes() <= peak);
  CHECK(writer->queued_bytes() > 0);
  // The peer resumes reading: everything arrives and the drain callback fires.
  std::size_t received = 0;
  reader->start_reading([&](const ReadEvent& e) { received += e.data.size(); });
  CHECK(t.run([&] { return drained && received == written; }));
  CHECK(writer->queued_bytes() == 0);
  reader->close();
  writer->close();
  server->close();
  t.settle();
}

TEST_CASE("async: close during a pending write cancels it; closing inside a callback works") {
  TestLoop t;
  const LocalName name = fresh_name();
  AsyncSocket::Ptr peer;
  auto server =
      AsyncListener::listen(*t.async, ListenerOptions(name).buffer_size(16 * 1024), Mode::bytes,
                            [&](std::error_code, AsyncSocket::Ptr s) { peer = s; });
  std::error_code write_result;
  bool write_done = false, closed = false;
  auto c = AsyncSocket::connect(*t.async, ConnectOptions(name), Mode::bytes,
                                [&](std::error_code ec, AsyncSocket::Ptr s) {
                                  REQUIRE_FALSE(ec);
                                  // Far more than the buffers take: it stays pending.
                                  s->write(pattern(32 * 1024 * 1024, 4), [&](std::error_code wec) {
                                    write_result = wec;
                                    write_done = true;
                                  });
                                });
  REQUIRE(t.run([&] { return peer != nullptr && c->is_open(); }));
  t.run([] { return false; }, 100ms);
  c->close([&] { closed = true; });
  CHECK(t.run([&] { return closed && write_done; }));
  CHECK(write_result == std::errc::operation_canceled);
  // The peer sees the end and closes itself from inside its read callback.
  bool peer_closed = false;
  AsyncSocket* raw = peer.get();
  peer->start_reading([&, raw](const ReadEvent& e) {
    if (e.end || e.error) raw->close([&] { peer_closed = true; });
  });
  peer.reset();  // the open socket keeps itself alive
  CHECK(t.run([&] { return peer_closed; }));
  server->close();
  t.settle();
}

TEST_CASE("async: shutdown sends everything queued, then the peer reads the end") {
  TestLoop t;
  const LocalName name = fresh_name();
  std::vector<std::byte> got;
  bool ended = false;
  AsyncSocket::Ptr accepted;
  auto server = AsyncListener::listen(*t.async, ListenerOptions(name), Mode::bytes,
                                      [&](std::error_code, AsyncSocket::Ptr s) {
                                        accepted = s;
                                        s->start_reading([&](const ReadEvent& e) {
                                          got.insert(got.end(), e.data.begin(), e.data.end());
                                          if (e.end) ended = true;
                                        });
                                      });
  const auto data = pattern(3 * 1024 * 1024, 8);
  std::error_code shutdown_result = make_error_code(errc::not_connected);
  bool shut = false;
  auto c = AsyncSocket::connect(*t.async, ConnectOptions(name), Mode::bytes,
                                [&](std::error_code ec, AsyncSocket::Ptr s) {
                                  REQUIRE_FALSE(ec);
                                  s->write(data);
                                  s->shutdown([&](std::error_code sec) {
                                    shutdown_result = sec;
                                    shut = true;
                                  });
                                  // Nothing may be written after a shutdown.
                                  std::error_code late;
                                  s->write(pattern(1, 1), [&](std::error_code wec) { late = wec; });
                                  CHECK(late);
                                });
  CHECK(t.run([&] { return ended && shut; }));
  CHECK_FALSE(shutdown_result);
  CHECK(got == data);
  c->close();
  accepted->close();
  server->close();
  t.settle();
}

TEST_CASE(
    "async: a write after shutdown() says the socket was shut down, and is not backpressure") {
  TestLoop t;
  const LocalName name = fresh_name();
  AsyncSocket::Ptr accepted;
  auto server = AsyncListener::listen(*t.async, ListenerOptions(name), Mode::bytes,
                                      [&](std::error_code, AsyncSocket::Ptr s) { accepted = s; });
  AsyncSocket::Ptr c;
  AsyncSocket::connect(*t.async, ConnectOptions(name), Mode::bytes,
                       [&](std::error_code ec, AsyncSocket::Ptr s) {
                         REQUIRE_FALSE(ec);
                         c = s;
                       });
  REQUIRE(t.run([&] { return c && accepted; }));
  bool drained = false;
  c->on_drain([&] { drained = true; });
  c->shutdown();
  std::error_code late;
  CHECK(c->write(pattern(10, 1), [&](std::error_code ec) { late = ec; }));
  CHECK(late == errc::shut_down);
  CHECK_FALSE(late == errc::peer_closed);
  CHECK(c->write(pattern(10, 1)));  // no callback: still not "stop until drain"
  t.run([] { return false; }, 50ms);
  // Later too, once the shutdown has happened.
  late.clear();
  CHECK(c->write(pattern(10, 1), [&](std::error_code ec) { late = ec; }));
  CHECK(late == errc::shut_down);
  CHECK_FALSE(drained);
  CHECK(c->queued_bytes() == 0);
  c->close();
  accepted->close();
  server->close();
  t.settle();
}

TEST_CASE(
    "async: the data a read callback receives stays unchanged while it writes or reads again") {
  // The callback calls write() and start_reading() while it still looks at its data: no
  // later read may land in that data before the callback returns. Two messages wait in
  // the system before the first read, so that a read started from inside the callback
  // would complete at once, into the buffer the callback holds.
  for (const bool restart : {false, true}) {
    CAPTURE(restart);
    TestLoop t;
    const LocalName name = fresh_name();
    std::vector<std::vector<std::byte>> seen_before, seen_after;
    AsyncSocket::Ptr accepted;
    auto server =
        AsyncListener::listen(*t.async, localsock::test::message_listen(name), Mode::messages,
                              [&](std::error_code ec, AsyncSocket::Ptr s) {
                                REQUIRE_FALSE(ec);
                                accepted = s;
                              });
    auto client = localsock::LocalMessageSocket::connect(localsock::test::message_connect(name));
    REQUIRE(t.run([&] { return accepted != nullptr; }));
    const auto first = pattern(400, 1);
    const auto second = pattern(400, 2);
    client.send(first);
    client.send(second);
    AsyncSocket* raw = accepted.get();
    std::function<void(const ReadEvent&)> on_read;
    on_read = [&, raw](const ReadEvent& e) {
      if (e.end || e.error) return;
      seen_before.emplace_back(e.data.begin(), e.data.end());
      raw->write(pattern(10, 3));
      if (restart) raw->start_reading(on_read);
      // Let a read started meanwhile complete where it would.
      std::this_thread::sleep_for(20ms);
      seen_after.emplace_back(e.data.begin(), e.data.end());
    };
    accepted->start_reading(on_read);
    CHECK(t.run([&] { return seen_after.size() == 2; }, 10s));
    REQUIRE(seen_after.size() == 2);
    CHECK(seen_before[0] == first);
    CHECK(seen_after[0] == first);
    CHECK(seen_after[1] == second);
    accepted->close();
    server->close();
    t.settle();
  }
}

TEST_CASE("async: after shutdown() the read side reports the end, on every platform") {
  // The portable pattern: write, shutdown(), then wait for the end on the read side
  // (Unix: when the peer closes its side; Windows, where a pipe has no half-close: once
  // the writes are flushed and the connection has closed).
  for (const bool read_after : {false, true}) {
    CAPTURE(read_after);
    TestLoop t;
    const LocalName name = fresh_name();
    AsyncSocket::Ptr accepted;
    auto server = AsyncListener::listen(*t.async, ListenerOptions(name), Mode::bytes,
                                        [&](std::error_code, AsyncSocket::Ptr s) { accepted = s; });
    std::vector<std::byte> client_got;
    bool client_end = false;
    AsyncSocket::Ptr client;
    AsyncSocket::connect(*t.async, ConnectOptions(name), Mode::bytes,
                         [&](std::error_code ec, AsyncSocket::Ptr s) {
                           REQUIRE_FALSE(ec);
                           client = s;
                           AsyncSocket* raw = s.get();
                           s->start_reading([&, raw](const ReadEvent& e) {
                             client_got.insert(client_got.end(), e.data.begin(), e.data.end());
                             if (e.end || e.error) {
                               client_end = e.end;
                               raw->close();  // the peer is done too
                             }
                           });
                         });
    REQUIRE(t.run([&] { return accepted && client; }, 10s));
    int server_ends = 0, server_errors = 0;
    auto on_read = [&](const ReadEvent& e) {
      server_ends += e.end;
      server_errors += bool(e.error);
    };
    if (!read_after) accepted->start_reading(on_read);
    const auto data = pattern(100 * 1024, 5);
    accepted->write(data);
    std::error_code shutdown_result = make_error_code(errc::not_connected);
    bool shut = false;
    accepted->shutdown([&](std::error_code ec) {
      shutdown_result = ec;
      shut = true;
    });
    if (read_after) {
      REQUIRE(t.run([&] { return shut; }, 10s));
      accepted->start_reading(on_read);
    }
    CHECK(t.run([&] { return server_ends == 1 && client_end; }, 10s));
    t.run([] { return false; }, 50ms);
    CHECK_FALSE(shutdown_result);
    CHECK(client_got == data);
    CHECK(server_ends == 1);
    CHECK(server_errors == 0);
    bool closed = false;
    accepted->close([&] { closed = true; });
    CHECK(t.run([&] { return closed; }, 5s));
    CHECK_FALSE(accepted->is_open());
    server->close();
    t.settle();
  }
}

TEST_CASE("async: after shutdown() while reading is paused, resume_reading() brings the end") {
  // resume_reading() is start_reading() with the callback given before: the end owed
  // after a shutdown arrives through it too, once, on both platforms (Windows: the
  // connection has closed by then, and the end is delivered from the loop).
  TestLoop t;
  const LocalName name = fresh_name();
  AsyncSocket::Ptr accepted;
  auto server = AsyncListener::listen(*t.async, ListenerOptions(name), Mode::bytes,
                                      [&](std::error_code, AsyncSocket::Ptr s) { accepted = s; });
  AsyncSocket::Ptr client;
  AsyncSocket::connect(*t.async, ConnectOptions(name), Mode::bytes,
                       [&](std::error_code ec, AsyncSocket::Ptr s) {
                         REQUIRE_FALSE(ec);
                         client = s;
                       });
  REQUIRE(t.run([&] { return accepted && client; }, 10s));
  int ends = 0, errors = 0;
  accepted->start_reading([&](const ReadEvent& e) {
    ends += e.end;
    errors += bool(e.error);
  });
  t.settle();
  accepted->stop_reading();
  bool shut = false;
  std::error_code shutdown_result = make_error_code(errc::not_connected);
  accepted->shutdown([&](std::error_code ec) {
    shutdown_result = ec;
    shut = true;
  });
  REQUIRE(t.run([&] { return shut; }, 10s));
  CHECK_FALSE(shutdown_result);
  client->close();  // Unix: the end comes once the peer has closed its side too
  t.run([] { return false; }, 100ms);
  CHECK(ends == 0);  // paused: nothing delivered yet
  std::error_code ec;
  accepted->resume_reading(ec);
  CHECK_FALSE(ec);
  CHECK(ends == 0);  // never inside the call
  CHECK(t.run([&] { return ends == 1; }, 5s));
  t.run([] { return false; }, 50ms);
  CHECK(ends == 1);
  CHECK(errors == 0);
  bool closed = false;
  accepted->close([&] { closed = true; });
  CHECK(t.run([&] { return closed; }, 5s));
  server->close();
  t.settle();
}
