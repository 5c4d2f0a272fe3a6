// SPDX-License-Identifier: MIT
// Async message mode: whole messages of every size and the limits. (The receive buffers a
// connection keeps are measured through the library's internals:
// tests/facade_internal/async_buffer_test.cpp.)
#include "async_support.hpp"

TEST_CASE("async: message mode delivers 0 B, 1 B, 64 KiB and 4 MiB messages whole") {
  TestLoop t;
  const LocalName name = fresh_name();
  auto server = echo_server(t, name, Mode::messages);
  const std::vector<std::size_t> sizes{0, 1, 64 * 1024, 4 * 1024 * 1024};
  std::vector<std::vector<std::byte>> got;
  bool finished = false;
  auto c = AsyncSocket::connect(*t.async, localsock::test::message_connect(name), Mode::messages,
                                [&](std::error_code ec, AsyncSocket::Ptr s) {
                                  REQUIRE_FALSE(ec);
                                  for (std::size_t i = 0; i < sizes.size(); ++i)
                                    s->write(pattern(sizes[i], unsigned(i)));
                                  s->start_reading([&](const ReadEvent& e) {
                                    REQUIRE_FALSE(e.error);
                                    got.emplace_back(e.data.begin(), e.data.end());
                                    if (got.size() == sizes.size()) finished = true;
                                  });
                                });
  CHECK(t.run([&] { return finished; }));
  REQUIRE(got.size() == sizes.size());
  for (std::size_t i = 0; i < sizes.size(); ++i) CHECK(got[i] == pattern(sizes[i], unsigned(i)));
  c->close();
  server->close();
  t.settle();
}

TEST_CASE("async: messages written into a full socket arrive whole and in order") {
  // The reader starts late, so the writer's socket fills inside the first message: a
  // framed transport (MessageTransport::framed: Unix systems without seqpacket, or chosen) writes
  // frames in parts and must finish each, never start one again.
  TestLoop t;
  const LocalName name = fresh_name();
  AsyncSocket::Ptr reader;
  auto server =
      AsyncListener::listen(*t.async, localsock::test::message_listen(name), Mode::messages,
                            [&](std::error_code, AsyncSocket::Ptr s) { reader = s; });
  // Even-numbered writes have no callback (written at once where the socket takes them),
  // the last one too: nothing else comes after it to push its rest out.
  const std::vector<std::size_t> sizes{1024 * 1024, 10, 700 * 1024, 0, 1024 * 1024 + 1};
  int callbacks = 0;
  auto c =
      AsyncSocket::connect(*t.async, localsock::test::message_connect(name), Mode::messages,
                           [&](std::error_code ec, AsyncSocket::Ptr s) {
                             REQUIRE_FALSE(ec);
                             for (std::size_t i = 0; i < sizes.size(); ++i) {
                               if (i % 2 == 0) {
                                 s->write(pattern(sizes[i], unsigned(i)));  // no callback
                               } else {
                                 s->write(pattern(sizes[i], unsigned(i)), [&](std::error_code wec) {
                                   CHECK_FALSE(wec);
                                   ++callbacks;
                                 });
                               }
                             }
                           });
  REQUIRE(t.run([&] { return reader != nullptr; }));
  t.run([] { return false; }, 100ms);  // the writer fills its socket meanwhile
  std::vector<std::vector<std::byte>> got;
  reader->start_reading([&](const ReadEvent& e) {
    CHECK_FALSE(e.error);
    CHECK_FALSE(e.end);
    if (!e.error && !e.end) got.emplace_back(e.data.begin(), e.data.end());
  });
  CHECK(t.run([&] { return got.size() >= sizes.size() && callbacks == 2; }, 10s));
  REQUIRE(got.size() == sizes.size());
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    CAPTURE(i);
    CHECK(got[i] == pattern(sizes[i], unsigned(i)));
  }
  c->close();
  reader->close();
  server->close();
  t.settle();
}

TEST_CASE(
    "async: a message of the default maximum size is sent; a larger one is message_too_large") {
  // The default limit must be one the system can send (Linux seqpacket refuses single
  // messages above about 4 MiB, and less where the send buffer cannot grow), and a write
  // above the connection's limit is refused as such, never out_of_resources, never false.
  TestLoop t;
  const LocalName name = fresh_name();
  std::vector<std::vector<std::byte>> got;
  AsyncSocket::Ptr server_side;
  auto server = AsyncListener::listen(*t.async, localsock::test::message_listen(name),
                                      Mode::messages, [&](std::error_code, AsyncSocket::Ptr s) {
                                        server_side = s;
                                        s->start_reading([&](const ReadEvent& e) {
                                          CHECK_FALSE(e.error);
                                          got.emplace_back(e.data.begin(), e.data.end());
                                        });
                                      });
  AsyncSocket::Ptr c;
  AsyncSocket::connect(*t.async, localsock::test::message_connect(name), Mode::messages,
                       [&](std::error_code ec, AsyncSocket::Ptr s) {
                         REQUIRE_FALSE(ec);
                         c = s;
                       });
  REQUIRE(t.run([&] { return c && server_side; }));
  const std::size_t limit = c->max_message_size();
  CAPTURE(limit);
  CHECK(limit > 0);
  CHECK(limit <= localsock::AsyncOptions{}.max_message_size);
  std::vector<ReadEvent> events;
  c->start_reading([&](const ReadEvent& e) { events.push_back(e); });
  std::error_code at_limit = make_error_code(errc::not_connected), above = at_limit;
  int done = 0;
  c->write(pattern(limit, 1), [&](std::error_code ec) {
    at_limit = ec;
    ++done;
  });
  c->write(pattern(limit + 1, 2), [&](std::error_code ec) {
    above = ec;
    ++done;
  });
  REQUIRE(t.run([&] { return done == 2 && !got.empty(); }, 20s));
  CHECK_FALSE(at_limit);
  CHECK(above == errc::message_too_large);
  REQUIRE(got.size() == 1);
  CHECK(got[0] == pattern(limit, 1));
  // Without a callback: refused at once, and write() does not say "stop" (no drain would
  // follow); the failure reaches the read callback.
  CHECK(c->write(pattern(limit + 1, 3)));
  CHECK(c->queued_bytes() == 0);
  CHECK(t.run([&] { return !events.empty(); }, 5s));
  REQUIRE_FALSE(events.empty());
  CHECK(events[0].error == errc::message_too_large);
  c->close();
  server_side->close();
  server->close();
  t.settle();
}

TEST_CASE(
    "async: an over-size write without a callback made while connecting is not dropped silently") {
  TestLoop t;
  const LocalName name = fresh_name();
  AsyncSocket::Ptr server_side;
  auto server =
      AsyncListener::listen(*t.async, localsock::test::message_listen(name), Mode::messages,
                            [&](std::error_code, AsyncSocket::Ptr s) { server_side = s; });
  bool connected = false;
  auto c = AsyncSocket::connect(*t.async, localsock::test::message_connect(name), Mode::messages,
                                [&](std::error_code ec, AsyncSocket::Ptr) { connected = !ec; });
  std::vector<ReadEvent> events;
  c->start_reading([&](const ReadEvent& e) { events.push_back(e); });
  CHECK(c->write(pattern(localsock::AsyncOptions{}.max_message_size + 1, 1)));
  CHECK(t.run([&] { return connected && !events.empty(); }, 5s));
  REQUIRE_FALSE(events.empty());
  CHECK(events[0].error == errc::message_too_large);
  c->close();
  if (server_side) server_side->close();
  server->close();
  t.settle();
}

TEST_CASE("async: an over-size message is an error on that message, not a cut") {
  TestLoop t;
  const LocalName name = fresh_name();
  std::vector<ReadEvent> events;
  std::vector<std::vector<std::byte>> data;
  localsock::AsyncOptions small;
  small.max_message_size = 1000;
  AsyncSocket::Ptr accepted;
  auto server = AsyncListener::listen(
      *t.async, localsock::test::message_listen(name), Mode::messages,
      [&](std::error_code, AsyncSocket::Ptr s) {
        accepted = s;
        s->start_reading([&](const ReadEvent& e) {
          events.push_back(e);
          data.emplace_back(e.data.begin(), e.data.end());
        });
      },
      small);
  auto c = AsyncSocket::connect(*t.async, localsock::test::message_connect(name), Mode::messages,
                                [&](std::error_code ec, AsyncSocket::Ptr s) {
                                  REQUIRE_FALSE(ec);
                                  s->write(pattern(5000, 1));
                                  s->write(pattern(10, 2));
                                });
  CHECK(t.run([&] { return events.size() == 2; }));
  REQUIRE(events.size() == 2);
  CHECK(events[0].error == errc::message_too_large);
  CHECK_FALSE(events[1].error);
  CHECK(data[1] == pattern(10, 2));
  c->close();
  accepted->close();
  server->close();
  t.settle();
}

TEST_CASE("async: a message write cut short by a peer that left does not keep the loop busy") {
  // The writer's socket fills inside a large message (a framed transport keeps the rest
  // of the frame to finish later); then the peer closes without reading. The write side
  // has failed: the loop must go back to sleeping, not wake up again and again for a
  // rest that can never be written, while the socket stays open and is not reading.
  TestLoop t;
  const LocalName name = fresh_name();
  AsyncSocket::Ptr writer;
  auto server =
      AsyncListener::listen(*t.async, localsock::test::message_listen(name), Mode::messages,
                            [&](std::error_code, AsyncSocket::Ptr s) { writer = s; });
  AsyncSocket::Ptr peer;
  AsyncSocket::connect(*t.async, localsock::test::message_connect(name), Mode::messages,
                       [&](std::error_code ec, AsyncSocket::Ptr s) {
                         REQUIRE_FALSE(ec);
                         peer = s;
                       });
  REQUIRE(t.run([&] { return writer && peer; }));
  const std::size_t size = std::min<std::size_t>(2 * 1024 * 1024, writer->max_message_size());
  writer->write(pattern(size, 3));  // no callback
  t.run([] { return false; }, 50ms);
  bool peer_closed = false;
  peer->close([&] { peer_closed = true; });
  REQUIRE(t.run([&] { return peer_closed; }));
  t.run([] { return false; }, 50ms);  // the failure is noticed meanwhile
  // Now count the loop's turns: its own tick wakes it every 10 ms, about 30 times here;
  // a loop woken by the socket over and over turns tens of thousands of times.
  uv_timer_start(
      &t.tick, [](uv_timer_t*) {}, 10, 10);
  int turns = 0;
  const auto end = std::chrono::steady_clock::now() + 300ms;
  while (std::chrono::steady_clock::now() < end) {
    uv_run(&t.loop, UV_RUN_ONCE);
    ++turns;
  }
  uv_timer_stop(&t.tick);
  CHECK(turns < 1000);
  // The write side has failed, and a later write says so.
  std::error_code late;
  bool told = false;
  writer->write(pattern(10, 4), [&](std::error_code ec) {
    late = ec;
    told = true;
  });
  CHECK(t.run([&] { return told; }, 5s));
  CHECK(late);
  writer->close();
  server->close();
  t.settle();
}

TEST_CASE("async: message mode takes exactly max_message_size bytes, not one more") {
  // 100: a message that fits one read; 3000: one put together from several reads.
  for (const std::size_t max : {std::size_t{100}, std::size_t{3000}}) {
    CAPTURE(max);
    TestLoop t;
    const LocalName name = fresh_name();
    std::vector<std::error_code> errors;
    std::vector<std::size_t> sizes;
    localsock::AsyncOptions limited;
    limited.max_message_size = max;
    AsyncSocket::Ptr accepted;
    auto server = AsyncListener::listen(
        *t.async, localsock::test::message_listen(name), Mode::messages,
        [&](std::error_code, AsyncSocket::Ptr s) {
          accepted = s;
          s->start_reading([&](const ReadEvent& e) {
            errors.push_back(e.error);
            sizes.push_back(e.data.size());
          });
        },
        limited);
    auto c = AsyncSocket::connect(*t.async, localsock::test::message_connect(name), Mode::messages,
                                  [&](std::error_code ec, AsyncSocket::Ptr s) {
                                    REQUIRE_FALSE(ec);
                                    s->write(pattern(max - 1, 1));
                                    s->write(pattern(max, 2));
                                    s->write(pattern(max + 1, 3));
                                    s->write(pattern(10, 4));
                                  });
    CHECK(t.run([&] { return errors.size() == 4; }, 10s));
    REQUIRE(errors.size() == 4);
    CHECK_FALSE(errors[0]);
    CHECK(sizes[0] == max - 1);
    CHECK_FALSE(errors[1]);
    CHECK(sizes[1] == max);
    CHECK(errors[2] == errc::message_too_large);
    CHECK(sizes[2] == 0);
    CHECK_FALSE(errors[3]);
    CHECK(sizes[3] == 10);
    c->close();
    accepted->close();
    server->close();
    t.settle();
  }
}

TEST_CASE("async: text is written from literals, std::string and string_view, one message each") {
  TestLoop t;
  const LocalName name = fresh_name();
  auto server = echo_server(t, name, Mode::messages);
  std::vector<std::string> got;
  bool failed = false;
  auto c = AsyncSocket::connect(*t.async, localsock::test::message_connect(name), Mode::messages,
                                [&](std::error_code ec, AsyncSocket::Ptr s) {
                                  if (ec) {
                                    failed = true;
                                    return;
                                  }
                                  s->start_reading([&](const ReadEvent& e) {
                                    if (e.end || e.error) return;
                                    got.emplace_back(reinterpret_cast<const char*>(e.data.data()),
                                                     e.data.size());
                                  });
                                  const std::string owned = "from a std::string";
                                  s->write("a literal");
                                  s->write(owned);
                                  s->write(std::string_view("a view"));
                                });
  CHECK(t.run([&] { return failed || got.size() == 3; }));
  CHECK_FALSE(failed);
  CHECK(got == std::vector<std::string>{"a literal", "from a std::string", "a view"});
  c->close();
  server->close();
  t.settle();
}

TEST_CASE("async: a peer that floods one connection does not starve another on the same loop") {
  // Each wake-up reads a bounded number of messages from one connection (64 on Unix),
  // so a connection with a backlog of messages lets the others in between.
  TestLoop t;
  const LocalName name = fresh_name();
  std::vector<AsyncSocket::Ptr> accepted;
  auto server = AsyncListener::listen(*t.async, ListenerOptions(name), Mode::messages,
                                      [&](std::error_code ec, AsyncSocket::Ptr s) {
                                        REQUIRE_FALSE(ec);
                                        accepted.push_back(s);
                                      });
  auto flooder = localsock::LocalMessageSocket::connect(name);
  REQUIRE(t.run([&] { return accepted.size() == 1; }));
  auto other = localsock::LocalMessageSocket::connect(name);
  REQUIRE(t.run([&] { return accepted.size() == 2; }));
  constexpr int flood = 200;
  int flood_got = 0;
  int flood_at_other = -1;
  accepted[0]->start_reading([&](const ReadEvent& e) { flood_got += !e.error && !e.end; });
  accepted[1]->start_reading([&](const ReadEvent& e) {
    if (!e.error && !e.end && flood_at_other < 0) flood_at_other = flood_got;
  });
  // The flood is queued first, the other connection's one message after it.
  for (int i = 0; i < flood; ++i) flooder.send(pattern(16, i));
  std::this_thread::sleep_for(20ms);
  other.send(pattern(16, 1));
  std::this_thread::sleep_for(20ms);
  REQUIRE(t.run([&] { return flood_at_other >= 0 && flood_got == flood; }));
  CHECK(flood_at_other < flood);
  for (auto& s : accepted) s->close();
  server->close();
  t.settle();
}

namespace {

// A message pair on `t` (this run's transport) with `settings` on both ends; the listener
// is closed once both ends exist.
struct MessagePair {
  AsyncSocket::Ptr server;
  AsyncSocket::Ptr client;
};

MessagePair message_pair(TestLoop& t, const localsock::AsyncOptions& settings) {
  const LocalName name = fresh_name();
  MessagePair p;
  auto listener = AsyncListener::listen(
      *t.async, localsock::test::message_listen(name), Mode::messages,
      [&p](std::error_code ec, AsyncSocket::Ptr s) {
        REQUIRE_FALSE(ec);
        p.server = s;
      },
      settings);
  AsyncSocket::connect(
      *t.async, localsock::test::message_connect(name), Mode::messages,
      [&p](std::error_code ec, AsyncSocket::Ptr s) {
        REQUIRE_FALSE(ec);
        p.client = s;
      },
      settings);
  REQUIRE(t.run([&] { return p.server && p.client; }, 10s));
  listener->close();
  t.settle();
  return p;
}

}  // namespace

TEST_CASE("async: a write refused while another write is in flight lets that write finish") {
  // Nobody reads, so a write stays queued: on Windows its WriteFile is in flight, with a
  // framed transport its frame is taken in part (the transport holds the rest; the
  // messages are larger than the socket's buffer for that). Then a message over the
  // limit, with no callback, is refused and fails the write side. The write in flight is
  // the system's: it must stay queued, report its real outcome when it completes, and
  // the queue, the count of queued bytes and close() must stay sound.
  TestLoop t;
  localsock::AsyncOptions settings;
  settings.max_message_size = 1024 * 1024;
  MessagePair p = message_pair(t, settings);
  const auto msg = pattern(std::min<std::size_t>(600 * 1024, p.server->max_message_size()), 3);
  int issued = 0, ok = 0, failed = 0;
  std::vector<std::error_code> failures;
  for (int i = 0; i < 400 && p.server->queued_bytes() == 0; ++i) {
    ++issued;
    p.server->write(std::span<const std::byte>(msg), [&](std::error_code ec) {
      if (ec) {
        ++failed;
        failures.push_back(ec);
      } else {
        ++ok;
      }
    });
    t.settle();
  }
  REQUIRE(p.server->queued_bytes() > 0);
  p.server->write(pattern(p.server->max_message_size() + 1, 4));  // no callback: refused
  t.settle();
  // The peer reads now: what was in flight arrives and its callback says so.
  int received = 0;
  std::vector<ReadEvent> other_events;
  bool ended = false;
  p.client->start_reading([&](const ReadEvent& e) {
    if (e.end)
      ended = true;
    else if (e.error)
      other_events.push_back(e);
    else if (e.data.size() == msg.size())
      ++received;
  });
  CHECK(t.run([&] { return ok + failed == issued && received == ok; }, 5s));
  t.run([] { return false; }, 50ms);  // nothing more comes
  CAPTURE(issued);
  CAPTURE(ok);
  CAPTURE(failed);
  CAPTURE(received);
  CHECK(ok + failed == issued);  // every callback ran, once
  CHECK(received == ok);         // what was reported written arrived, and only that
  for (const auto& ec : failures) CHECK(ec == errc::message_too_large);
  CHECK(p.server->queued_bytes() == 0);
  CHECK(localsock::describe_open_handles(&t.loop).find("queued") == std::string::npos);
  // The server closes: it finishes, and the peer reads a clean end (no frame cut short).
  bool closed = false;
  p.server->close([&] { closed = true; });
  CHECK(t.run([&] { return closed && ended; }, 5s));
  CHECK(other_events.empty());
  p.client->close();
  t.settle();
}

TEST_CASE(
    "async: a shared buffer in flight when a write is refused stays referenced until written") {
  // As above, with a shared buffer: a queue that let go of it while the system still
  // writes it would leave the system reading freed memory once the application drops
  // its own pointer.
  TestLoop t;
  localsock::AsyncOptions settings;
  settings.max_message_size = 1024 * 1024;
  MessagePair p = message_pair(t, settings);
  auto buffer = std::make_shared<const std::vector<std::byte>>(
      pattern(std::min<std::size_t>(600 * 1024, p.server->max_message_size()), 6));
  int ok = 0;
  for (int i = 0; i < 400 && p.server->queued_bytes() == 0; ++i) {
    p.server->write(buffer, [&](std::error_code ec) { ok += !ec; });
    t.settle();
  }
  REQUIRE(p.server->queued_bytes() > 0);
  REQUIRE(buffer.use_count() > 1);
  const int ok_before = ok;
  p.server->write(pattern(p.server->max_message_size() + 1, 1));  // no callback: refused
  t.settle();
  const long refs_after_refusal = buffer.use_count();
  int received = 0;
  p.client->start_reading([&](const ReadEvent& e) {
    if (!e.end && !e.error) ++received;
  });
  t.run([&] { return received > ok_before && received == ok; }, 2s);
  t.run([] { return false; }, 50ms);
  CAPTURE(ok_before);
  CAPTURE(refs_after_refusal);
  CHECK(received == ok);
  // A message that arrived after the refusal was in flight then: its buffer must still
  // have been referenced by the queue.
  if (received > ok_before) CHECK(refs_after_refusal > 1);
  CHECK(buffer.use_count() == 1);  // written: let go of now
  bool closed = false;
  p.server->close([&] { closed = true; });
  CHECK(t.run([&] { return closed; }, 5s));
  p.client->close();
  t.settle();
}

TEST_CASE("async: empty messages written into a full socket arrive, in order with the others") {
  // write(span) without a callback, with nothing queued, sends the message at once where
  // the system allows it (Unix). Into a full socket that send would block, and the message
  // must be queued: an empty message as much as any other (its span being empty does not
  // make it sent). The reader waits while the writer fills its socket with groups of empty
  // messages and a small one; then everything written must arrive, in order.
  TestLoop t;
  const LocalName name = fresh_name();
  AsyncSocket::Ptr reader;
  auto server =
      AsyncListener::listen(*t.async, localsock::test::message_listen(name), Mode::messages,
                            [&](std::error_code, AsyncSocket::Ptr s) { reader = s; });
  AsyncSocket::Ptr writer;
  auto c = AsyncSocket::connect(*t.async, localsock::test::message_connect(name), Mode::messages,
                                [&](std::error_code ec, AsyncSocket::Ptr s) {
                                  REQUIRE_FALSE(ec);
                                  writer = s;
                                });
  REQUIRE(t.run([&] { return reader && writer; }));
  std::vector<std::vector<std::byte>> sent, got;
  auto send = [&](std::vector<std::byte> m) {
    writer->write(std::span<const std::byte>(m));
    sent.push_back(std::move(m));
  };
  // Writes groups of eight empty messages and a small one until a write stays queued once
  // the loop has had its turn: the socket is full. (Windows queues every write; the loop
  // writes it out while the pipe has room.) The message at `empty_at` (an index in this
  // fill) is empty whatever its place. Returns the index of the last message written.
  auto fill = [&](std::size_t empty_at) {
    const std::size_t start = sent.size();
    int groups = 0;
    do {
      for (std::size_t k = 0; k < 9; ++k) {
        const std::size_t i = sent.size() - start;
        if (k == 8 && i != empty_at)
          send(pattern(1 + i % 100, unsigned(sent.size())));
        else
          send({});
      }
      t.run([&] { return writer->queued_bytes() == 0; }, 20ms);
    } while (writer->queued_bytes() == 0 && ++groups < 100000);
    return sent.size() - start - 1;
  };
  int failures = 0;
  bool reading = false;
  // The system's accounting is the same for the same writes into an empty socket: the
  // second fill writes an empty message where the first one found the socket full (a
  // small message, when the first fill did not end on an empty one itself).
  std::size_t full_at = std::size_t(-1);
  // A failed round ends the loop (not REQUIRE): the sockets must still be closed below.
  for (unsigned round = 0; round < 2; ++round) {
    CAPTURE(round);
    full_at = fill(full_at);
    CHECK(writer->queued_bytes() > 0);
    for (int k = 0; k < 4; ++k) {  // more behind the queue
      send({});
      send(pattern(3, unsigned(sent.size())));
    }
    const auto last = pattern(7, 1000000 + round);  // the round's end: unique, never lost
    send(last);
    if (reading) {
      reader->resume_reading();
    } else {
      reading = true;
      reader->start_reading([&](const ReadEvent& e) {
        if (e.error || e.end) {
          ++failures;
          return;
        }
        got.emplace_back(e.data.begin(), e.data.end());
      });
    }
    const bool ended = t.run([&] { return !got.empty() && got.back() == last; }, 10s);
    CHECK(ended);
    reader->stop_reading();
    CHECK(writer->queued_bytes() == 0);
    std::size_t empties_sent = 0, empties_got = 0;
    for (const auto& m : sent) empties_sent += m.empty();
    for (const auto& m : got) empties_got += m.empty();
    CAPTURE(full_at);
    CAPTURE(empties_sent);
    CAPTURE(empties_got);
    CHECK(got.size() == sent.size());
    std::size_t first_difference = 0;
    while (first_difference < std::min(got.size(), sent.size()) &&
           got[first_difference] == sent[first_difference])
      ++first_difference;
    CHECK(first_difference == sent.size());
    if (!ended || first_difference != sent.size()) break;
  }
  CHECK(failures == 0);
  c->close();
  reader->close();
  server->close();
  t.settle();
}
