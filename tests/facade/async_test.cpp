// SPDX-License-Identifier: MIT
// The async API on a libuv loop: the same cases natively and under Wine.
#include <localsock/async.hpp>
#include <localsock/localsock.hpp>
#include <localsock/testing.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include <uv.h>

#include "child_main.hpp"
#include "doctest_ext.hpp"
#include "test_loop.hpp"
#include "pattern.hpp"
#include "process.hpp"
#include "unique_name.hpp"

using namespace std::chrono_literals;
using localsock::AsyncListener;
using localsock::AsyncLoop;
using localsock::AsyncSocket;
using localsock::ConnectOptions;
using localsock::errc;
using localsock::ListenerOptions;
using localsock::LocalName;
using localsock::Mode;
using localsock::ReadEvent;
using localsock::test::pattern;

namespace {

LocalName fresh_name() { return LocalName::namespaced(localsock::test::unique_name("las")); }

using localsock::test::TestLoop;

// An echo server: every socket echoes what it reads until the end.
AsyncListener::Ptr echo_server(TestLoop& t, const LocalName& name, Mode mode) {
  return AsyncListener::listen(*t.async, ListenerOptions(name), mode,
                               [](std::error_code ec, AsyncSocket::Ptr s) {
                                 REQUIRE_FALSE(ec);
                                 AsyncSocket* raw = s.get();
                                 s->start_reading([raw](const ReadEvent& e) {
                                   if (e.end || e.error) {
                                     raw->close();
                                     return;
                                   }
                                   raw->write(e.data);
                                 });
                               });
}

}  // namespace

TEST_CASE("async: 100 clients echo on one loop") {
  TestLoop t;
  const LocalName name = fresh_name();
  auto server = echo_server(t, name, Mode::bytes);
  constexpr int clients = 100;
  int done = 0, good = 0;
  std::vector<AsyncSocket::Ptr> sockets;
  for (int i = 0; i < clients; ++i) {
    auto want = std::make_shared<std::vector<std::byte>>(pattern(1000 + i, unsigned(i)));
    auto got = std::make_shared<std::vector<std::byte>>();
    auto s = AsyncSocket::connect(*t.async, ConnectOptions(name).timeout(30s), Mode::bytes,
                                  [&, want, got](std::error_code ec, AsyncSocket::Ptr c) {
                                    if (ec) {
                                      ++done;
                                      return;
                                    }
                                    c->write(*want);
                                    AsyncSocket* raw = c.get();
                                    c->start_reading([&, want, got, raw](const ReadEvent& e) {
                                      got->insert(got->end(), e.data.begin(), e.data.end());
                                      if (got->size() >= want->size() || e.end || e.error) {
                                        good += *got == *want;
                                        ++done;
                                        raw->close();
                                      }
                                    });
                                  });
    sockets.push_back(s);
  }
  CHECK(t.run([&] { return done == clients; }));
  CHECK(good == clients);
  server->close();
  t.settle();
}

TEST_CASE("async: message mode delivers 0 B, 1 B, 64 KiB and 4 MiB messages whole") {
  TestLoop t;
  const LocalName name = fresh_name();
  auto server = echo_server(t, name, Mode::messages);
  const std::vector<std::size_t> sizes{0, 1, 64 * 1024, 4 * 1024 * 1024};
  std::vector<std::vector<std::byte>> got;
  bool finished = false;
  auto c = AsyncSocket::connect(*t.async, ConnectOptions(name), Mode::messages,
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
  // framed transport (Unix systems without seqpacket, or -Dmessage_framing=true) writes
  // frames in parts and must finish each, never start one again.
  TestLoop t;
  const LocalName name = fresh_name();
  AsyncSocket::Ptr reader;
  auto server = AsyncListener::listen(*t.async, ListenerOptions(name), Mode::messages,
                                      [&](std::error_code, AsyncSocket::Ptr s) { reader = s; });
  // Even-numbered writes have no callback (written at once where the socket takes them),
  // the last one too: nothing else comes after it to push its rest out.
  const std::vector<std::size_t> sizes{1024 * 1024, 10, 700 * 1024, 0, 1024 * 1024 + 1};
  int callbacks = 0;
  auto c = AsyncSocket::connect(*t.async, ConnectOptions(name), Mode::messages,
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

TEST_CASE("async: a write without a callback that fails is not dropped silently") {
  // A message the system refuses to send (Linux seqpacket: above the send buffer limit
  // or the kernel's ~4 MiB, message_too_large or out_of_resources). Learnt first with a
  // callback: where such a message goes through (Windows up to 2 GiB, framed streams),
  // there is no failure to surface.
  TestLoop t;
  const LocalName name = fresh_name();
  AsyncSocket::Ptr server_side;
  std::size_t server_got = 0;
  auto server = AsyncListener::listen(*t.async, ListenerOptions(name), Mode::messages,
                                      [&](std::error_code, AsyncSocket::Ptr s) {
                                        server_side = s;
                                        s->start_reading([&](const ReadEvent& e) { server_got += !e.error && !e.end; });
                                      });
  AsyncSocket::Ptr c;
  AsyncSocket::connect(*t.async, ConnectOptions(name), Mode::messages,
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

TEST_CASE("async: a message of the default maximum size is sent; a larger one is message_too_large") {
  // The default limit must be one the system can send (Linux seqpacket refuses single
  // messages above about 4 MiB, and less where the send buffer cannot grow), and a write
  // above the connection's limit is refused as such, never out_of_resources, never false.
  TestLoop t;
  const LocalName name = fresh_name();
  std::vector<std::vector<std::byte>> got;
  AsyncSocket::Ptr server_side;
  auto server = AsyncListener::listen(*t.async, ListenerOptions(name), Mode::messages,
                                      [&](std::error_code, AsyncSocket::Ptr s) {
                                        server_side = s;
                                        s->start_reading([&](const ReadEvent& e) {
                                          CHECK_FALSE(e.error);
                                          got.emplace_back(e.data.begin(), e.data.end());
                                        });
                                      });
  AsyncSocket::Ptr c;
  AsyncSocket::connect(*t.async, ConnectOptions(name), Mode::messages,
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

TEST_CASE("async: an over-size write without a callback made while connecting is not dropped silently") {
  TestLoop t;
  const LocalName name = fresh_name();
  AsyncSocket::Ptr server_side;
  auto server = AsyncListener::listen(*t.async, ListenerOptions(name), Mode::messages,
                                      [&](std::error_code, AsyncSocket::Ptr s) { server_side = s; });
  bool connected = false;
  auto c = AsyncSocket::connect(*t.async, ConnectOptions(name), Mode::messages,
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

TEST_CASE("async: message mode keeps no large receive buffer after a large message") {
  // A server whose clients each sent one large message must not hold that much memory
  // per connection: what is kept between reads is capped (256 KiB, plus a read chunk).
  TestLoop t;
  const LocalName name = fresh_name();
  AsyncSocket::Ptr server_side;
  std::vector<std::size_t> sizes;
  auto server = AsyncListener::listen(*t.async, ListenerOptions(name), Mode::messages,
                                      [&](std::error_code, AsyncSocket::Ptr s) {
                                        server_side = s;
                                        s->start_reading([&](const ReadEvent& e) {
                                          CHECK_FALSE(e.error);
                                          sizes.push_back(e.data.size());
                                        });
                                      });
  AsyncSocket::Ptr c;
  AsyncSocket::connect(*t.async, ConnectOptions(name), Mode::messages,
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

TEST_CASE("async: an over-size message is an error on that message, not a cut") {
  TestLoop t;
  const LocalName name = fresh_name();
  std::vector<ReadEvent> events;
  std::vector<std::vector<std::byte>> data;
  localsock::AsyncOptions small;
  small.max_message_size = 1000;
  AsyncSocket::Ptr accepted;
  auto server = AsyncListener::listen(
      *t.async, ListenerOptions(name), Mode::messages,
      [&](std::error_code, AsyncSocket::Ptr s) {
        accepted = s;
        s->start_reading([&](const ReadEvent& e) {
          events.push_back(e);
          data.emplace_back(e.data.begin(), e.data.end());
        });
      },
      small);
  auto c = AsyncSocket::connect(*t.async, ConnectOptions(name), Mode::messages,
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

TEST_CASE("async: backpressure — a peer that stops reading bounds the queue; drain fires") {
  TestLoop t;
  const LocalName name = fresh_name();
  AsyncSocket::Ptr reader;
  auto server = AsyncListener::listen(*t.async, ListenerOptions(name).buffer_size(64 * 1024),
                                      Mode::bytes,
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
  auto server = AsyncListener::listen(*t.async, ListenerOptions(name).buffer_size(16 * 1024),
                                      Mode::bytes, [&](std::error_code, AsyncSocket::Ptr s) { peer = s; });
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

TEST_CASE("async: connect — nobody listening, a busy listener's timeout, and close while connecting") {
  TestLoop t;
  std::error_code result;
  bool done = false;
  AsyncSocket::connect(*t.async, ConnectOptions(fresh_name()), Mode::bytes,
                       [&](std::error_code ec, AsyncSocket::Ptr s) {
                         result = ec;
                         done = true;
                         CHECK(s == nullptr);
                       });
  CHECK(t.run([&] { return done; }));
  CHECK(result == errc::no_listener);

  // A busy listener: nobody accepts, and the backlog (Unix) or the one instance
  // (Windows) is taken by blocking clients.
  const LocalName name = fresh_name();
  auto listener = localsock::LocalListener::bind(ListenerOptions(name).backlog(1).instance_limit(1));
  std::vector<localsock::LocalSocket> held;
  std::error_code ec;
  while (!ec && held.size() < 64) {
    auto s = localsock::LocalSocket::connect(ConnectOptions(name).timeout(100ms), ec);
    if (!ec) held.push_back(std::move(s));
  }
  REQUIRE(ec == errc::timed_out);
  done = false;
  const auto start = std::chrono::steady_clock::now();
  bool ticked = false;  // the loop keeps running while the connect waits
  uv_timer_t timer;
  uv_timer_init(&t.loop, &timer);
  timer.data = &ticked;
  uv_timer_start(&timer, [](uv_timer_t* h) { *static_cast<bool*>(h->data) = true; }, 50, 0);
  AsyncSocket::connect(*t.async, ConnectOptions(name).timeout(300ms), Mode::bytes,
                       [&](std::error_code e, AsyncSocket::Ptr) {
                         result = e;
                         done = true;
                       });
  CHECK(t.run([&] { return done; }));
  CHECK(result == errc::timed_out);
  CHECK(std::chrono::steady_clock::now() - start >= 250ms);
  CHECK(ticked);

  // Close while the connect waits: the callback reports the cancellation.
  done = false;
  auto pending = AsyncSocket::connect(*t.async, ConnectOptions(name).timeout(300ms), Mode::bytes,
                                      [&](std::error_code e, AsyncSocket::Ptr) {
                                        result = e;
                                        done = true;
                                      });
  bool closed = false;
  pending->close([&] { closed = true; });
  CHECK(t.run([&] { return done && closed; }));
  CHECK(result == std::errc::operation_canceled);
  uv_close(reinterpret_cast<uv_handle_t*>(&timer), nullptr);
  t.settle();
}

TEST_CASE("async: the loop is never blocked — a timer keeps time during a 64 MiB transfer") {
  TestLoop t;
  const LocalName name = fresh_name();
  constexpr std::size_t total = 64 * 1024 * 1024;
  std::size_t received = 0;
  AsyncSocket::Ptr accepted;
  auto server = AsyncListener::listen(*t.async, ListenerOptions(name), Mode::bytes,
                                      [&](std::error_code, AsyncSocket::Ptr s) {
                                        accepted = s;
                                        s->start_reading([&](const ReadEvent& e) { received += e.data.size(); });
                                      });
  // The data is made before the loop runs, so that its allocation is not timed.
  std::vector<std::vector<std::byte>> chunks;
  for (std::size_t i = 0; i < total / (1 << 20); ++i) chunks.push_back(pattern(1 << 20, unsigned(i)));
  auto c = AsyncSocket::connect(*t.async, ConnectOptions(name), Mode::bytes,
                                [&](std::error_code ec, AsyncSocket::Ptr s) {
                                  REQUIRE_FALSE(ec);
                                  for (auto& chunk : chunks) s->write(std::move(chunk));
                                });
  const auto transfer_start = std::chrono::steady_clock::now();
  struct Jitter {
    std::chrono::steady_clock::time_point last;
    std::chrono::steady_clock::duration worst{};
    int ticks = 0;
  } jitter;
  uv_timer_t timer;
  uv_timer_init(&t.loop, &timer);
  timer.data = &jitter;
  uv_timer_start(&timer, [](uv_timer_t* h) {
    auto& j = *static_cast<Jitter*>(h->data);
    const auto now = std::chrono::steady_clock::now();
    if (j.ticks > 0) j.worst = std::max(j.worst, now - j.last);
    j.last = now;
    ++j.ticks;
  }, 5, 5);
  CHECK(t.run([&] { return received == total; }, 120s));
  uv_timer_stop(&timer);
  uv_close(reinterpret_cast<uv_handle_t*>(&timer), nullptr);
  const auto worst_ms = std::chrono::duration_cast<std::chrono::milliseconds>(jitter.worst).count();
  const auto took = std::chrono::steady_clock::now() - transfer_start;
  MESSAGE("64 MiB in " << took / 1ms << " ms; 5 ms timer: " << jitter.ticks << " ticks, worst interval "
                       << worst_ms << " ms");
  CHECK(jitter.ticks > 0);
  // A 5 ms timer here ticks at 5 ms; the bound leaves room for a shared 2-vCPU machine
  // and Wine, while a loop blocked by the transfer would show the whole transfer time.
  CHECK(worst_ms < 250);
  c->close();
  accepted->close();
  server->close();
  t.settle();
}

TEST_CASE("async: post() hands work to the loop from other threads") {
  TestLoop t;
  std::atomic<int> posted{0};
  int ran = 0;
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&] {
      for (int k = 0; k < 100; ++k) {
        t.async->post([&] { ++ran; });
        ++posted;
      }
    });
  }
  for (auto& th : threads) th.join();
  CHECK(t.run([&] { return ran == 400; }, 10s));
}

namespace {
// The child side of the killed-peer test: connect, send part of a stream, then wait to
// be killed.
const localsock::test::RegisterChild half_sender("async-half-sender", [](const auto& args) {
  auto s = localsock::LocalSocket::connect(ConnectOptions(LocalName::namespaced(args.at(0))).timeout(20s));
  s.write_all(pattern(100 * 1024, 9));
  std::this_thread::sleep_for(60s);
  return 0;
});
}  // namespace

TEST_CASE("async: a peer process killed mid-transfer ends the connection cleanly") {
  TestLoop t;
  const LocalName name = fresh_name();
  std::size_t received = 0;
  bool ended = false;
  auto server = AsyncListener::listen(*t.async, ListenerOptions(name), Mode::bytes,
                                      [&](std::error_code, AsyncSocket::Ptr s) {
                                        AsyncSocket* raw = s.get();
                                        s->start_reading([&, raw](const ReadEvent& e) {
                                          received += e.data.size();
                                          if (e.end || e.error) {
                                            ended = true;
                                            raw->close();
                                          }
                                        });
                                      });
  auto child = localsock::test::Child::spawn(localsock::test::self_path(),
                                             {"--child", "async-half-sender", name.str()});
  REQUIRE(t.run([&] { return received == 100 * 1024; }));
  child.kill();
  CHECK(t.run([&] { return ended; }));
  server->close();
  t.settle();
}

namespace {
// The peer sends its last bytes and closes while much of what we wrote is still unread
// on its side (Linux: ECONNRESET on our socket, an error event for the poll). With
// `read_later`, reading is stopped when the peer closes and started again afterwards.
void peer_closes_with_data_unread(bool read_later) {
  TestLoop t;
  const LocalName name = fresh_name();
  AsyncSocket::Ptr server_side;
  auto server = AsyncListener::listen(*t.async, ListenerOptions(name), Mode::bytes,
                                      [&](std::error_code, AsyncSocket::Ptr s) { server_side = s; });
  auto client = localsock::LocalSocket::connect(ConnectOptions(name).timeout(10s));
  REQUIRE(t.run([&] { return server_side != nullptr; }));
  std::vector<std::byte> got;
  std::vector<ReadEvent> ends;  // end and error events
  int events_while_stopped = 0;
  bool stopped = false;
  auto on_read = [&](const ReadEvent& e) {
    if (stopped) ++events_while_stopped;
    got.insert(got.end(), e.data.begin(), e.data.end());
    if (e.end || e.error) ends.push_back(e);
  };
  server_side->start_reading(on_read);
  bool write_done = false;
  std::error_code write_result;
  server_side->write(pattern(16 * 1024 * 1024, 5), [&](std::error_code ec) {
    write_result = ec;
    write_done = true;
  });
  // A shutdown waits for the queue: it cannot happen now, and must say so.
  bool shut = false;
  std::error_code shutdown_result;
  server_side->shutdown([&](std::error_code ec) {
    shutdown_result = ec;
    shut = true;
  });
  // Far more than the buffers take: most of it stays queued.
  t.run([] { return false; }, 100ms);
  REQUIRE_FALSE(write_done);
  if (read_later) {
    server_side->stop_reading();
    stopped = true;
  }
  const auto last = pattern(1000, 6);
  client.write_all(last);
  client.close();
  // The queued write fails with the real error, whether reading is on or not.
  CHECK(t.run([&] { return write_done; }, 5s));
  CHECK(write_result);
  CHECK(write_result != std::errc::operation_canceled);
  CHECK(write_result != std::errc::bad_file_descriptor);
  CHECK(t.run([&] { return shut; }, 5s));
  CHECK(shutdown_result);
  CHECK(shutdown_result != std::errc::operation_canceled);
  if (read_later) {
    t.run([] { return false; }, 50ms);
    CHECK(events_while_stopped == 0);  // nothing reaches a callback that stopped reading
    stopped = false;
    server_side->start_reading(on_read);
  }
  // What the peer sent before it closed arrives, then the end.
  CHECK(t.run([&] { return !ends.empty(); }, 5s));
  CHECK(got == last);
  REQUIRE(ends.size() == 1);
  CHECK((ends[0].end || ends[0].error == errc::peer_closed));
  CHECK(ends[0].error != std::errc::bad_file_descriptor);
  server_side->close();
  server->close();
  t.settle();
}
}  // namespace

TEST_CASE("async: a peer that closes with our data unread — its last bytes arrive, our writes fail") {
  peer_closes_with_data_unread(false);
}

TEST_CASE("async: a peer that closes with our data unread while we do not read — nothing is delivered until we read") {
  peer_closes_with_data_unread(true);
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

TEST_CASE("async: a message write cut short by a peer that left does not keep the loop busy") {
  // The writer's socket fills inside a large message (a framed transport keeps the rest
  // of the frame to finish later); then the peer closes without reading. The write side
  // has failed: the loop must go back to sleeping, not wake up again and again for a
  // rest that can never be written, while the socket stays open and is not reading.
  TestLoop t;
  const LocalName name = fresh_name();
  AsyncSocket::Ptr writer;
  auto server = AsyncListener::listen(*t.async, ListenerOptions(name), Mode::messages,
                                      [&](std::error_code, AsyncSocket::Ptr s) { writer = s; });
  AsyncSocket::Ptr peer;
  AsyncSocket::connect(*t.async, ConnectOptions(name), Mode::messages,
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
  uv_timer_start(&t.tick, [](uv_timer_t*) {}, 10, 10);
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

TEST_CASE("async: a write after shutdown() says the socket was shut down, and is not backpressure") {
  TestLoop t;
  const LocalName name = fresh_name();
  AsyncSocket::Ptr accepted;
  auto server = AsyncListener::listen(*t.async, ListenerOptions(name), Mode::bytes,
                                      [&](std::error_code, AsyncSocket::Ptr s) { accepted = s; });
  AsyncSocket::Ptr c;
  AsyncSocket::connect(*t.async, ConnectOptions(name), Mode::bytes, [&](std::error_code ec, AsyncSocket::Ptr s) {
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

TEST_CASE("async: nothing leaks — descriptors and handles after loops, successes and failures") {
  // One cycle: a loop of its own (on Windows, a completion port and its thread), an
  // echo in each mode, a connect to nobody, a connect closed while it waits, a write
  // cancelled by close, and the loop torn down.
  auto cycle = [] {
    TestLoop t;
    for (Mode mode : {Mode::bytes, Mode::messages}) {
      const LocalName name = fresh_name();
      auto server = echo_server(t, name, mode);
      bool echoed = false;
      AsyncSocket::connect(*t.async, ConnectOptions(name), mode,
                           [&](std::error_code ec, AsyncSocket::Ptr c) {
                             REQUIRE_FALSE(ec);
                             c->write(pattern(100, 1));
                             AsyncSocket* raw = c.get();
                             c->start_reading([&, raw](const ReadEvent& e) {
                               echoed = !e.error && e.data.size() == 100;
                               raw->close();
                             });
                           });
      CHECK(t.run([&] { return echoed; }));

      bool refused = false;
      AsyncSocket::connect(*t.async, ConnectOptions(fresh_name()), mode,
                           [&](std::error_code ec, AsyncSocket::Ptr) { refused = bool(ec); });
      CHECK(t.run([&] { return refused; }));

      bool cancelled = false, write_failed = false;
      auto c = AsyncSocket::connect(*t.async, ConnectOptions(name), mode,
                                    [&](std::error_code ec, AsyncSocket::Ptr) { cancelled = bool(ec); });
      c->write(pattern(8 * 1024 * 1024, 2), [&](std::error_code ec) { write_failed = bool(ec); });
      c->close();
      CHECK(t.run([&] { return cancelled && write_failed; }));
      server->close();
      t.settle();
    }
  };
  cycle();  // warm-up: libuv's thread pool and anything else made once per process
  const std::size_t before = localsock::test::open_handles();
  for (int i = 0; i < 10; ++i) cycle();
  const std::size_t after = localsock::test::open_handles();
  CAPTURE(before);
  CAPTURE(after);
  CHECK(after <= before);
}

TEST_CASE("async: both ends learn who the other is") {
  TestLoop t;
  const LocalName name = fresh_name();
  AsyncSocket::Ptr server_side;
  auto server = AsyncListener::listen(*t.async, ListenerOptions(name), Mode::bytes,
                                      [&](std::error_code ec, AsyncSocket::Ptr s) {
                                        REQUIRE_FALSE(ec);
                                        server_side = s;
                                      });
  AsyncSocket::Ptr client_side;
  AsyncSocket::connect(*t.async, ConnectOptions(name), Mode::bytes,
                       [&](std::error_code ec, AsyncSocket::Ptr c) {
                         REQUIRE_FALSE(ec);
                         client_side = c;
                       });
  REQUIRE(t.run([&] { return server_side && client_side; }));
  std::error_code ec;
  const auto server_sees = server_side->peer_info(ec);
  REQUIRE_FALSE(ec);
  const auto client_sees = client_side->peer_info(ec);
  REQUIRE_FALSE(ec);
  // Both ends are this process.
  const auto me = static_cast<std::int64_t>(localsock::test::current_pid());
  // getpeereid gives no pid (BSD, the generic Unix flavor); macOS adds LOCAL_PEERPID.
  if (localsock::capabilities().peer_pid) {
    CHECK(server_sees.pid == me);
    CHECK(client_sees.pid == me);
  }
  CHECK(server_sees.uid == client_sees.uid);
  server_side->close();
  client_side->close();
  server->close();
  t.settle();
}

TEST_CASE("async: the data a read callback receives stays unchanged while it writes or reads again") {
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
    auto server = AsyncListener::listen(*t.async, ListenerOptions(name), Mode::messages,
                                        [&](std::error_code ec, AsyncSocket::Ptr s) {
                                          REQUIRE_FALSE(ec);
                                          accepted = s;
                                        });
    auto client = localsock::LocalMessageSocket::connect(ConnectOptions(name));
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

TEST_CASE("async: a failed connect runs every pending callback once and lets go of the socket") {
  TestLoop t;
  std::weak_ptr<AsyncSocket> weak;
  int connect_calls = 0, shutdown_calls = 0, write_calls = 0;
  std::error_code connect_result, shutdown_result, write_result;
  {
    auto s = AsyncSocket::connect(*t.async, ConnectOptions(fresh_name()), Mode::bytes,
                                  [&](std::error_code ec, AsyncSocket::Ptr) {
                                    ++connect_calls;
                                    connect_result = ec;
                                  });
    weak = s;
    // Callbacks that hold the socket, as an application's lambdas often do.
    s->start_reading([s](const ReadEvent&) {});
    s->on_drain([s] {});
    s->write(pattern(10, 1), [&, s](std::error_code ec) {
      ++write_calls;
      write_result = ec;
    });
    s->shutdown([&, s](std::error_code ec) {
      ++shutdown_calls;
      shutdown_result = ec;
    });
  }
  CHECK(t.run([&] { return connect_calls == 1 && weak.expired(); }, 10s));
  t.settle();
  CHECK(connect_calls == 1);
  CHECK(connect_result == errc::no_listener);
  CHECK(write_calls == 1);
  CHECK(write_result == errc::no_listener);
  CHECK(shutdown_calls == 1);
  CHECK(shutdown_result == errc::no_listener);
  CHECK(weak.expired());
}

TEST_CASE("async: close() cancels connects waiting for a full listener at once, even without a timeout") {
  TestLoop t;
  // A busy listener: nobody accepts, and the backlog (Unix) or the one instance
  // (Windows) is taken by blocking clients.
  const LocalName name = fresh_name();
  auto listener = localsock::LocalListener::bind(ListenerOptions(name).backlog(1).instance_limit(1));
  std::vector<localsock::LocalSocket> held;
  std::error_code ec;
  while (!ec && held.size() < 64) {
    auto s = localsock::LocalSocket::connect(ConnectOptions(name).timeout(100ms), ec);
    if (!ec) held.push_back(std::move(s));
  }
  REQUIRE(ec == errc::timed_out);
  // More connects than libuv's thread pool has threads, so that some wait in its queue
  // and some inside a connect; half of them would wait forever.
  for (const auto timeout : {localsock::Timeout(2s), localsock::infinite}) {
    CAPTURE(timeout.count());
    constexpr int n = 16;
    int cancelled = 0, closed = 0;
    std::vector<AsyncSocket::Ptr> pending;
    for (int i = 0; i < n; ++i)
      pending.push_back(AsyncSocket::connect(*t.async, ConnectOptions(name).timeout(timeout), Mode::bytes,
                                             [&](std::error_code e, AsyncSocket::Ptr) {
                                               cancelled += e == std::errc::operation_canceled;
                                             }));
    // Let the pool's threads start their connects.
    t.run([] { return false; }, 100ms);
    const auto start = std::chrono::steady_clock::now();
    for (auto& p : pending) p->close([&] { ++closed; });
    CHECK(t.run([&] { return closed == n; }, 5s));
    const auto took = std::chrono::steady_clock::now() - start;
    MESSAGE(n << " connects closed in " << took / 1ms << " ms");
    CHECK(took < 1s);
    CHECK(cancelled == n);
  }
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
        *t.async, ListenerOptions(name), Mode::messages,
        [&](std::error_code, AsyncSocket::Ptr s) {
          accepted = s;
          s->start_reading([&](const ReadEvent& e) {
            errors.push_back(e.error);
            sizes.push_back(e.data.size());
          });
        },
        limited);
    auto c = AsyncSocket::connect(*t.async, ConnectOptions(name), Mode::messages,
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
    AsyncSocket::connect(*t.async, ConnectOptions(name), Mode::bytes, [&](std::error_code ec, AsyncSocket::Ptr s) {
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

TEST_CASE("async: text is written from literals, std::string and string_view, one message each") {
  TestLoop t;
  const LocalName name = fresh_name();
  auto server = echo_server(t, name, Mode::messages);
  std::vector<std::string> got;
  bool failed = false;
  auto c = AsyncSocket::connect(*t.async, ConnectOptions(name), Mode::messages,
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
