// SPDX-License-Identifier: MIT
#include <localsock/posix/framed_stream.hpp>
#include <localsock/posix/message_socket.hpp>
#include <localsock/posix/ud_listener.hpp>

#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <string>
#include <thread>

#include "doctest_ext.hpp"

using localsock::errc;
using namespace localsock::posix;

namespace {
std::vector<std::byte> bytes(std::size_t n, unsigned char seed = 1) {
  std::vector<std::byte> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<std::byte>(seed + i * 13);
  return v;
}
void raw(UdStream& s, std::initializer_list<unsigned char> b) {
  std::vector<std::byte> v;
  for (unsigned char c : b) v.push_back(std::byte{c});
  std::size_t done = 0;
  while (done < v.size()) done += s.write_some(std::span(v).subspan(done));
}
}  // namespace

TEST_CASE("FramedStream: messages of 0, 1, buffer size and 1 MiB keep their boundaries") {
  auto [a, b] = UdStream::pair();
  FramedStream fa(std::move(a)), fb(std::move(b));
  const std::vector<std::size_t> sizes = {0, 1, 100, 1 << 20};
  std::thread t([&] {
    for (auto n : sizes) fa.send(bytes(n, static_cast<unsigned char>(n)));
    fa.close();
  });
  std::vector<std::byte> out;
  for (auto n : sizes) {
    CAPTURE(n);
    std::error_code ec;
    const auto r = fb.recv(out, 2 << 20, ec);
    CHECK_FALSE(ec);
    CHECK_FALSE(r.end);
    CHECK(out == bytes(n, static_cast<unsigned char>(n)));
  }
  t.join();
  std::error_code ec;
  CHECK(fb.recv(out, 10, ec).end);  // a clean end between frames
  CHECK_FALSE(ec);
}

TEST_CASE("FramedStream: a too-small buffer learns the size and the message is kept") {
  auto [a, b] = UdStream::pair();
  FramedStream fa(std::move(a)), fb(std::move(b));
  fa.send(bytes(101));
  std::vector<std::byte> small(100), right(101);
  std::error_code ec;
  CHECK(fb.recv(small, ec).size == 101);
  CHECK(ec == errc::message_truncated);
  CHECK(fb.recv(right, ec).size == 101);
  CHECK_FALSE(ec);
  CHECK(right == bytes(101));
}

TEST_CASE("FramedStream: frames split across reads are put back together") {
  auto [a, b] = UdStream::pair();
  FramedStream fb(std::move(b));
  std::thread t([&] {
    // A 3-byte message, header and body cut in odd places, with pauses between.
    raw(a, {3});
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    raw(a, {0, 0});
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    raw(a, {0, 'x'});
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    raw(a, {'y', 'z', 0, 0});
    raw(a, {0, 0});  // then a zero-length message
  });
  std::vector<std::byte> out;
  fb.recv(out, 16);
  CHECK(out == std::vector<std::byte>{std::byte{'x'}, std::byte{'y'}, std::byte{'z'}});
  std::error_code ec;
  const auto r = fb.recv(out, 16, ec);
  CHECK_FALSE(ec);
  CHECK_FALSE(r.end);
  CHECK(out.empty());
  t.join();
}

TEST_CASE("FramedStream: a peer dying inside a frame is peer_closed, not a clean end") {
  std::error_code ec;
  std::vector<std::byte> out;
  SUBCASE("inside the header") {
    auto [a, b] = UdStream::pair();
    FramedStream fb(std::move(b));
    raw(a, {5, 0});
    a.close();
    const auto r = fb.recv(out, 16, ec);
    CHECK(ec == errc::peer_closed);
    CHECK_FALSE(r.end);
  }
  SUBCASE("inside the body") {
    auto [a, b] = UdStream::pair();
    FramedStream fb(std::move(b));
    raw(a, {5, 0, 0, 0, 'a', 'b'});
    a.close();
    fb.recv(out, 16, ec);
    CHECK(ec == errc::peer_closed);
  }
}

TEST_CASE("FramedStream: an over-size message is dropped and the next one still arrives") {
  auto [a, b] = UdStream::pair();
  FramedStream fa(std::move(a)), fb(std::move(b));
  std::thread t([&] {
    fa.send(bytes(10000));
    fa.send(bytes(3, 9));
  });
  std::vector<std::byte> out;
  std::error_code ec;
  fb.recv(out, 100, ec);
  CHECK(ec == errc::message_too_large);
  fb.recv(out, 100, ec);
  CHECK_FALSE(ec);
  CHECK(out == bytes(3, 9));
  t.join();
}

namespace {
// Waits until `s` can take more bytes (or the deadline passes); the test's own wait, so
// that a retry after would_block does not spin.
void wait_writable(UdStream& s) {
  pollfd p{s.native_handle(), POLLOUT, 0};
  ::poll(&p, 1, 1000);
}
}  // namespace

namespace {
// A 100-byte message arrives as its header and 50 body bytes, then the rest; the
// receive between the two parts is interrupted (would_block, or a read timeout).
void interrupted_body(bool timeout) {
  auto [a, b] = UdStream::pair();
  FramedStream fb(std::move(b));
  std::error_code set_ec;
  if (timeout)
    fb.stream().set_read_timeout(std::chrono::milliseconds(20), set_ec);
  else
    fb.stream().set_nonblocking(true, set_ec);
  REQUIRE_FALSE(set_ec);
  const errc interrupted = timeout ? errc::timed_out : errc::would_block;
  const auto body = bytes(100, 'A');
  auto first_half = [&] {
    raw(a, {100, 0, 0, 0});
    std::size_t done = 0;
    while (done < 50) done += a.write_some(std::span(body).subspan(done, 50 - done));
  };
  auto second_half = [&] {
    std::size_t done = 50;
    while (done < 100) done += a.write_some(std::span(body).subspan(done));
    raw(a, {2, 0, 0, 0, 'o', 'k'});  // and a message after it, read in step
  };
  std::error_code ec;
  std::vector<std::byte> out;
  std::array<std::byte, 200> first_buf{}, second_buf{};
  SUBCASE("vector, then vector") {
    first_half();
    fb.recv(out, 1000, ec);
    CHECK(ec == interrupted);
    second_half();
    const auto r = fb.recv(out, 1000, ec);
    REQUIRE_FALSE(ec);
    CHECK(r.size == 100);
    CHECK(out == body);
  }
  SUBCASE("buffer, then another buffer") {
    first_half();
    fb.recv(first_buf, ec);
    CHECK(ec == interrupted);
    first_buf.fill(std::byte{0});  // the caller's buffer is the caller's again
    second_half();
    const auto r = fb.recv(second_buf, ec);
    REQUIRE_FALSE(ec);
    REQUIRE(r.size == 100);
    CHECK(std::vector<std::byte>(second_buf.begin(), second_buf.begin() + 100) == body);
  }
  SUBCASE("vector, then buffer") {
    first_half();
    fb.recv(out, 1000, ec);
    CHECK(ec == interrupted);
    second_half();
    const auto r = fb.recv(second_buf, ec);
    REQUIRE_FALSE(ec);
    REQUIRE(r.size == 100);
    CHECK(std::vector<std::byte>(second_buf.begin(), second_buf.begin() + 100) == body);
  }
  SUBCASE("buffer, then vector") {
    first_half();
    fb.recv(first_buf, ec);
    CHECK(ec == interrupted);
    second_half();
    const auto r = fb.recv(out, 1000, ec);
    REQUIRE_FALSE(ec);
    CHECK(r.size == 100);
    CHECK(out == body);
  }
  SUBCASE("string, then string") {
    // A string without room: the body collects in the stream as it arrives.
    std::string text;
    first_half();
    fb.recv(text, 1000, ec);
    CHECK(ec == interrupted);
    CHECK(text.empty());
    second_half();
    const auto r = fb.recv(text, 1000, ec);
    REQUIRE_FALSE(ec);
    CHECK(r.size == 100);
    CHECK(std::vector<std::byte>(reinterpret_cast<const std::byte*>(text.data()),
                                 reinterpret_cast<const std::byte*>(text.data()) + text.size()) ==
          body);
  }
  SUBCASE("string with room, then vector") {
    // A string with room: the body goes straight into it.
    std::string text;
    text.reserve(200);
    first_half();
    fb.recv(text, 1000, ec);
    CHECK(ec == interrupted);
    second_half();
    const auto r = fb.recv(out, 1000, ec);
    REQUIRE_FALSE(ec);
    CHECK(r.size == 100);
    CHECK(out == body);
  }
  SUBCASE("vector, then string") {
    std::string text;
    first_half();
    fb.recv(out, 1000, ec);
    CHECK(ec == interrupted);
    second_half();
    const auto r = fb.recv(text, 1000, ec);
    REQUIRE_FALSE(ec);
    CHECK(r.size == 100);
    CHECK(text.size() == 100);
    CHECK(std::equal(text.begin(), text.end(), body.begin(),
                     [](char c, std::byte x) { return static_cast<std::byte>(c) == x; }));
  }
  SUBCASE("a too-small buffer after the interruption learns the size; nothing is lost") {
    first_half();
    fb.recv(out, 1000, ec);
    CHECK(ec == interrupted);
    second_half();
    std::array<std::byte, 10> small{};
    CHECK(fb.recv(small, ec).size == 100);
    CHECK(ec == errc::message_truncated);
    CHECK(fb.recv(out, 1000, ec).size == 100);
    REQUIRE_FALSE(ec);
    CHECK(out == body);
  }
  SUBCASE("an over-size message dropped across the interruption keeps the stream in step") {
    first_half();
    fb.recv(out, 60, ec);
    CHECK(ec == interrupted);
    second_half();
    fb.recv(out, 60, ec);
    CHECK(ec == errc::message_too_large);
  }
  // Whatever happened above, the next frame is read in step.
  const auto r = fb.recv(out, 1000, ec);
  REQUIRE_FALSE(ec);
  CHECK(r.size == 2);
  CHECK(out == std::vector<std::byte>{std::byte{'o'}, std::byte{'k'}});
}
}  // namespace

TEST_CASE("FramedStream: a nonblocking receive interrupted inside a body keeps what it read") {
  interrupted_body(false);
}

TEST_CASE("FramedStream: a receive timing out inside a body keeps what it read") {
  interrupted_body(true);
}

TEST_CASE(
    "FramedStream: a nonblocking 4 MiB send into a full socket is completed, never restarted") {
  auto [a, b] = UdStream::pair();
  FramedStream fa(std::move(a)), fb(std::move(b));
  fa.stream().set_nonblocking(true);
  // A stuck or corrupt stream fails the reader instead of hanging it.
  std::error_code set_ec;
  fb.stream().set_read_timeout(std::chrono::seconds(10), set_ec);
  REQUIRE_FALSE(set_ec);
  const auto big = bytes(4 << 20, 5);
  const auto small = bytes(10, 6);
  const auto last = bytes(3, 7);
  // Sends the way a nonblocking writer does: would_block means "again, later".
  auto send_nonblocking = [&](const std::vector<std::byte>& msg) {
    std::error_code ec;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    for (;;) {
      fa.send(msg, ec);
      if (ec != errc::would_block || std::chrono::steady_clock::now() > deadline) break;
      wait_writable(fa.stream());
    }
    CHECK_FALSE(ec);
  };
  std::vector<std::vector<std::byte>> got;
  std::error_code reader_ec;
  // The reader starts late: the socket is full well before 4 MiB are written.
  std::thread reader([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    std::vector<std::byte> out;
    for (;;) {
      const auto r = fb.recv(out, 8 << 20, reader_ec);
      if (reader_ec || r.end) return;
      got.push_back(out);
    }
  });
  send_nonblocking(big);
  send_nonblocking(small);
  // A blocking send completes whatever is still to go first (bounded, so that a broken
  // stream fails the test instead of hanging it).
  fa.stream().set_nonblocking(false);
  fa.stream().set_write_timeout(std::chrono::seconds(10), set_ec);
  fa.send(last);
  fa.close();
  reader.join();
  CHECK_FALSE(reader_ec);
  REQUIRE(got.size() == 3);
  CHECK(got[0] == big);
  CHECK(got[1] == small);
  CHECK(got[2] == last);
}

TEST_CASE(
    "FramedStream: a blocking send whose write timeout passes inside a frame fails for good") {
  // The reader does not read: the socket takes part of a 4 MiB frame, then the write
  // timeout passes. The message cannot be taken back, and no later call is sure to finish
  // it (the application may close, or wait for a reply the peer cannot send before the
  // rest): the send must not report success, and nothing may follow the cut frame.
  auto [a, b] = UdStream::pair();
  FramedStream fa(std::move(a)), fb(std::move(b));
  std::error_code ec;
  fa.stream().set_write_timeout(std::chrono::milliseconds(50), ec);
  REQUIRE_FALSE(ec);
  fb.stream().set_read_timeout(std::chrono::seconds(5), ec);
  REQUIRE_FALSE(ec);
  fa.send(bytes(4 << 20, 3), ec);
  CHECK(ec == std::errc::connection_aborted);
  fa.send(bytes(10, 4), ec);  // nothing more goes out after the cut frame
  CHECK(ec == std::errc::connection_aborted);
  fa.flush(ec);
  CHECK(ec == std::errc::connection_aborted);
  fa.close();
  // The peer reads the cut frame as a peer that went away inside it, never as a message.
  std::vector<std::byte> out;
  for (int i = 0; i < 100; ++i) {
    const auto r = fb.recv(out, 8 << 20, ec);
    if (ec || r.end) break;
    FAIL("a message arrived after a cut frame");
  }
  CHECK(ec == errc::peer_closed);
}

TEST_CASE(
    "FramedStream: shutdown(write) sends the rest of a taken frame first; if it cannot, it "
    "reports why and shuts nothing") {
  // A nonblocking send that the socket took in part succeeded: the message is the
  // peer's. The end of the stream must come after it (the peer reads the message, then
  // the end), never cut it (the peer would read peer_closed).
  auto [a, b] = UdStream::pair();
  FramedStream fa(std::move(a)), fb(std::move(b));
  std::error_code ec;
  fb.stream().set_read_timeout(std::chrono::seconds(10), ec);
  REQUIRE_FALSE(ec);
  fa.stream().set_nonblocking(true);
  const auto big = bytes(4 << 20, 8);
  fa.send(big, ec);
  REQUIRE_FALSE(ec);
  const std::size_t pending = fa.send_pending();
  REQUIRE(pending > 0);
  // Nobody reads yet: the rest cannot go now, so neither can the end.
  localsock::Shutdown how = localsock::Shutdown::write;
  SUBCASE("nonblocking: would_block, then done once the peer reads") {
    fa.shutdown(localsock::Shutdown::write, ec);
    CHECK(ec == errc::would_block);
  }
  SUBCASE("blocking: the write timeout passes, then done once the peer reads") {
    fa.stream().set_nonblocking(false);
    fa.stream().set_write_timeout(std::chrono::milliseconds(50), ec);
    REQUIRE_FALSE(ec);
    fa.shutdown(localsock::Shutdown::write, ec);
    CHECK(ec == errc::timed_out);
    fa.stream().set_write_timeout(std::chrono::seconds(10), ec);
    REQUIRE_FALSE(ec);
  }
  SUBCASE("both directions: the same") {
    how = localsock::Shutdown::both;
    fa.shutdown(how, ec);
    CHECK(ec == errc::would_block);
  }
  CHECK(fa.send_pending() > 0);
  // Not shut down: the stream still takes messages after the rest.
  std::vector<std::vector<std::byte>> got;
  bool end = false;
  std::error_code reader_ec;
  std::thread reader([&] {
    std::vector<std::byte> out;
    for (;;) {
      const auto r = fb.recv(out, 8 << 20, reader_ec);
      if (reader_ec || r.end) {
        end = r.end;
        return;
      }
      got.push_back(out);
    }
  });
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  for (;;) {
    fa.shutdown(how, ec);
    if (ec != errc::would_block || std::chrono::steady_clock::now() > deadline) break;
    wait_writable(fa.stream());
  }
  CHECK_FALSE(ec);
  CHECK(fa.send_pending() == 0);
  reader.join();
  CHECK_FALSE(reader_ec);
  CHECK(end);
  REQUIRE(got.size() == 1);
  CHECK(got[0] == big);
}

TEST_CASE(
    "FramedStream: connect and accept greet without waiting; a peer that does not greet is "
    "mode_mismatch") {
  const auto name = localsock::LocalName::namespaced("lfs-greet-" + std::to_string(::getpid()));
  auto listener = BasicUdListener<FramedStream>::bind(name);
  // The client connects and sends before the server accepts: nothing waits.
  auto c = FramedStream::connect(name, localsock::Timeout(1000));
  c.send(bytes(5, 1));
  auto s = listener.accept_for(localsock::Timeout(5000));
  s.send(bytes(3, 2));
  std::vector<std::byte> out;
  CHECK(s.recv(out, 64).size == 5);
  CHECK(out == bytes(5, 1));
  CHECK(c.recv(out, 64).size == 3);
  CHECK(out == bytes(3, 2));
  // A plain byte client: the framed server's receive sees its first byte is not the
  // greeting, reports mode_mismatch and shuts the connection (the client reads the
  // server's greeting, then the end).
  auto b = UdStream::connect(name, localsock::Timeout(1000));
  raw(b, {'x'});
  auto s2 = listener.accept_for(localsock::Timeout(5000));
  std::error_code ec;
  s2.recv(out, 64, ec);
  CHECK(ec == errc::mode_mismatch);
  s2.peek_size(ec);
  CHECK(ec == errc::mode_mismatch);
  std::array<std::byte, 16> in{};
  std::size_t total = 0;
  for (std::size_t n; (n = b.read_some(in)) != 0;) total += n;
  CHECK(total == FramedStream::greeting.size());
}

TEST_CASE(
    "FramedStream: a receive that finds a mismatch while another thread sends is no data race") {
  // The documented thread safety: one thread may receive while another sends. The
  // receiving thread that finds the peer's first bytes are not the greeting records it;
  // the sending thread reads that record on each send (a plain flag here is a data race
  // that ThreadSanitizer reports).
  const auto name = localsock::LocalName::namespaced("lfs-race-" + std::to_string(::getpid()));
  auto listener = BasicUdListener<UdStream>::bind(name);
  auto c = FramedStream::connect(name, localsock::Timeout(1000));
  auto server = listener.accept_for(localsock::Timeout(5000));
  std::atomic<bool> received{false};
  std::atomic<bool> mismatch_seen{false};
  std::thread sender([&] {
    std::error_code ec;
    for (;;) {
      const bool after = received.load(std::memory_order_acquire);
      c.send(bytes(4, 1), ec);
      if (after) {
        // Sent after the receive reported the mismatch: refused the same way.
        mismatch_seen = ec == errc::mode_mismatch;
        return;
      }
      std::this_thread::yield();
    }
  });
  // The byte peer drains what the client sends, so the sender never blocks.
  std::thread drain([&] {
    std::array<std::byte, 4096> in;
    std::error_code ec;
    while (server.read_some(in, ec) > 0 && !ec) {
    }
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(10));
  raw(server, {'n', 'o', 't', ' ', 'a', ' ', 'g', 'r', 'e', 'e', 't', 'i', 'n', 'g'});
  std::vector<std::byte> out;
  std::error_code ec;
  c.recv(out, 64, ec);
  CHECK(ec == errc::mode_mismatch);
  // The sender goes on sending meanwhile, with nothing else ordering its reads of the
  // record after this thread's write of it.
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  received.store(true, std::memory_order_release);
  sender.join();
  CHECK(mismatch_seen);
  server.shutdown(localsock::Shutdown::both);
  drain.join();
}

namespace {
// Moves `from` into `to`; called with one object twice, a self-move the compiler cannot see.
template <typename T>
void move_into(T& to, T& from) {
  to = std::move(from);
}
}  // namespace

TEST_CASE(
    "FramedStream: moves carry a partly sent frame; the moved-from stream and a self-move stay "
    "consistent") {
  auto [a, b] = UdStream::pair();
  FramedStream fa(std::move(a)), fb(std::move(b));
  fa.stream().set_nonblocking(true);
  // Nobody reads: a 4 MiB message is taken in part, the rest waits in the stream.
  const auto big = bytes(4 << 20, 3);
  std::error_code ec;
  fa.send(big, ec);
  REQUIRE_FALSE(ec);
  const std::size_t pending = fa.send_pending();
  REQUIRE(pending > 0);
  move_into(fa, fa);
  CHECK(fa.is_open());
  CHECK(fa.send_pending() == pending);
  FramedStream moved(std::move(fa));
  CHECK(moved.send_pending() == pending);
  CHECK(fa.send_pending() == 0);  // NOLINT(bugprone-use-after-move): moved-from is empty
  FramedStream assigned;
  assigned = std::move(moved);
  CHECK(assigned.send_pending() == pending);
  CHECK(moved.send_pending() == 0);  // NOLINT(bugprone-use-after-move)
  // The frame still arrives whole (a lost one fails the reader instead of hanging it).
  std::error_code reader_ec;
  fb.stream().set_read_timeout(std::chrono::seconds(10), reader_ec);
  REQUIRE_FALSE(reader_ec);
  std::vector<std::byte> got;
  std::thread reader([&] { (void)fb.recv(got, 8 << 20, reader_ec); });
  assigned.stream().set_nonblocking(false);
  assigned.flush(ec);
  reader.join();
  CHECK_FALSE(ec);
  CHECK_FALSE(reader_ec);
  CHECK(got == big);
}

TEST_CASE("MessageSocket: the framing state is held apart, so a MessageSocket is small") {
  // Every connection object holds a MessageSocket (the facade's, the async API's): it is
  // the size of a seqpacket socket, whatever the transport, not of the framing state.
  static_assert(sizeof(MessageSocket) <= sizeof(UdSeqpacket) + sizeof(void*));
  auto [a, b] = UdStream::pair();
  MessageSocket framed = FramedStream(std::move(a));
  REQUIRE(framed.framed() != nullptr);
  CHECK(framed.transport() == localsock::MessageTransport::framed);
  CHECK(framed.is_open());
}

TEST_CASE("MessageSocket: a moved-from framed socket is closed, and usable as one") {
  auto [a, b] = UdStream::pair();
  MessageSocket from = FramedStream(std::move(a));
  MessageSocket fb = FramedStream(std::move(b));
  const int fd = from.native_handle();
  MessageSocket to;
  SUBCASE("moved by construction") { to = MessageSocket(std::move(from)); }
  SUBCASE("moved by assignment") { to = std::move(from); }
  CHECK(to.native_handle() == fd);
  CHECK(to.framed() != nullptr);
  // NOLINTBEGIN(bugprone-use-after-move): the moved-from state is what is tested
  CHECK_FALSE(from.is_open());
  CHECK(from.framed() == nullptr);
  CHECK(from.name().empty());
  CHECK(from.send_pending() == 0);
  std::error_code ec;
  from.send(bytes(3), ec);
  CHECK(ec);
  std::byte buf[8];
  (void)from.recv(buf, ec);
  CHECK(ec);
  from.close();
  // NOLINTEND(bugprone-use-after-move)
  MessageSocket* self = &to;
  to = std::move(*self);  // moved onto itself: stays as it was
  CHECK(to.native_handle() == fd);
  CHECK(to.framed() != nullptr);
  to.send(bytes(5), ec);
  REQUIRE_FALSE(ec);
  const auto r = fb.recv(buf, ec);
  REQUIRE_FALSE(ec);
  CHECK(r.size == 5);
}
