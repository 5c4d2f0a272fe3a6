// SPDX-License-Identifier: MIT
#include <localsock/win/named_pipe.hpp>

#include <windows.h>

#include <cctype>
#include <chrono>
#include <span>
#include <string>
#include <thread>
#include <type_traits>

#include "doctest_ext.hpp"
#include "unique_name.hpp"

using namespace std::chrono_literals;
using localsock::errc;
using localsock::LocalName;
namespace win = localsock::win;

namespace {
template <typename S>
concept CanRead = requires(S s, localsock::MutableBuffer b) {
  s.read_some(b);
};
template <typename S>
concept CanWrite = requires(S s, localsock::ConstBuffer b) {
  s.write_some(b);
};

LocalName fresh_name() { return LocalName::namespaced(localsock::test::unique_name()); }
}  // namespace

TEST_CASE("named pipe: stream types carry their role and modes at compile time") {
  static_assert(win::DuplexBytePipeStream::role == win::PipeStreamRole::ReaderAndWriter);
  static_assert(win::ByteReaderPipeStream::role == win::PipeStreamRole::Reader);
  static_assert(win::MsgWriterPipeStream::role == win::PipeStreamRole::Writer);
  static_assert(win::DuplexMsgPipeStream::read_mode == win::StreamMode::Messages);
  static_assert(win::PipeStream<win::ByteWriterPipeStream>);
  // Reading from a writer-only stream does not compile.
  static_assert(!CanRead<win::ByteWriterPipeStream>);
  static_assert(!CanWrite<win::ByteReaderPipeStream>);
  static_assert(CanRead<win::DuplexBytePipeStream> && CanWrite<win::DuplexBytePipeStream>);
  CHECK(true);
}

TEST_CASE("pipe split: halves are move-only, like the facade's") {
  // Two copies of one read half would share its event and its held message without
  // any synchronisation.
  using ReadHalf = win::DuplexBytePipeStream::ReadHalf;
  using WriteHalf = win::DuplexMsgPipeStream::WriteHalf;
  static_assert(!std::is_copy_constructible_v<ReadHalf>);
  static_assert(!std::is_copy_assignable_v<ReadHalf>);
  static_assert(!std::is_copy_constructible_v<WriteHalf>);
  static_assert(!std::is_copy_assignable_v<WriteHalf>);
  static_assert(std::is_nothrow_move_constructible_v<ReadHalf>);
  static_assert(std::is_nothrow_move_assignable_v<WriteHalf>);
  CHECK(true);
}

TEST_CASE("named pipe: a second listener on a live name is refused (also under Wine)") {
  const LocalName name = fresh_name();
  auto first = win::PipeListenerOptions().name(name).create<win::DuplexBytePipeStream>();
  std::error_code ec;
  auto second = win::PipeListenerOptions().name(name).create<win::DuplexBytePipeStream>(ec);
  CHECK(ec == errc::name_in_use);
  CHECK_FALSE(second.is_open());
  // The first still serves.
  std::thread t([&] { first.accept(); });
  auto c = win::DuplexBytePipeStream::connect(name);
  t.join();
  CHECK(c.is_client());
}

TEST_CASE("named pipe: names are case-insensitive: NAME reaches the listener of name") {
  const std::string base = localsock::test::unique_name("case");
  std::string upper = base;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  auto listener = win::PipeListenerOptions()
                      .name(LocalName::namespaced(base))
                      .create<win::DuplexBytePipeStream>();
  std::error_code ec;
  auto c = win::DuplexBytePipeStream::connect(LocalName::namespaced(upper), 1s, ec);
  CHECK_FALSE(ec);
  CHECK(c.is_open());
  win::PipeListenerOptions()
      .name(LocalName::namespaced(upper))
      .create<win::DuplexBytePipeStream>(ec);
  CHECK(ec == errc::name_in_use);
}

TEST_CASE("named pipe: a mode that does not fit the stream type is a clear error") {
  std::error_code ec;
  win::PipeListenerOptions()
      .name(fresh_name())
      .mode(win::PipeMode::Messages)
      .create<win::DuplexBytePipeStream>(ec);
  CHECK(ec == std::errc::invalid_argument);
}

TEST_CASE("named pipe: a busy pipe is waited for within the timeout, then timed_out") {
  const LocalName name = fresh_name();
  auto listener =
      win::PipeListenerOptions().name(name).instance_limit(1).create<win::DuplexBytePipeStream>();
  win::DuplexBytePipeStream server;  // holds the only instance
  std::thread t([&] { server = listener.accept(); });
  auto first = win::DuplexBytePipeStream::connect(name);
  t.join();
  const auto start = std::chrono::steady_clock::now();
  std::error_code ec;
  auto second = win::DuplexBytePipeStream::connect(name, 300ms, ec);
  const auto waited = std::chrono::steady_clock::now() - start;
  CHECK(ec == errc::timed_out);
  CHECK(waited >= 250ms);
  CHECK(waited < 10s);
}

TEST_CASE("named pipe: half-close is not supported; shutdown(both) ends the connection") {
  const LocalName name = fresh_name();
  auto listener = win::PipeListenerOptions().name(name).create<win::DuplexBytePipeStream>();
  win::DuplexBytePipeStream server;
  std::thread t([&] { server = listener.accept(); });
  auto client = win::DuplexBytePipeStream::connect(name);
  t.join();
  std::error_code ec;
  client.shutdown(localsock::Shutdown::write, ec);
  CHECK(ec == errc::not_supported);
  client.shutdown(localsock::Shutdown::both, ec);
  CHECK_FALSE(ec);
  std::byte b[4];
  CHECK(server.read_some(b, ec) == 0);  // the server sees end of stream
  CHECK_FALSE(ec);
  CHECK(client.read_some(b, ec) == 0);
  CHECK_FALSE(ec);
  client.write_some(b, ec);
  CHECK(ec == errc::peer_closed);
}

TEST_CASE("named pipe: accept_for times out, and a later accept still gets the client") {
  const LocalName name = fresh_name();
  auto listener = win::PipeListenerOptions().name(name).create<win::DuplexBytePipeStream>();
  std::error_code ec;
  listener.accept_for(50ms, ec);
  CHECK(ec == errc::timed_out);
  auto client = win::DuplexBytePipeStream::connect(name);
  auto server = listener.accept_for(5s, ec);
  CHECK_FALSE(ec);
  CHECK(server.is_server());
}

TEST_CASE("errc: Win32 errors keep their value and match their condition") {
  const std::error_code nf(ERROR_FILE_NOT_FOUND, std::system_category());
  CHECK(nf == errc::no_listener);
  CHECK(std::error_code(ERROR_BROKEN_PIPE, std::system_category()) == errc::peer_closed);
  CHECK(std::error_code(ERROR_NO_DATA, std::system_category()) == errc::peer_closed);
  CHECK(std::error_code(ERROR_PIPE_BUSY, std::system_category()) == errc::pipe_busy);
  CHECK(std::error_code(ERROR_MORE_DATA, std::system_category()) == errc::message_truncated);
  const localsock::Error e(nf, "LocalSocket::connect", "x");
  const std::string what = e.what();
  CHECK(what.rfind("LocalSocket::connect 'x': ", 0) == 0);
  CHECK(what.find("(2)") != std::string::npos);
}

TEST_CASE("PipeDirection: absolute directions map to relative roles and back") {
  using win::PipeDirection;
  using win::PipeStreamRole;
  CHECK(win::server_role(PipeDirection::ClientToServer) == PipeStreamRole::Reader);
  CHECK(win::client_role(PipeDirection::ClientToServer) == PipeStreamRole::Writer);
  CHECK(win::server_role(PipeDirection::ServerToClient) == PipeStreamRole::Writer);
  CHECK(win::client_role(PipeDirection::Duplex) == PipeStreamRole::ReaderAndWriter);
  for (auto d :
       {PipeDirection::ClientToServer, PipeDirection::ServerToClient, PipeDirection::Duplex}) {
    CHECK(win::direction_as_server(win::server_role(d)) == d);
    CHECK(win::direction_as_client(win::client_role(d)) == d);
  }
}

TEST_CASE("PipeDirection: PIPE_ACCESS_* conversions, with an error for a bad value") {
  using win::PipeDirection;
  CHECK(win::to_pipe_access(PipeDirection::ClientToServer) == PIPE_ACCESS_INBOUND);
  CHECK(win::to_pipe_access(PipeDirection::ServerToClient) == PIPE_ACCESS_OUTBOUND);
  CHECK(win::to_pipe_access(PipeDirection::Duplex) == PIPE_ACCESS_DUPLEX);
  std::error_code ec;
  CHECK(win::direction_from_pipe_access(PIPE_ACCESS_OUTBOUND | FILE_FLAG_OVERLAPPED, ec) ==
        PipeDirection::ServerToClient);
  CHECK_FALSE(ec);
  win::direction_from_pipe_access(FILE_FLAG_OVERLAPPED, ec);
  CHECK(ec == std::errc::invalid_argument);
}

TEST_CASE("PipeDirection, PipeStreamRole, PipeMode: the conversions are constexpr") {
  using win::PipeDirection;
  using win::PipeStreamRole;
  static_assert(win::server_role(PipeDirection::ClientToServer) == PipeStreamRole::Reader);
  static_assert(win::client_role(PipeDirection::ClientToServer) == PipeStreamRole::Writer);
  static_assert(win::server_role(PipeDirection::Duplex) == PipeStreamRole::ReaderAndWriter);
  static_assert(win::direction_as_server(PipeStreamRole::Writer) == PipeDirection::ServerToClient);
  static_assert(win::direction_as_client(PipeStreamRole::Writer) == PipeDirection::ClientToServer);
  static_assert(win::to_pipe_access(PipeDirection::ClientToServer) == PIPE_ACCESS_INBOUND);
  static_assert(win::to_pipe_access(PipeDirection::Duplex) == PIPE_ACCESS_DUPLEX);
  static_assert(win::to_pipe_type(win::PipeMode::Messages) == PIPE_TYPE_MESSAGE);
  static_assert(win::to_read_mode(win::PipeMode::Messages) == PIPE_READMODE_MESSAGE);
  static_assert(win::to_read_mode(win::PipeMode::Bytes) == PIPE_READMODE_BYTE);
  CHECK(true);
}

TEST_CASE("PipeMode: from a PIPE_TYPE_* value, with an error for any other value") {
  std::error_code ec;
  CHECK(win::pipe_mode_from_pipe_type(PIPE_TYPE_MESSAGE, ec) == win::PipeMode::Messages);
  CHECK_FALSE(ec);
  CHECK(win::pipe_mode_from_pipe_type(PIPE_TYPE_BYTE, ec) == win::PipeMode::Bytes);
  CHECK_FALSE(ec);
  for (const std::uint32_t bad :
       {1u, 2u, 8u, static_cast<std::uint32_t>(PIPE_TYPE_MESSAGE | PIPE_READMODE_MESSAGE),
        0xffffffffu}) {
    CAPTURE(bad);
    win::pipe_mode_from_pipe_type(bad, ec);
    CHECK(ec == std::errc::invalid_argument);
  }
}

TEST_CASE("PipeMode: pipe type and read mode values") {
  CHECK(win::to_pipe_type(win::PipeMode::Bytes) == PIPE_TYPE_BYTE);
  CHECK(win::to_pipe_type(win::PipeMode::Messages) == PIPE_TYPE_MESSAGE);
  CHECK(win::to_read_mode(win::PipeMode::Bytes) == PIPE_READMODE_BYTE);
  CHECK(win::to_read_mode(win::PipeMode::Messages) == PIPE_READMODE_MESSAGE);
}

TEST_CASE("named pipe: names that are not UTF-8 are refused, so two of them never reach one pipe") {
  // A pipe name is UTF-16: a byte that starts no valid UTF-8 sequence would become
  // U+FFFD, and 'x\xff' and 'x\xfe' would both be the pipe 'x\uFFFD'.
  const std::string base = localsock::test::unique_name("utf");
  std::error_code ec;
  const LocalName a = LocalName::namespaced(base + "\xff", ec);
  CHECK(ec == errc::invalid_name);
  if (!ec) {
    auto listener = win::PipeListenerOptions().name(a).create<win::DuplexBytePipeStream>();
    auto c = win::DuplexBytePipeStream::connect(LocalName::namespaced(base + "\xfe"), 200ms, ec);
    CHECK_FALSE(c.is_open());  // reached the listener of another name
  }
  for (const std::string bad : {"\xc3", "\xc3(", "\xed\xa0\x80", "\xc0\xaf"}) {
    CAPTURE(bad.size());
    LocalName::namespaced(base + bad, ec);
    CHECK(ec == errc::invalid_name);
  }
  LocalName::namespaced(base + "\xc3\xa4", ec);  // a valid two-byte sequence
  CHECK_FALSE(ec);
}

TEST_CASE("named pipe: the 256-character limit counts characters, not UTF-8 bytes") {
  // \\.\pipe\ is 9 characters: 247 more fill the limit, whatever their UTF-8 length.
  std::string name = localsock::test::unique_name("u");
  const std::size_t room = 247 - name.size();
  for (std::size_t i = 0; i < room; ++i) name += "\xc3\xa4";  // U+00E4, two bytes each
  std::error_code ec;
  const LocalName full = LocalName::namespaced(name, ec);
  REQUIRE_FALSE(ec);
  auto listener = win::PipeListenerOptions().name(full).create<win::DuplexBytePipeStream>();
  auto c = win::DuplexBytePipeStream::connect(full, 1s, ec);
  CHECK_FALSE(ec);
  LocalName::namespaced(name + "\xc3\xa4", ec);
  CHECK(ec == errc::name_too_long);
}

TEST_CASE(
    "named pipe: peek_size and accept_for have both overloads; the throwing ones name the "
    "operation") {
  const LocalName name = fresh_name();
  auto listener = win::PipeListenerOptions()
                      .name(name)
                      .mode(win::PipeMode::Messages)
                      .create<win::DuplexMsgPipeStream>();
  try {
    (void)listener.accept_for(20ms);
    FAIL("accept_for did not throw");
  } catch (const localsock::Error& e) {
    CHECK(e.code() == errc::timed_out);
    CHECK(std::string(e.what()).find("PipeListener::accept_for") != std::string::npos);
  }
  auto client = win::DuplexMsgPipeStream::connect(name);
  win::DuplexMsgPipeStream server = listener.accept_for(5s);
  CHECK(server.is_server());
  client.send(std::as_bytes(std::span<const char>("abc", 3)));
  CHECK(server.peek_size().size == 3);
  std::error_code ec;
  CHECK(server.peek_size(ec).size == 3);
  CHECK_FALSE(ec);
  server.close();
  try {
    (void)server.peek_size();
    FAIL("peek_size on a closed stream did not throw");
  } catch (const localsock::Error& e) {
    CHECK(e.code() == errc::not_connected);
    CHECK(std::string(e.what()).find("PipeStream::peek_size") != std::string::npos);
  }
}
