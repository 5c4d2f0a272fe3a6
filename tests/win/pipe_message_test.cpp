// SPDX-License-Identifier: MIT
// Message-mode pipes: whole messages of every size, the needed-size report, the
// growing receive, zero-length messages versus end of stream, peeking, nonblocking
// receives, and the six stream types in every direction.
#include <localsock/win/named_pipe.hpp>

#include <windows.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <span>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "doctest_ext.hpp"
#include "pattern.hpp"
#include "unique_name.hpp"

using namespace std::chrono_literals;
using localsock::errc;
using localsock::LocalName;
using localsock::win::StreamMode;
namespace win = localsock::win;

namespace {

LocalName fresh_name() { return LocalName::namespaced(localsock::test::unique_name("lsm")); }

using localsock::test::pattern;

// A listener with one accepted server stream and its client. A fresh instance accepts a
// connection before accept() is called, so no thread is needed.
template <typename Server, typename Client>
struct Connection {
  win::PipeListener<Server> listener;
  Server server;
  Client client;
};

template <typename Server, typename Client>
Connection<Server, Client> open_connection(win::PipeListenerOptions options = {}) {
  const LocalName name = fresh_name();
  Connection<Server, Client> c;
  options.name(name).mode(Server::pipe_mode);
  c.listener = options.template create<Server>();
  c.client = Client::connect(name);
  c.server = c.listener.accept();
  return c;
}

using Duplex = Connection<win::DuplexMsgPipeStream, win::DuplexMsgPipeStream>;

}  // namespace

TEST_CASE("message pipe: sizes 0, 1, buffer-1, buffer, buffer+1 and 1 MiB arrive whole") {
  constexpr std::size_t buffer = 64 * 1024;  // the listener's buffer size hints
  auto c = open_connection<win::DuplexMsgPipeStream, win::DuplexMsgPipeStream>(
      win::PipeListenerOptions().input_buffer_size_hint(buffer).output_buffer_size_hint(buffer));
  const std::vector<std::size_t> sizes{0, 1, buffer - 1, buffer, buffer + 1, 1024 * 1024};
  // A message larger than the pipe's buffer waits for the reader: send from a thread.
  std::thread sender([&] {
    for (std::size_t i = 0; i < sizes.size(); ++i) c.client.send(pattern(sizes[i], unsigned(i)));
    c.client.close();
  });
  std::vector<std::byte> got;
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    CAPTURE(sizes[i]);
    const auto r = c.server.recv(got, 2 * 1024 * 1024);
    CHECK_FALSE(r.end);
    CHECK(r.size == sizes[i]);
    CHECK(got == pattern(sizes[i], unsigned(i)));
  }
  sender.join();
  // After the last message, end of stream: distinct from the zero-length message above.
  const auto r = c.server.recv(got, 1024);
  CHECK(r.end);
  CHECK(r.size == 0);
}

TEST_CASE("message pipe: a too-small buffer reports the size it needs and loses nothing") {
  auto c = open_connection<win::DuplexMsgPipeStream, win::DuplexMsgPipeStream>();
  const auto msg = pattern(1000, 7);
  c.client.send(msg);
  c.client.send(pattern(3, 8));
  std::byte small[10];
  std::error_code ec;
  auto r = c.server.recv(small, ec);
  CHECK(ec == errc::message_truncated);
  CHECK(r.size == 1000);
  // Asking again changes nothing; peek agrees.
  r = c.server.recv(small, ec);
  CHECK(ec == errc::message_truncated);
  CHECK(r.size == 1000);
  CHECK(c.server.peek_size(ec).size == 1000);
  CHECK_FALSE(ec);
  std::vector<std::byte> big(1000);
  r = c.server.recv(big, ec);
  CHECK_FALSE(ec);
  CHECK(r.size == 1000);
  CHECK(big == msg);
  // The next message is untouched.
  r = c.server.recv(small, ec);
  CHECK_FALSE(ec);
  CHECK(r.size == 3);
  CHECK(std::vector<std::byte>(small, small + 3) == pattern(3, 8));
}

TEST_CASE("message pipe: a held message is delivered whole by the growing receive") {
  auto c = open_connection<win::DuplexMsgPipeStream, win::DuplexMsgPipeStream>();
  const auto msg = pattern(70000, 9);
  std::thread sender([&] { c.client.send(msg); });
  std::byte small[100];
  std::error_code ec;
  CHECK(c.server.recv(small, ec).size == msg.size());
  CHECK(ec == errc::message_truncated);
  std::vector<std::byte> got;
  CHECK(c.server.recv(got, msg.size()).size == msg.size());
  CHECK(got == msg);
  sender.join();
}

TEST_CASE("message pipe: the growing receive discards an over-size message and goes on") {
  auto c = open_connection<win::DuplexMsgPipeStream, win::DuplexMsgPipeStream>();
  std::thread sender([&] {
    c.client.send(pattern(200000, 1));
    c.client.send(pattern(10, 2));
  });
  std::vector<std::byte> got;
  std::error_code ec;
  auto r = c.server.recv(got, 1000, ec);
  CHECK(ec == errc::message_too_large);
  CHECK(r.size == 200000);
  CHECK(got.empty());
  r = c.server.recv(got, 1000, ec);
  CHECK_FALSE(ec);
  CHECK(got == pattern(10, 2));
  sender.join();
  // A maximum of zero still takes zero-length messages.
  c.client.send({});
  r = c.server.recv(got, 0, ec);
  CHECK_FALSE(ec);
  CHECK(r.size == 0);
  CHECK_FALSE(r.end);
}

TEST_CASE("message pipe: zero-length messages are not end of stream; peek sees them") {
  auto c = open_connection<win::DuplexMsgPipeStream, win::DuplexMsgPipeStream>();
  c.client.send({});
  c.client.send({});
  std::error_code ec;
  auto r = c.server.peek_size(ec);
  CHECK_FALSE(ec);
  CHECK(r.size == 0);
  CHECK_FALSE(r.end);
  r = c.server.recv(localsock::MutableBuffer{}, ec);  // an empty buffer fits it
  CHECK_FALSE(ec);
  CHECK_FALSE(r.end);
  std::byte b[4];
  r = c.server.recv(b, ec);
  CHECK_FALSE(ec);
  CHECK(r.size == 0);
  CHECK_FALSE(r.end);
  c.client.close();
  r = c.server.recv(b, ec);
  CHECK_FALSE(ec);
  CHECK(r.end);
  r = c.server.peek_size(ec);
  CHECK(r.end);
}

TEST_CASE(
    "message pipe: a send that times out is whole or absent; a cut one never lets more traffic "
    "through") {
  auto c = open_connection<win::DuplexMsgPipeStream, win::DuplexMsgPipeStream>(
      win::PipeListenerOptions().input_buffer_size_hint(4096).output_buffer_size_hint(4096));
  c.server.set_write_timeout(200ms);
  c.client.set_read_timeout(300ms);
  std::error_code ec;
  // Messages that fit the pipe's buffer: the one that times out is not delivered at all,
  // the ones before it are whole, and the stream goes on.
  int sent = 0;
  while (!ec && sent < 64) {
    c.server.send(pattern(1000, unsigned(sent)), ec);
    if (!ec) ++sent;
  }
  CHECK(ec == errc::timed_out);
  std::vector<std::byte> got;
  int received = 0;
  for (;;) {
    const auto r = c.client.recv(got, 1 << 20, ec);
    if (ec || r.end) break;
    CHECK(got == pattern(1000, unsigned(received)));
    ++received;
  }
  CHECK(ec == errc::timed_out);
  CHECK(received == sent);
  c.server.send(pattern(10, 99), ec);
  REQUIRE_FALSE(ec);
  CHECK(c.client.recv(got, 1 << 20).size == 10);
  CHECK(got == pattern(10, 99));

  // A message larger than the buffer, of which the reader took a head before the send
  // timed out: the rest can never come. The reader must not wait past its timeout, and
  // must never glue what follows onto the cut message: the writer sends nothing more.
  std::thread writer([&] { c.server.send(pattern(200'000, 5), ec); });
  std::byte head[1000];
  std::error_code rec;
  CHECK(c.client.recv(head, rec).size == 200'000);
  CHECK(rec == errc::message_truncated);
  writer.join();
  CHECK(ec == errc::timed_out);
  std::error_code after;
  c.server.send(pattern(10, 6), after);
  CHECK(after);  // the sending side has failed: no traffic after a cut message
  // A guard, so that a reader that ignores its timeout does not hang the suite.
  std::atomic<bool> done{false};
  std::thread guard([&] {
    for (int i = 0; i < 60 && !done; ++i) std::this_thread::sleep_for(50ms);
    if (!done) c.server.close();
  });
  const auto start = std::chrono::steady_clock::now();
  const auto r = c.client.recv(got, 1 << 20, rec);
  const auto waited = std::chrono::steady_clock::now() - start;
  done = true;
  guard.join();
  CAPTURE(rec.message());
  CHECK(rec);
  CHECK(rec != std::errc::io_error);
  CHECK(got.empty());
  CHECK_FALSE(r.end);
  CHECK(waited < 1500ms);
  // Once the writer closes, the reader sees the end; the message after the cut never
  // shows up.
  c.server.close();
  c.client.set_read_timeout(2s);
  const auto last = c.client.recv(got, 1 << 20, rec);
  CHECK_FALSE(rec);
  CHECK(last.end);
}

TEST_CASE("message pipe: nonblocking receive says would_block, never end of stream") {
  auto c = open_connection<win::DuplexMsgPipeStream, win::DuplexMsgPipeStream>();
  c.server.set_nonblocking(true);
  std::byte b[8];
  std::error_code ec;
  auto r = c.server.recv(b, ec);
  CHECK(ec == errc::would_block);
  CHECK_FALSE(r.end);
  c.client.send({});
  r = c.server.recv(b, ec);
  CHECK_FALSE(ec);
  CHECK(r.size == 0);
  CHECK_FALSE(r.end);
  c.client.send(pattern(5, 1));
  CHECK(c.server.recv(b, ec).size == 5);
  CHECK_FALSE(ec);
  c.server.recv(b, ec);
  CHECK(ec == errc::would_block);
}

TEST_CASE("byte pipe: nonblocking read says would_block, then reads, then end of stream") {
  auto c = open_connection<win::DuplexBytePipeStream, win::DuplexBytePipeStream>();
  c.client.set_nonblocking(true);
  std::byte b[8];
  std::error_code ec;
  CHECK(c.client.read_some(b, ec) == 0);
  CHECK(ec == errc::would_block);
  c.server.write_some(pattern(3, 3));
  CHECK(c.client.read_some(b, ec) == 3);
  CHECK_FALSE(ec);
  c.server.close();
  CHECK(c.client.read_some(b, ec) == 0);
  CHECK_FALSE(ec);  // end of stream
}

namespace {
// Sends `n` bytes or messages one way and checks them on the other side.
template <typename From, typename To>
void pass_data(From& from, To& to) {
  const auto data = pattern(3000, 5);
  if constexpr (From::write_mode == StreamMode::Messages) {
    from.send(data);
    from.send(pattern(1, 6));
  } else {
    localsock::ConstBuffer rest = data;
    while (!rest.empty()) rest = rest.subspan(from.write_some(rest));
  }
  if constexpr (To::read_mode == StreamMode::Messages) {
    std::vector<std::byte> got;
    CHECK(to.recv(got, 4096).size == data.size());
    CHECK(got == data);
    CHECK(to.recv(got, 4096).size == 1);
  } else {
    std::vector<std::byte> got(data.size());
    std::size_t done = 0;
    while (done < got.size()) {
      const std::size_t n = to.read_some(std::span(got).subspan(done));
      REQUIRE(n > 0);
      done += n;
    }
    CHECK(got == data);
  }
}

template <typename Server, typename Client>
void exchange() {
  auto c = open_connection<Server, Client>();
  CHECK(c.server.is_server());
  CHECK(c.client.is_client());
  if constexpr (Client::write_mode != StreamMode::None) pass_data(c.client, c.server);
  if constexpr (Server::write_mode != StreamMode::None) pass_data(c.server, c.client);
}
}  // namespace

TEST_CASE("pipe streams: all six types, in every direction") {
  SUBCASE("bytes, client to server") {
    exchange<win::ByteReaderPipeStream, win::ByteWriterPipeStream>();
  }
  SUBCASE("bytes, server to client") {
    exchange<win::ByteWriterPipeStream, win::ByteReaderPipeStream>();
  }
  SUBCASE("bytes, duplex") { exchange<win::DuplexBytePipeStream, win::DuplexBytePipeStream>(); }
  SUBCASE("messages, client to server") {
    exchange<win::MsgReaderPipeStream, win::MsgWriterPipeStream>();
  }
  SUBCASE("messages, server to client") {
    exchange<win::MsgWriterPipeStream, win::MsgReaderPipeStream>();
  }
  SUBCASE("messages, duplex") { exchange<win::DuplexMsgPipeStream, win::DuplexMsgPipeStream>(); }
  SUBCASE("mixed: the server reads bytes and sends messages") {
    using Server = win::BasicPipeStream<StreamMode::Bytes, StreamMode::Messages>;
    using Client = win::BasicPipeStream<StreamMode::Messages, StreamMode::Bytes>;
    static_assert(Server::pipe_mode == win::PipeMode::Messages);
    exchange<Server, Client>();
  }
}

TEST_CASE("pipe streams: a one-way client cannot be opened against the wrong direction") {
  // The server only writes: a client that wants to write may not open the pipe.
  const LocalName name = fresh_name();
  auto listener = win::PipeListenerOptions().name(name).create<win::ByteWriterPipeStream>();
  std::error_code ec;
  win::ByteWriterPipeStream::connect(name, 1s, ec);
  CHECK(ec);
  CHECK(ec != errc::no_listener);
  auto ok = win::ByteReaderPipeStream::connect(name, 1s, ec);
  CHECK_FALSE(ec);
}

TEST_CASE("message pipe: release refuses while the head of a message is held; nothing is cut") {
  auto c = open_connection<win::DuplexMsgPipeStream, win::DuplexMsgPipeStream>();
  const std::vector<std::byte> msg = pattern(100, 7);
  c.server.send(msg);
  c.server.send(msg);
  std::error_code ec;
  // peek_size takes the head of the message off the pipe and holds it: a new owner of
  // the handle would receive the rest as if it were a whole message.
  CHECK(c.client.peek_size(ec).size == msg.size());
  REQUIRE_FALSE(ec);
  CHECK(c.client.release(ec) == nullptr);
  CHECK(ec == std::errc::operation_in_progress);
  REQUIRE(c.client.is_open());
  std::vector<std::byte> got;
  CHECK(c.client.recv(got, 1 << 20).size == msg.size());
  CHECK(got == msg);
  // The same after a receive into a buffer too small for the message.
  std::byte small[10];
  c.client.recv(small, ec);
  CHECK(ec == errc::message_truncated);
  CHECK(c.client.release(ec) == nullptr);
  CHECK(ec == std::errc::operation_in_progress);
  c.server.send(pattern(3, 1));
  CHECK(c.client.recv(got, 1 << 20).size == msg.size());
  CHECK(got == msg);
  // Between messages the handle goes, and the new owner gets whole messages.
  void* raw = c.client.release(ec);
  REQUIRE_FALSE(ec);
  REQUIRE(raw != nullptr);
  CHECK_FALSE(c.client.is_open());
  auto adopted = win::DuplexMsgPipeStream::adopt(raw, ec);
  REQUIRE_FALSE(ec);
  CHECK(adopted.recv(got, 1 << 20).size == 3);
  CHECK(got == pattern(3, 1));
}

TEST_CASE("pipe streams: a client whose mode does not fit the pipe gets mode_mismatch") {
  // Each attempt gets a fresh listener: a client that opened the pipe and closed it again
  // uses up the instance until the server accepts (and skips) it.
  auto attempt = [](auto server_tag, auto client_tag) {
    using Server = typename decltype(server_tag)::type;
    using Client = typename decltype(client_tag)::type;
    const LocalName name = fresh_name();
    auto listener =
        win::PipeListenerOptions().name(name).mode(Server::pipe_mode).template create<Server>();
    std::error_code ec;
    auto c = Client::connect(name, 1s, ec);
    CHECK(c.is_open() == !ec);
    return ec;
  };
  using Bytes = std::type_identity<win::DuplexBytePipeStream>;
  using Msgs = std::type_identity<win::DuplexMsgPipeStream>;
  // A message client against a byte pipe: a message reader, and a message writer.
  CHECK(attempt(Bytes{}, Msgs{}) == errc::mode_mismatch);
  CHECK(attempt(std::type_identity<win::ByteReaderPipeStream>{},
                std::type_identity<win::MsgWriterPipeStream>{}) == errc::mode_mismatch);
  // A byte client against a message pipe would lose the message boundaries.
  CHECK(attempt(Msgs{}, Bytes{}) == errc::mode_mismatch);
  CHECK(attempt(std::type_identity<win::MsgWriterPipeStream>{},
                std::type_identity<win::ByteReaderPipeStream>{}) == errc::mode_mismatch);
  // Fitting clients get in, mixed stream types included.
  CHECK_FALSE(attempt(Msgs{}, Msgs{}));
  CHECK_FALSE(attempt(Bytes{}, Bytes{}));
  CHECK_FALSE(
      attempt(std::type_identity<win::BasicPipeStream<StreamMode::Bytes, StreamMode::Messages>>{},
              std::type_identity<win::BasicPipeStream<StreamMode::Messages, StreamMode::Bytes>>{}));
}

TEST_CASE("message pipe: release refuses after a cut message; a new owner never sends behind it") {
  auto c = open_connection<win::DuplexMsgPipeStream, win::DuplexMsgPipeStream>(
      win::PipeListenerOptions().input_buffer_size_hint(4096).output_buffer_size_hint(4096));
  c.server.set_write_timeout(200ms);
  c.client.set_read_timeout(500ms);
  std::error_code ec;
  // A message larger than the buffer, cut by its timeout after the reader took a head.
  std::thread writer([&] { c.server.send(pattern(200'000, 5), ec); });
  std::byte head[1000];
  std::error_code rec;
  CHECK(c.client.recv(head, rec).size == 200'000);
  CHECK(rec == errc::message_truncated);
  writer.join();
  REQUIRE(ec == errc::timed_out);
  // The sending side has failed; handing the handle to a new owner would let it send
  // behind the cut message, as if nothing had happened.
  std::error_code rel;
  void* raw = c.server.release(rel);
  CHECK(raw == nullptr);
  CHECK(rel == std::errc::connection_aborted);
  if (raw != nullptr) {
    auto adopted = win::DuplexMsgPipeStream::adopt(raw, ec);
    REQUIRE_FALSE(ec);
    adopted.send(pattern(10, 6), ec);
    CHECK(ec);  // the message would follow the cut one
  } else {
    CHECK(c.server.is_open());
  }
}

namespace {
// Moves `from` into `to`; called with one object twice, a self-move the compiler cannot see.
template <typename T>
void move_into(T& to, T& from) {
  to = std::move(from);
}
}  // namespace

TEST_CASE(
    "message pipe: a stream moved onto itself keeps its connection and the message it holds") {
  auto c = open_connection<win::DuplexMsgPipeStream, win::DuplexMsgPipeStream>();
  c.client.send(std::as_bytes(std::span<const char>("hello", 5)));
  std::error_code ec;
  // peek_size takes the head of the message off the pipe and holds it.
  CHECK(c.server.peek_size(ec).size == 5);
  REQUIRE_FALSE(ec);
  move_into(c.server, c.server);
  CHECK(c.server.is_open());
  char buf[16]{};
  const auto r = c.server.recv(std::as_writable_bytes(std::span<char>(buf)), ec);
  REQUIRE_FALSE(ec);
  CHECK(std::string(buf, r.size) == "hello");
  // A stream with nothing held likewise.
  move_into(c.client, c.client);
  c.client.send(std::as_bytes(std::span<const char>("again", 5)));
  std::vector<std::byte> got;
  CHECK(c.server.recv(got, 100).size == 5);
}
