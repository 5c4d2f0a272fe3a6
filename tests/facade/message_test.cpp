// SPDX-License-Identifier: MIT
// The portable contract of message mode (LocalMessageListener / LocalMessageSocket):
// the same cases and the same expectations natively and under Wine.
#include <localsock/localsock.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "connected.hpp"
#include "doctest_ext.hpp"
#include "pattern.hpp"
#include "unique_name.hpp"

using namespace std::chrono_literals;
using localsock::errc;
using localsock::LocalMessageListener;
using localsock::LocalMessageSocket;
using localsock::LocalName;
using localsock::test::pattern;

namespace {

LocalName fresh_name() { return LocalName::namespaced(localsock::test::unique_name("lfm")); }

using MessagePair = localsock::test::Connected<localsock::Mode::messages>;
MessagePair open_pair() { return localsock::test::connect_pair<localsock::Mode::messages>(); }

}  // namespace

TEST_CASE("message mode: sizes 0, 1, 64 KiB - 1, 64 KiB, 64 KiB + 1 and 1 MiB arrive whole") {
  MessagePair p = open_pair();
  const std::vector<std::size_t> sizes{0, 1, 65535, 65536, 65537, 1 << 20};
  std::thread sender([&] {
    for (std::size_t i = 0; i < sizes.size(); ++i) p.client.send(pattern(sizes[i], unsigned(i)));
    p.client.close();
  });
  std::vector<std::byte> got;
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    CAPTURE(sizes[i]);
    const auto r = p.server.recv(got, 4 << 20);
    CHECK_FALSE(r.end);
    CHECK(r.size == sizes[i]);
    CHECK(got == pattern(sizes[i], unsigned(i)));
  }
  sender.join();
  CHECK(p.server.recv(got, 1024).end);  // the end, not another zero-length message
}

TEST_CASE("message mode: a too-small buffer learns the size it needs; nothing is lost") {
  MessagePair p = open_pair();
  const auto msg = pattern(300, 1);
  p.client.send(msg);
  std::byte small[16];
  std::error_code ec;
  auto r = p.server.recv(small, ec);
  CHECK(ec == errc::message_truncated);
  CHECK(r.size == 300);
  CHECK(p.server.peek_size().size == 300);
  std::vector<std::byte> buf(r.size);
  r = p.server.recv(buf, ec);
  CHECK_FALSE(ec);
  CHECK(r.size == 300);
  CHECK(buf == msg);
}

TEST_CASE("message mode: the growing receive drops an over-size message and goes on") {
  MessagePair p = open_pair();
  std::thread sender([&] {
    p.client.send(pattern(100000, 2));
    p.client.send(pattern(7, 3));
  });
  std::vector<std::byte> got;
  std::error_code ec;
  auto r = p.server.recv(got, 1000, ec);
  CHECK(ec == errc::message_too_large);
  CHECK(r.size == 100000);
  r = p.server.recv(got, 1000, ec);
  CHECK_FALSE(ec);
  CHECK(got == pattern(7, 3));
  sender.join();
}

TEST_CASE("message mode: zero-length messages differ from the end of the stream") {
  MessagePair p = open_pair();
  p.client.send({});
  std::byte b[4];
  auto r = p.server.recv(b);
  CHECK(r.size == 0);
  CHECK_FALSE(r.end);
  p.client.close();
  r = p.server.recv(b);
  CHECK(r.end);
}

TEST_CASE("message mode: requests and responses with many clients at once") {
  const LocalName name = fresh_name();
  auto listener = LocalMessageListener::bind(localsock::test::message_listen(name));
  constexpr int clients = 16;
  constexpr int requests = 50;
  std::vector<std::thread> servers;
  std::thread acceptor([&] {
    for (int i = 0; i < clients; ++i) {
      servers.emplace_back([s = listener.accept()]() mutable {
        std::vector<std::byte> req;
        while (!s.recv(req, 1 << 20).end) {
          std::reverse(req.begin(), req.end());
          s.send(req);
        }
      });
    }
  });
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&, c] {
      auto s = LocalMessageSocket::connect(localsock::test::message_connect(name).timeout(30s));
      std::vector<std::byte> reply;
      int good = 0;
      for (int i = 0; i < requests; ++i) {
        auto req = pattern(static_cast<std::size_t>(i * 37 + c), unsigned(c * 1000 + i));
        s.send(req);
        s.recv(reply, 1 << 20);
        std::reverse(req.begin(), req.end());
        good += reply == req;
      }
      if (good == requests) ++ok;
    });
  }
  for (auto& t : threads) t.join();
  acceptor.join();
  for (auto& t : servers) t.join();
  CHECK(ok == clients);
}

TEST_CASE("message mode: a byte listener and a message client do not mix silently") {
  // Bytes and messages are different kinds of listener: a message client finds no
  // message listener at a byte listener's name on either platform, or is refused, or
  // (framed messages, which cross a byte stream) is told on its first receive.
  const LocalName name = fresh_name();
  auto listener = localsock::LocalListener::bind(name);
  std::error_code ec;
  auto s = LocalMessageSocket::connect(localsock::test::message_connect(name).timeout(200ms), ec);
  if (!localsock::test::messages_framed()) {
    // Windows: the client opens the byte pipe but cannot switch it to message reads;
    // Unix: a SOCK_SEQPACKET connect to a SOCK_STREAM listener is refused.
    CHECK(ec);
    CHECK_FALSE(s.is_open());
    return;
  }
  // Framed: both are byte streams, so the connect goes through; the byte server's first
  // bytes are not the framed greeting, and the client's receive says mode_mismatch
  // (never a message made of them).
  REQUIRE_FALSE(ec);
  auto server = listener.accept_for(5s);
  server.write_all(std::as_bytes(std::span("hello, bytes\n", 13)));
  std::vector<std::byte> got;
  const auto r = s.recv(got, 1024, ec);
  CHECK(ec == errc::mode_mismatch);
  CHECK(r.size == 0);
  CHECK(got.empty());
  // It stays so, and sending says the same.
  s.recv(got, 1024, ec);
  CHECK(ec == errc::mode_mismatch);
  s.send(std::as_bytes(std::span("x", 1)), ec);
  CHECK(ec == errc::mode_mismatch);
}

TEST_CASE(
    "message mode: a byte client at a framed listener reads the end, the server mode_mismatch") {
  // Neither side waits for the other: the framed server's receive sees bytes that are
  // not the greeting, says mode_mismatch and ends the connection; the byte client, which
  // waits for a reply, reads the end of the stream (after the greeting's bytes), not
  // forever.
  const LocalName name = fresh_name();
  auto listener = LocalMessageListener::bind(
      localsock::ListenerOptions(name).transport(localsock::MessageTransport::framed));
  std::error_code ec;
  auto b = localsock::LocalSocket::connect(localsock::ConnectOptions(name).timeout(500ms), ec);
  if (!localsock::test::framed_available()) {
    // Windows: message pipes; a byte client is refused at connect.
    CHECK(ec == errc::mode_mismatch);
    return;
  }
  REQUIRE_FALSE(ec);
  b.write_all(std::as_bytes(std::span("GET / HTTP/1.0\r\n\r\n", 18)));
  auto s = listener.accept_for(5s);
  std::vector<std::byte> got;
  s.recv(got, 1024, ec);
  CHECK(ec == errc::mode_mismatch);
  CHECK(got.empty());
  b.set_read_timeout(5s);
  std::byte buf[64];
  std::size_t total = 0;
  for (;;) {
    const std::size_t n = b.read_some(buf, ec);
    if (ec || n == 0) break;
    total += n;
  }
  CHECK_FALSE(ec);    // the end, not the read timeout
  CHECK(total == 8);  // the server's greeting, then nothing
}

TEST_CASE(
    "message mode: seqpacket and framed ends do not mix; each is told mode_mismatch at connect") {
  using localsock::MessageTransport;
  const auto listen = [](const LocalName& n, MessageTransport t) {
    return LocalMessageListener::bind(localsock::ListenerOptions(n).transport(t));
  };
  const auto connect = [](const LocalName& n, MessageTransport t, std::error_code& ec) {
    return LocalMessageSocket::connect(localsock::ConnectOptions(n).transport(t).timeout(500ms),
                                       ec);
  };
  std::error_code ec;
  if (!localsock::test::framed_available()) {
    // Windows: one transport (message pipes); the choice is ignored, so any two ends meet.
    const LocalName name = fresh_name();
    auto l = listen(name, MessageTransport::seqpacket);
    auto c = connect(name, MessageTransport::framed, ec);
    CHECK_FALSE(ec);
    return;
  }
  if (!localsock::capabilities().native_messages) {
    // No seqpacket Unix sockets (macOS, the generic flavor): asking for it is refused.
    const LocalName name = fresh_name();
    LocalMessageListener::bind(
        localsock::ListenerOptions(name).transport(MessageTransport::seqpacket), ec);
    CHECK(ec == errc::not_supported);
    auto l = listen(name, MessageTransport::automatic);
    auto c = connect(name, MessageTransport::seqpacket, ec);
    CHECK(ec == errc::not_supported);
    CHECK_FALSE(c.is_open());
    c = connect(name, MessageTransport::framed, ec);  // automatic is framed here
    CHECK_FALSE(ec);
    return;
  }
  std::vector<LocalName> names{fresh_name(),
                               LocalName::path(localsock::test::unique_name("/tmp/lfm"))};
  for (const LocalName& name : names) {
    CAPTURE(name.str());
    {
      auto l = listen(name, MessageTransport::seqpacket);
      auto c = connect(name, MessageTransport::framed, ec);
      CHECK(ec == errc::mode_mismatch);
      CHECK_FALSE(c.is_open());
      c = connect(name, MessageTransport::automatic, ec);  // automatic is seqpacket here
      CHECK_FALSE(ec);
    }
    {
      auto l = listen(name, MessageTransport::framed);
      auto c = connect(name, MessageTransport::framed, ec);
      REQUIRE_FALSE(ec);
      auto s = l.accept_for(5s);
      c.send("framed both ways");
      std::string got;
      CHECK(s.recv(got, 64).size == 16);
      CHECK(got == "framed both ways");
      // (Finding the mismatch out connects once with the other socket type: the
      // listener sees a client that leaves at once, without a greeting.)
      auto other = connect(name, MessageTransport::seqpacket, ec);
      CHECK(ec == errc::mode_mismatch);
      CHECK_FALSE(other.is_open());
    }
  }
}

TEST_CASE("message mode: a framed message larger than net.core.wmem_max arrives whole") {
  // Seqpacket messages are bounded by the send buffer the system allows (twice
  // net.core.wmem_max unprivileged, about 4 MiB at most); frames over a byte stream are
  // not. Windows ignores the transport (a message pipe carries it too).
  std::size_t size = 8 << 20;
#if !defined(_WIN32)
  if (std::FILE* f = std::fopen("/proc/sys/net/core/wmem_max", "r")) {
    unsigned long wmem_max = 0;
    if (std::fscanf(f, "%lu", &wmem_max) == 1) size = std::max<std::size_t>(size, 2 * wmem_max + 1);
    std::fclose(f);
    MESSAGE("net.core.wmem_max: ", wmem_max, ", message: ", size);
  }
#endif
  auto p = localsock::test::connect_pair<localsock::Mode::messages>(
      localsock::ListenerOptions().transport(localsock::MessageTransport::framed));
  CHECK(p.client.max_message_size() >= size);
  const auto msg = pattern(size, 9);
  std::thread sender([&] { p.client.send(msg); });
  std::vector<std::byte> got;
  const auto r = p.server.recv(got, SIZE_MAX);
  sender.join();
  CHECK(r.size == size);
  CHECK(got == msg);
}

TEST_CASE("message mode: max_message_size() is the real limit, and a larger send says so") {
  MessagePair p = open_pair();
  std::error_code ec;
  const std::size_t limit = p.client.max_message_size(ec);
  REQUIRE_FALSE(ec);
  MESSAGE("largest message: ", limit);
  CHECK(limit >= 64 * 1024);
  // Linux's limit (about 4 MiB, less where the send buffer cannot grow) is checked to
  // the byte; Windows' (2 GiB - 1, a message write's DWORD length) is too large to send
  // in a test.
  if (limit <= (std::size_t{16} << 20)) {
    const auto m = pattern(limit, 4);
    std::vector<std::byte> got;
    std::thread t([&] { p.server.recv(got, SIZE_MAX); });
    p.client.send(m, ec);
    t.join();
    CHECK_FALSE(ec);
    CHECK(got == m);
    p.client.send(pattern(limit + 1, 5), ec);
    CHECK(ec == errc::message_too_large);
    try {
      p.client.send(pattern(limit + 1, 5));
      FAIL("no exception");
    } catch (const localsock::Error& e) {
      CHECK(std::string(e.what()).find(std::to_string(limit)) != std::string::npos);
    }
    p.client.send(pattern(3, 6));  // the connection goes on
    CHECK(p.server.recv(got, SIZE_MAX).size == 3);
  }
  auto [r, s] = p.client.split();
  CHECK(s.max_message_size() == limit);
}

TEST_CASE(
    "message mode: a live listener's abstract name is refused to the other transport and to byte "
    "listeners") {
  // Linux: abstract names are kept per socket type (seqpacket apart from byte streams and
  // frames). A name a live listener holds is refused to every other listener all the
  // same, and clients of the other transport are told mode_mismatch, never served by a
  // second server.
  const auto& caps = localsock::capabilities();
  if (!caps.abstract_names || !caps.native_messages) {
    MESSAGE("no abstract names or no seqpacket here: one name for every transport");
    return;
  }
  using localsock::MessageTransport;
  const LocalName name = fresh_name();
  auto listen = [&](MessageTransport t, std::error_code& ec) {
    return LocalMessageListener::bind(localsock::ListenerOptions(name).transport(t), ec);
  };
  auto connect = [&](MessageTransport t, std::error_code& ec) {
    return LocalMessageSocket::connect(
        localsock::ConnectOptions(name).transport(t).timeout(localsock::Timeout(2000)), ec);
  };
  std::error_code ec;
  SUBCASE("seqpacket first") {
    auto live = listen(MessageTransport::seqpacket, ec);
    REQUIRE_FALSE(ec);
    listen(MessageTransport::framed, ec);
    CHECK(ec == errc::name_in_use);
    localsock::LocalListener::bind(name, ec);
    CHECK(ec == errc::name_in_use);
    connect(MessageTransport::framed, ec);
    CHECK(ec == errc::mode_mismatch);
    auto c = connect(MessageTransport::seqpacket, ec);
    CHECK_FALSE(ec);
  }
  SUBCASE("framed first") {
    auto live = listen(MessageTransport::framed, ec);
    REQUIRE_FALSE(ec);
    listen(MessageTransport::seqpacket, ec);
    CHECK(ec == errc::name_in_use);
    connect(MessageTransport::seqpacket, ec);
    CHECK(ec == errc::mode_mismatch);
    auto c = connect(MessageTransport::framed, ec);
    CHECK_FALSE(ec);
  }
}

TEST_CASE("message mode: a client of the other mode is told mode_mismatch, both ways") {
  // Bytes and messages do not mix: a message client at a byte listener, and a byte
  // client at a message listener, fail with errc::mode_mismatch (not "no listener"),
  // on namespaced names and, where the platform has them, on socket files. Framed
  // messages cross a byte stream like bytes: the connect goes through and the first
  // receive of the framed end says mode_mismatch (the cases just above).
  std::vector<LocalName> names{fresh_name()};
  if (localsock::capabilities().filesystem_names)
    names.push_back(LocalName::path(localsock::test::unique_name("/tmp/lfm")));
  for (const LocalName& name : names) {
    CAPTURE(name.str());
    std::error_code ec;
    if (!localsock::test::messages_framed()) {
      {
        auto bytes = localsock::LocalListener::bind(name);
        auto m =
            LocalMessageSocket::connect(localsock::test::message_connect(name).timeout(500ms), ec);
        CHECK(ec == errc::mode_mismatch);
        CHECK_FALSE(m.is_open());
      }
      {
        auto messages = LocalMessageListener::bind(localsock::test::message_listen(name));
        auto b =
            localsock::LocalSocket::connect(localsock::ConnectOptions(name).timeout(500ms), ec);
        CHECK(ec == errc::mode_mismatch);
        CHECK_FALSE(b.is_open());
      }
    }
    // Nobody at all is still no_listener.
    auto none =
        LocalMessageSocket::connect(localsock::test::message_connect(name).timeout(0ms), ec);
    CHECK(ec == errc::no_listener);
  }
}

TEST_CASE("message mode: a nonblocking send is completed by flush(), whatever the transport") {
  // With frames over a byte stream (MessageTransport::framed: Unix systems without seqpacket, or
  // chosen) a nonblocking send that the socket takes in part keeps the rest; without flush() a peer
  // waiting for that message would wait for ever. Seqpacket and Windows pipes send a message whole
  // or not at all: there flush() has nothing to do.
  MessagePair p = open_pair();
  const std::size_t size = std::min<std::size_t>(1 << 20, p.client.max_message_size());
  const auto msg = pattern(size, 7);
  std::error_code ec;
  p.client.set_nonblocking(true, ec);
  REQUIRE_FALSE(ec);
  std::vector<std::byte> got;
  localsock::ReceiveResult r;
  // The reader starts late, so that the message does not fit what the socket holds
  // (a Windows pipe write waits for the reader even on a nonblocking handle).
  std::thread reader([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    r = p.server.recv(got, size);
  });
  using Clock = std::chrono::steady_clock;
  const auto deadline = Clock::now() + std::chrono::seconds(10);
  for (;;) {
    p.client.send(msg, ec);
    if (ec != errc::would_block || Clock::now() > deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  REQUIRE_FALSE(ec);
  while (p.client.send_pending() != 0 && Clock::now() < deadline) {
    p.client.flush(ec);
    if (ec == errc::would_block) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
      continue;
    }
    REQUIRE_FALSE(ec);
  }
  CHECK(p.client.send_pending() == 0);
  reader.join();
  CHECK(r.size == size);
  CHECK(got == msg);
}

TEST_CASE(
    "message mode: shutdown(write) after a nonblocking send delivers the message, then the end") {
  // A nonblocking send() that succeeded gave its message to the connection, also where
  // the socket took only part of it (framed: send_pending()). shutdown(write) must not
  // cut it: it sends the rest first or, when the rest cannot go now, reports would_block
  // and shuts nothing, so that the peer reads the whole message and then the end.
  MessagePair p = open_pair();
  std::error_code ec;
  if (!localsock::capabilities().half_close) {
    // Windows: no half-close.
    p.client.shutdown(localsock::Shutdown::write, ec);
    CHECK(ec == errc::not_supported);
    return;
  }
  const std::size_t size = std::min<std::size_t>(4 << 20, p.client.max_message_size());
  const auto msg = pattern(size, 5);
  p.client.set_nonblocking(true);
  p.client.send(msg, ec);
  const bool taken = !ec;
  if (!taken) REQUIRE(ec == errc::would_block);  // whole or not at all (seqpacket)
  const bool rest = p.client.send_pending() > 0;
  // Frames: 4 MiB do not fit the socket; the rest waits in the client.
  if (localsock::test::messages_framed()) CHECK(rest);
  // Nobody reads yet: a rest cannot go now, and neither can the end.
  p.client.shutdown(localsock::Shutdown::write, ec);
  if (rest)
    CHECK(ec == errc::would_block);
  else
    CHECK_FALSE(ec);
  std::vector<std::vector<std::byte>> got;
  bool end = false;
  std::error_code reader_ec;
  p.server.set_read_timeout(10s);
  std::thread reader([&] {
    std::vector<std::byte> out;
    for (;;) {
      const auto r = p.server.recv(out, size, reader_ec);
      if (reader_ec || r.end) {
        end = r.end;
        return;
      }
      got.push_back(out);
    }
  });
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (ec == errc::would_block && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(1ms);
    p.client.shutdown(localsock::Shutdown::write, ec);
  }
  CHECK_FALSE(ec);
  CHECK(p.client.send_pending() == 0);
  reader.join();
  CHECK_FALSE(reader_ec);
  CHECK(end);
  if (taken) {
    REQUIRE(got.size() == 1);
    CHECK(got[0] == msg);
  } else {
    CHECK(got.empty());
  }
}

TEST_CASE("message: text is sent from string_view and received into std::string, boundaries kept") {
  MessagePair p = open_pair();
  const std::string big(3000, 'x');
  p.client.send("ping");
  p.client.send(std::string_view());  // a zero-length message, not the end
  p.client.send(big);
  p.client.send("too long for the limit");
  std::string in;
  auto r = p.server.recv(in, 64);
  CHECK(in == "ping");
  CHECK(r.size == 4);
  r = p.server.recv(in, 64);
  CHECK(in.empty());
  CHECK_FALSE(r.end);
  r = p.server.recv(in, 4096);
  CHECK(in == big);
  // Over the limit: reported and discarded, as with the vector overload.
  std::error_code ec;
  r = p.server.recv(in, 8, ec);
  CHECK(ec == errc::message_too_large);
  CHECK(r.size == 22);
  p.client.send("next");
  r = p.server.recv(in, 8);
  CHECK(in == "next");
  p.client.close();
  r = p.server.recv(in, 8, ec);
  CHECK_FALSE(ec);
  CHECK(r.end);
  CHECK(in.empty());
}

TEST_CASE("message mode: a receive that times out loses nothing; the next message arrives whole") {
  MessagePair p = open_pair();
  p.server.set_read_timeout(50ms);
  std::vector<std::byte> got;
  std::error_code ec;
  const auto start = std::chrono::steady_clock::now();
  p.server.recv(got, 1 << 20, ec);
  CHECK(ec == errc::timed_out);
  CHECK(std::chrono::steady_clock::now() - start >= 40ms);
  CHECK(got.empty());
  // Sent after the timeout (from a thread: a pipe write larger than the pipe's buffer
  // waits for the reader): received whole, and the one after it too.
  std::thread sender([&] {
    p.client.send(pattern(100 * 1000, 1));
    p.client.send(pattern(7, 2));
  });
  p.server.set_read_timeout(localsock::infinite);
  auto r = p.server.recv(got, 1 << 20, ec);
  REQUIRE_FALSE(ec);
  CHECK(r.size == 100 * 1000);
  CHECK(got == pattern(100 * 1000, 1));
  p.server.recv(got, 1 << 20, ec);
  REQUIRE_FALSE(ec);
  CHECK(got == pattern(7, 2));
  sender.join();
  // A timeout on a receive into a caller's buffer too.
  p.server.set_read_timeout(50ms);
  std::byte small[16];
  p.server.recv(small, ec);
  CHECK(ec == errc::timed_out);
}

TEST_CASE(
    "message mode: a send to a peer that has gone says peer_closed, never succeeds silently for "
    "long") {
  MessagePair p = open_pair();
  p.server.close();
  p.listener.close();
  std::error_code ec;
  // The system may take a message or two before it learns the peer is gone (Windows
  // pipes: at once; Unix: at once); within a few sends the error is there.
  for (int i = 0; i < 4 && !ec; ++i) p.client.send(pattern(10, 3), ec);
  CHECK(ec == errc::peer_closed);
  // And the receive side reads the end.
  std::vector<std::byte> got;
  std::error_code rec;
  const auto r = p.client.recv(got, 1024, rec);
  CHECK((r.end || rec == errc::peer_closed));
}

// A char array is one message of the bytes it holds (less one terminating zero), not of
// the text up to its first zero; an array without a zero is never read past its end.
TEST_CASE("message: a char array is sent whole as one message, zeros included") {
  MessagePair p = open_pair();
  p.server.set_read_timeout(5s);  // a message that never comes fails the case, not hangs it
  const char record[4] = {'a', '\0', 'b', 'c'};
  char lone[8] = {'1', '2', '3', '4', '5', '6', '7', '8'};
  std::error_code ec;
  p.client.send(record);
  p.client.send(lone, ec);
  CHECK_FALSE(ec);
  p.client.send("a\0b");
  p.client.send("");  // a literal's terminating zero is not sent: a zero-length message
  const char* c_string = record;
  p.client.send(c_string);  // a pointer is a C string: up to its zero
  std::string in;
  auto r = p.server.recv(in, 64);
  CHECK(r.size == 4);
  CHECK(in == std::string_view(record, 4));
  r = p.server.recv(in, 64);
  CHECK(in == "12345678");
  r = p.server.recv(in, 64);
  CHECK(in == std::string_view("a\0b", 3));
  r = p.server.recv(in, 64);
  CHECK_FALSE(r.end);
  CHECK(in.empty());
  r = p.server.recv(in, 64);
  CHECK(in == "a");
}
