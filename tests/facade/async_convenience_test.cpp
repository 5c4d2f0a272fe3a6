// SPDX-License-Identifier: MIT
// Conveniences of the async API: text reads, resume_reading(), shared-buffer writes for
// broadcasting.
#include "async_support.hpp"

#include <string_view>

namespace {

// A connected pair on `t`; the listener is closed once both ends exist.
struct Pair {
  AsyncSocket::Ptr server;
  AsyncSocket::Ptr client;
  void close() {
    if (server) server->close();
    if (client) client->close();
  }
};

Pair connect_pair(TestLoop& t, Mode mode) {
  const LocalName name = fresh_name();
  Pair p;
  auto listener = AsyncListener::listen(*t.async, ListenerOptions(name), mode,
                                        [&p](std::error_code ec, AsyncSocket::Ptr s) {
                                          REQUIRE_FALSE(ec);
                                          p.server = s;
                                        });
  AsyncSocket::connect(*t.async, ConnectOptions(name), mode,
                       [&p](std::error_code ec, AsyncSocket::Ptr s) {
                         REQUIRE_FALSE(ec);
                         p.client = s;
                       });
  REQUIRE(t.run([&] { return p.server && p.client; }, 10s));
  listener->close();
  return p;
}

}  // namespace

TEST_CASE("async: a read event hands its data over as text, as a view or a std::string") {
  for (const Mode mode : {Mode::bytes, Mode::messages}) {
    CAPTURE(mode == Mode::bytes ? "bytes" : "messages");
    TestLoop t;
    Pair p = connect_pair(t, mode);
    std::string collected;    // append_to: a stream's text across reads
    std::string whole;        // str(): a copy
    std::string_view viewed;  // text(): the view, compared inside the callback
    bool view_matched = true;
    p.server->start_reading([&](const ReadEvent& e) {
      if (e.end || e.error) return;
      viewed = e.text();
      view_matched = view_matched &&
                     viewed.data() == reinterpret_cast<const char*>(e.data.data()) &&
                     viewed.size() == e.data.size();
      whole = e.str();
      e.append_to(collected);
    });
    p.client->write(std::string_view("hello, "));
    p.client->write(std::string("world"));
    REQUIRE(t.run([&] { return collected == "hello, world"; }, 10s));
    CHECK(view_matched);  // the view is the event's own bytes: no copy
    if (mode == Mode::messages) CHECK(whole == "world");  // the last message, whole
    p.close();
    t.settle();
  }
}

TEST_CASE("async: resume_reading() restarts reading with the callback given before") {
  for (const Mode mode : {Mode::bytes, Mode::messages}) {
    CAPTURE(mode == Mode::bytes ? "bytes" : "messages");
    TestLoop t;
    Pair p = connect_pair(t, mode);
    std::string got;
    p.server->start_reading([&](const ReadEvent& e) { e.append_to(got); });
    p.client->write("one");
    REQUIRE(t.run([&] { return got == "one"; }, 10s));
    p.server->stop_reading();
    p.client->write("two");
    t.run([] { return false; }, 100ms);
    CHECK(got == "one");  // paused: nothing delivered
    std::error_code ec;
    p.server->resume_reading(ec);
    CHECK_FALSE(ec);
    REQUIRE(t.run([&] { return got == "onetwo"; }, 10s));
    // Twice is harmless; from inside the callback it works too (the callback pauses,
    // then resumes itself).
    p.server->resume_reading();
    int calls = 0;
    AsyncSocket* server = p.server.get();
    p.server->start_reading([&, server](const ReadEvent& e) {
      ++calls;
      e.append_to(got);
      server->stop_reading();
      std::error_code inner;
      server->resume_reading(inner);
      CHECK_FALSE(inner);
    });
    p.client->write("three");
    REQUIRE(t.run([&] { return got == "onetwothree"; }, 10s));
    p.client->write("four");
    REQUIRE(t.run([&] { return got == "onetwothreefour"; }, 10s));
    CHECK(calls >= 2);
    p.close();
    t.settle();
  }
}

TEST_CASE(
    "async: resume_reading() without a callback given before is an error, never a silent no-op") {
  TestLoop t;
  Pair p = connect_pair(t, Mode::bytes);
  std::error_code ec;
  p.server->resume_reading(ec);
  CHECK(ec == std::errc::invalid_argument);
  CHECK_THROWS_AS(p.server->resume_reading(), localsock::Error);
  // Once closed, the callback is gone: not_connected.
  p.client->start_reading([](const ReadEvent&) {});
  bool closed = false;
  p.client->close([&] { closed = true; });
  REQUIRE(t.run([&] { return closed; }, 10s));
  p.client->resume_reading(ec);
  CHECK(ec == errc::not_connected);
  p.close();
  t.settle();
}

TEST_CASE(
    "async: one shared buffer broadcast to many sockets reaches every peer whole, and is released "
    "after") {
  constexpr int peers = 4;
  for (const Mode mode : {Mode::bytes, Mode::messages}) {
    CAPTURE(mode == Mode::bytes ? "bytes" : "messages");
    TestLoop t;
    // Bytes: large enough that it cannot all be written at once, so that the sockets
    // hold the buffer while they wait; messages: three copies of one message each.
    const std::size_t size = mode == Mode::bytes ? 1024 * 1024 : 48 * 1024;
    const int times = mode == Mode::bytes ? 1 : 3;
    auto buffer = std::make_shared<const std::vector<std::byte>>(pattern(size, 7));
    std::vector<Pair> pairs;
    for (int i = 0; i < peers; ++i) pairs.push_back(connect_pair(t, mode));
    std::vector<std::vector<std::byte>> received(peers);
    std::vector<int> messages_ok(peers, 0);
    for (int i = 0; i < peers; ++i) {
      pairs[i].client->start_reading([&, i](const ReadEvent& e) {
        if (e.end || e.error) return;
        if (mode == Mode::messages)
          messages_ok[i] +=
              std::equal(e.data.begin(), e.data.end(), buffer->begin(), buffer->end());
        else
          received[i].insert(received[i].end(), e.data.begin(), e.data.end());
      });
    }
    int written = 0;
    for (int k = 0; k < times; ++k)
      for (auto& p : pairs)
        p.server->write(buffer, [&](std::error_code ec) {
          CHECK_FALSE(ec);
          ++written;
        });
    // The sockets share the one buffer (a copy per socket would leave the count at 1).
    CHECK(buffer.use_count() > 1);
    REQUIRE(t.run([&] { return written == peers * times; }, 20s));
    if (mode == Mode::bytes) {
      REQUIRE(t.run(
          [&] {
            return std::all_of(received.begin(), received.end(),
                               [&](const auto& r) { return r.size() >= size; });
          },
          20s));
      for (const auto& r : received) CHECK(r == *buffer);
    } else {
      REQUIRE(t.run(
          [&] {
            return std::all_of(messages_ok.begin(), messages_ok.end(),
                               [&](int n) { return n >= times; });
          },
          20s));
      for (int n : messages_ok) CHECK(n == times);
    }
    // Every socket has let go of it: only the test's pointer is left.
    CHECK(buffer.use_count() == 1);
    // Without callbacks too (the queue's immediate path).
    for (auto& p : pairs) p.server->write(buffer);
    REQUIRE(t.run([&] { return buffer.use_count() == 1; }, 20s));
    for (auto& p : pairs) p.close();
    t.settle();
  }
}

TEST_CASE("async: a shared buffer still queued when the socket closes is released") {
  TestLoop t;
  Pair p = connect_pair(t, Mode::bytes);
  auto buffer = std::make_shared<const std::vector<std::byte>>(pattern(4 * 1024 * 1024, 1));
  std::error_code ec;
  bool told = false;
  p.server->write(buffer, [&](std::error_code e) {
    ec = e;
    told = true;
  });
  CHECK(buffer.use_count() == 2);  // nobody reads: 4 MiB cannot have gone at once
  p.server->close();
  REQUIRE(t.run([&] { return told; }, 10s));
  CHECK(ec == std::errc::operation_canceled);
  CHECK(buffer.use_count() == 1);
  p.close();
  t.settle();
}

TEST_CASE("async: the throwing overloads name the socket in their error") {
  // As the blocking sockets do: the error names the operation and the local name (the
  // name connected to, or the name of the listener that accepted the connection).
  TestLoop t;
  const LocalName name = fresh_name();
  Pair p;
  auto listener = AsyncListener::listen(*t.async, ListenerOptions(name), Mode::bytes,
                                        [&p](std::error_code ec, AsyncSocket::Ptr s) {
                                          REQUIRE_FALSE(ec);
                                          p.server = s;
                                        });
  AsyncSocket::connect(*t.async, ConnectOptions(name), Mode::bytes,
                       [&p](std::error_code ec, AsyncSocket::Ptr s) {
                         REQUIRE_FALSE(ec);
                         p.client = s;
                       });
  REQUIRE(t.run([&] { return p.server && p.client; }, 10s));
  listener->close();
  int closed = 0;
  p.server->close([&] { ++closed; });
  p.client->close([&] { ++closed; });
  REQUIRE(t.run([&] { return closed == 2; }, 10s));
  for (const auto& socket : {p.server, p.client}) {
    bool threw = false;
    try {
      socket->resume_reading();
    } catch (const localsock::Error& e) {
      threw = true;
      CHECK(e.code() == errc::not_connected);
      CHECK(e.name() == name.str());
      CHECK(std::string_view(e.what()).find("AsyncSocket::resume_reading") !=
            std::string_view::npos);
    }
    CHECK(threw);
    threw = false;
    try {
      (void)socket->peer_info();
    } catch (const localsock::Error& e) {
      threw = true;
      CHECK(e.code() == errc::not_connected);
      CHECK(e.name() == name.str());
      CHECK(std::string_view(e.what()).find("AsyncSocket::peer_info") != std::string_view::npos);
    }
    CHECK(threw);
  }
  t.settle();
}

TEST_CASE("async: a char array is written whole, zeros included, and never read past its end") {
  for (const Mode mode : {Mode::bytes, Mode::messages}) {
    CAPTURE(mode == Mode::bytes ? "bytes" : "messages");
    TestLoop t;
    Pair p = connect_pair(t, mode);
    std::string collected;
    std::vector<std::size_t> sizes;  // message mode: each message's size
    p.server->start_reading([&](const ReadEvent& e) {
      if (e.end || e.error) return;
      sizes.push_back(e.data.size());
      e.append_to(collected);
    });
    const char record[4] = {'a', '\0', 'b', 'c'};
    char lone[8] = {'1', '2', '3', '4', '5', '6', '7', '8'};  // no zero at all
    const char* c_string = record;                            // a C string: up to its zero
    p.client->write(record);
    p.client->write(lone);
    p.client->write("a\0b");
    p.client->write(c_string);
    p.client->write(std::string_view("|"));  // the end of the exchange
    const std::string expected =
        std::string(record, 4) + "12345678" + std::string("a\0b", 3) + "a|";
    REQUIRE(t.run([&] { return !collected.empty() && collected.back() == '|'; }, 10s));
    CHECK(collected == expected);
    if (mode == Mode::messages) CHECK(sizes == std::vector<std::size_t>{4, 8, 3, 1, 1});
    p.close();
    t.settle();
  }
}
