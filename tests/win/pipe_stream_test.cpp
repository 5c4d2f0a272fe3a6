// SPDX-License-Identifier: MIT
// Named-pipe connections: closing, raw handles (release and adopt), split halves, and
// timeouts.
#include <localsock/win/named_pipe.hpp>

#include <windows.h>
#include <winternl.h>
#include <aclapi.h>
#include <sddl.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <future>
#include <mutex>
#include <new>
#include <string>
#include <span>
#include <thread>
#include <vector>

#include <localsock/config.hpp>
#include <localsock/logging.hpp>
#include <localsock/testing.hpp>

#include "child_main.hpp"
#include "doctest_ext.hpp"
#include "pipe_server_util.hpp"
#include "process.hpp"
#include "unique_name.hpp"

using namespace std::chrono_literals;
using localsock::errc;
using localsock::LocalName;
namespace win = localsock::win;
using namespace localsock::test::pipe_server;

TEST_CASE("pipe close: what the server wrote stays readable after it closes") {
  Pair p = open_pair();
  const std::vector<std::byte> data(32 * 1024, byte_of(0x5a));  // fits the pipe buffer
  CHECK(p.server.write_some(data) == data.size());
  p.server.close();
  CHECK(read_n(p.client, data.size() + 1) == data);  // all of it, then end of stream
}

TEST_CASE("pipe close: flush waits until the peer has read; disconnect discards") {
  Pair p = open_pair();
  const std::byte data[100] = {};
  CHECK(p.server.write_some(data) == 100);
  std::atomic<bool> read_done{false};
  std::thread reader([&] {
    std::this_thread::sleep_for(200ms);
    CHECK(read_n(p.client, 100).size() == 100);
    read_done = true;
  });
  p.server.flush();
  // flush returned, so the client has taken the bytes (the reader may still be between
  // its read and setting the flag; join before looking).
  reader.join();
  CHECK(read_done);
  // disconnect_without_flushing: unread data is discarded and the client is cut off.
  CHECK(p.server.write_some(data) == 100);
  std::error_code ec;
  p.client.disconnect_without_flushing(ec);
  CHECK(ec == errc::wrong_end);
  p.server.disconnect_without_flushing(ec);
  CHECK_FALSE(ec);
  CHECK_FALSE(p.server.is_open());
  std::byte b[100];
  const std::size_t n = p.client.read_some(b, ec);
  CHECK(n == 0);  // end of stream or an error, never the discarded bytes
}

TEST_CASE("pipe handles: release and adopt; non-pipe and wrong-mode handles are errors") {
  Pair p = open_pair();
  void* raw = p.client.release();
  REQUIRE(raw != nullptr);
  CHECK_FALSE(p.client.is_open());
  std::error_code ec;
  auto adopted = win::DuplexBytePipeStream::adopt(raw, ec);
  REQUIRE_FALSE(ec);
  CHECK(adopted.is_client());
  const std::byte b[3] = {byte_of(1), byte_of(2), byte_of(3)};
  adopted.write_some(b);
  CHECK(read_n(p.server, 3) == std::vector<std::byte>(b, b + 3));

  // A byte pipe is not a message pipe; the handle stays the caller's.
  void* again = adopted.release();
  auto wrong = win::DuplexMsgPipeStream::adopt(again, ec);
  CHECK(ec == errc::mode_mismatch);
  CHECK_FALSE(wrong.is_open());
  auto back = win::DuplexBytePipeStream::adopt(again, ec);
  CHECK_FALSE(ec);
  CHECK(back.is_open());

  HANDLE event = ::CreateEventW(nullptr, TRUE, FALSE, nullptr);
  win::DuplexBytePipeStream::adopt(event, ec);
  CHECK(ec == std::errc::invalid_argument);
  CHECK(::CloseHandle(event));  // still ours to close
  win::DuplexBytePipeStream::adopt(nullptr, ec);
  CHECK(ec == std::errc::invalid_argument);
  win::DuplexBytePipeStream::adopt(INVALID_HANDLE_VALUE, ec);
  CHECK(ec == std::errc::invalid_argument);
}

TEST_CASE("pipe split: the halves work from two threads at once and reunite") {
  Pair p = open_pair();
  auto [rd, wr] = p.server.split();
  CHECK_FALSE(p.server.is_open());
  constexpr std::size_t total = 4 * 1024 * 1024;  // far more than the pipe buffers
  // The server reads and writes at the same time; the client echoes what it gets.
  std::thread echo([&] {
    std::vector<std::byte> buf(64 * 1024);
    std::size_t done = 0;
    while (done < total) {
      const std::size_t n = p.client.read_some(buf);
      if (n == 0) break;
      localsock::ConstBuffer rest(buf.data(), n);
      while (!rest.empty()) rest = rest.subspan(p.client.write_some(rest));
      done += n;
    }
  });
  std::thread writer([&wr = wr] {
    std::vector<std::byte> chunk(64 * 1024);
    for (std::size_t i = 0; i < total / chunk.size(); ++i) {
      std::memset(chunk.data(), int(i & 0xff), chunk.size());
      localsock::ConstBuffer rest = chunk;
      while (!rest.empty()) rest = rest.subspan(wr.write_some(rest));
    }
  });
  std::vector<std::byte> buf(64 * 1024);
  std::size_t got = 0;
  bool in_order = true;
  while (got < total) {
    const std::size_t n = rd.read_some(buf);
    if (n == 0) break;
    for (std::size_t i = 0; i < n; ++i)
      in_order = in_order && buf[i] == byte_of(int(((got + i) / buf.size()) & 0xff));
    got += n;
  }
  writer.join();
  echo.join();
  CHECK(got == total);
  CHECK(in_order);

  Pair other = open_pair();
  auto [rd2, wr2] = other.server.split();
  std::error_code ec;
  auto mixed = win::DuplexBytePipeStream::reunite(rd, wr2, ec);
  CHECK(ec == std::errc::invalid_argument);
  CHECK(rd.is_open());
  auto whole = win::DuplexBytePipeStream::reunite(rd, wr, ec);
  REQUIRE_FALSE(ec);
  CHECK(whole.is_server());
  CHECK_FALSE(rd.is_open());
  const std::byte one[1] = {byte_of(9)};
  whole.write_some(one);
  CHECK(read_n(p.client, 1).at(0) == byte_of(9));
}
TEST_CASE("pipe timeouts: a read times out without losing data; cancel_io wakes a reader") {
  Pair p = open_pair();
  p.client.set_read_timeout(100ms);
  CHECK(p.client.read_timeout() == 100ms);
  std::byte b[4];
  std::error_code ec;
  const auto start = std::chrono::steady_clock::now();
  CHECK(p.client.read_some(b, ec) == 0);
  CHECK(ec == errc::timed_out);
  CHECK(std::chrono::steady_clock::now() - start >= 80ms);
  const std::byte data[2] = {byte_of(1), byte_of(2)};
  p.server.write_some(data);
  CHECK(p.client.read_some(b, ec) == 2);
  CHECK_FALSE(ec);

  // A blocked read in another thread is woken by cancel_io, and the stream stays usable.
  p.client.set_read_timeout(localsock::infinite);
  std::error_code reader_ec;
  std::thread reader([&] { p.client.read_some(b, reader_ec); });
  std::this_thread::sleep_for(100ms);
  p.client.cancel_io();
  reader.join();
  CHECK(reader_ec == std::errc::operation_canceled);
  p.server.write_some(data);
  CHECK(p.client.read_some(b, ec) == 2);
}

TEST_CASE("pipe timeouts: a write to a peer that does not read times out") {
  Pair p = open_pair(
      win::PipeListenerOptions().input_buffer_size_hint(4096).output_buffer_size_hint(4096));
  p.server.set_write_timeout(200ms);
  const std::vector<std::byte> big(1024 * 1024);
  std::error_code ec;
  std::size_t sent = 0;
  for (int i = 0; i < 16 && !ec; ++i) sent += p.server.write_some(big, ec);
  CHECK(ec == errc::timed_out);
  CHECK(sent < 16 * big.size());
}

TEST_CASE(
    "pipe timeouts: a byte write that times out after a partial transfer reports what was taken") {
  // The reader takes 54,000 bytes of a 200,000-byte write, then stops. The writer must
  // count exactly what the reader can get (whatever it already read plus what sits in the
  // pipe), so that resuming from that offset keeps the stream intact.
  Pair p = open_pair(
      win::PipeListenerOptions().input_buffer_size_hint(4096).output_buffer_size_hint(4096));
  std::vector<std::byte> data(200'000);
  for (std::size_t i = 0; i < data.size(); ++i)
    data[i] = byte_of(static_cast<int>((i * 7 + i / 251) & 0xff));
  std::vector<std::byte> got;
  std::thread reader([&] { got = read_n(p.client, 54'000); });
  p.server.set_write_timeout(300ms);
  std::error_code ec;
  std::size_t sent = 0;
  while (!ec && sent < data.size()) sent += p.server.write_some(std::span(data).subspan(sent), ec);
  reader.join();
  CHECK(ec == errc::timed_out);
  REQUIRE(got.size() == 54'000);
  // What the pipe still holds, read until nothing more comes.
  p.client.set_read_timeout(200ms);
  std::byte buf[8192];
  for (;;) {
    const std::size_t n = p.client.read_some(buf, ec);
    if (ec || n == 0) break;
    got.insert(got.end(), buf, buf + n);
  }
  CHECK(ec == errc::timed_out);
  CHECK(got.size() == sent);
  REQUIRE(got.size() <= data.size());
  CHECK(std::equal(got.begin(), got.end(), data.begin()));
  // Resuming from the reported offset completes the stream intact.
  p.server.set_write_timeout(localsock::infinite);
  p.client.set_read_timeout(localsock::infinite);
  const std::size_t resume = sent;
  std::thread writer([&] {
    std::error_code wec;
    while (!wec && sent < data.size())
      sent += p.server.write_some(std::span(data).subspan(sent), wec);
  });
  const auto rest = read_n(p.client, data.size() - resume);
  writer.join();
  got.insert(got.end(), rest.begin(), rest.end());
  CHECK(got == data);
}
namespace {
// The access rights a handle was opened with (NtQueryObject needs no access itself).
ACCESS_MASK granted_access(void* handle) {
  PUBLIC_OBJECT_BASIC_INFORMATION info{};
  ULONG len = 0;
  if (::NtQueryObject(static_cast<HANDLE>(handle), ObjectBasicInformation, &info, sizeof info,
                      &len) < 0)
    return 0;
  return info.GrantedAccess;
}
}  // namespace

TEST_CASE("pipe handles: one-way clients are opened with the rights adopt needs, and adopt") {
  // GetNamedPipeInfo and GetNamedPipeHandleState need FILE_READ_ATTRIBUTES, which a
  // write-only (GENERIC_WRITE) handle lacks on Windows unless asked for; switching a
  // read-only handle to message read mode needs FILE_WRITE_ATTRIBUTES. The test looks at
  // the handle's granted access. (Wine's GENERIC_WRITE for pipes includes
  // FILE_READ_ATTRIBUTES, so there the writer's check holds either way; Wine does refuse
  // GetNamedPipeInfo on a handle without it, as the outbound server end below shows.)
  const LocalName name = fresh_name();
  auto listener = win::PipeListenerOptions().name(name).create<win::ByteReaderPipeStream>();
  auto writer = win::ByteWriterPipeStream::connect(name);
  auto server = listener.accept();
  CHECK((granted_access(writer.native_handle()) & FILE_READ_ATTRIBUTES) != 0);
  std::error_code ec;
  auto adopted = win::ByteWriterPipeStream::adopt(writer.release(), ec);
  REQUIRE_FALSE(ec);
  CHECK(adopted.is_client());
  const std::byte b[2] = {byte_of(4), byte_of(5)};
  adopted.write_some(b);
  CHECK(read_n(server, 2) == std::vector<std::byte>(b, b + 2));

  const LocalName mname = fresh_name();
  auto mlistener = win::PipeListenerOptions()
                       .name(mname)
                       .mode(win::PipeMode::Messages)
                       .create<win::MsgWriterPipeStream>();
  auto reader = win::MsgReaderPipeStream::connect(mname);
  auto mserver = mlistener.accept();
  const ACCESS_MASK rights = granted_access(reader.native_handle());
  CHECK((rights & FILE_READ_ATTRIBUTES) != 0);
  CHECK((rights & FILE_WRITE_ATTRIBUTES) != 0);
  auto madopted = win::MsgReaderPipeStream::adopt(reader.release(), ec);
  REQUIRE_FALSE(ec);
  mserver.send(b);
  std::vector<std::byte> got;
  CHECK(madopted.recv(got, 16).size == 2);

  // The server end of an outbound pipe: Windows gives it write access only, so its type
  // cannot be read; adopt says so (on every runtime) and leaves the handle to the caller.
  void* raw = mserver.release();
  auto refused = win::MsgWriterPipeStream::adopt(raw, ec);
  CHECK(ec == errc::access_denied);
  CHECK_FALSE(refused.is_open());
  CHECK(::CloseHandle(static_cast<HANDLE>(raw)));
}

TEST_CASE("pipe handles: a handle not opened for overlapped I/O is refused by adopt") {
  const LocalName name = fresh_name();
  auto listener = win::PipeListenerOptions().name(name).create<win::DuplexBytePipeStream>();
  const std::wstring path = L"\\\\.\\pipe\\" + std::wstring(name.str().begin(), name.str().end());
  HANDLE h = ::CreateFileW(path.c_str(), GENERIC_READ | GENERIC_WRITE, 0, nullptr, OPEN_EXISTING, 0,
                           nullptr);
  REQUIRE(h != INVALID_HANDLE_VALUE);
  std::error_code ec;
  auto s = win::DuplexBytePipeStream::adopt(h, ec);
  // Timeouts, cancel_io, nonblocking mode and split all need overlapped I/O.
  CHECK(ec == std::errc::operation_not_supported);
  CHECK_FALSE(s.is_open());
  CHECK(::CloseHandle(h));
}

TEST_CASE("pipe streams: the next streams reuse the events of streams that have gone") {
  // A blocking stream waits for its overlapped reads and writes on an event per
  // direction. Making and closing those events was a third of the wineserver requests
  // of a connect cycle, so a stream that goes leaves them to its thread's next streams.
  // Seen in the handle count: with none kept (the pool emptied first), the first
  // exchange makes its four events (client and server, read and write), the second
  // finds them and opens only its pipe handles. (Before, both exchanges made and closed
  // their own.)
  localsock::test::release_library_caches();
  const LocalName name = fresh_name();
  auto listener = win::PipeListenerOptions().name(name).create<win::DuplexBytePipeStream>();
  long first = -1, second = -1;
  std::thread([&] {
    const auto handles = [] { return localsock::test::handles_in_table(); };
    const auto exchange = [&] {
      const long before = handles();
      auto client = win::DuplexBytePipeStream::connect(name);
      auto server = listener.accept();
      const std::byte b[1] = {byte_of(7)};
      CHECK(client.write_some(b) == 1);
      CHECK(read_n(server, 1).size() == 1);
      CHECK(server.write_some(b) == 1);
      CHECK(read_n(client, 1).size() == 1);
      return handles() - before;  // while both streams are open, events in use
    };
    first = exchange();
    second = exchange();
  }).join();
  CAPTURE(first);
  CAPTURE(second);
  REQUIRE(localsock::test::handles_in_table() >= 0);
  CHECK(first - second == 4);
}

TEST_CASE("pipe streams: threads that used streams end without leaking their events") {
  // The events kept for reuse belong to no thread's storage: a thread that used
  // blocking streams and ended leaves at most the few the library keeps, never one per
  // thread, and its end touches nothing it freed. (Kept in a thread_local with a
  // destructor, they crashed at thread exit now and then: mingw-w64 may free
  // thread_local storage before running its destructor.)
  const LocalName name = fresh_name();
  auto listener = win::PipeListenerOptions().name(name).create<win::DuplexBytePipeStream>();
  const auto exchange = [&] {
    auto client = win::DuplexBytePipeStream::connect(name);
    auto server = listener.accept();
    const std::byte b[1] = {byte_of(7)};
    CHECK(client.write_some(b) == 1);
    CHECK(read_n(server, 1).size() == 1);
  };
  std::thread(exchange).join();  // what the library keeps, made once
  const long before = localsock::test::handles_in_table();
  REQUIRE(before >= 0);
  for (int i = 0; i < 64; ++i) std::thread(exchange).join();
  const long after = localsock::test::handles_in_table();
  CAPTURE(before);
  CAPTURE(after);
  CHECK(after - before <= 0);
}

TEST_CASE(
    "pipe split: an emptied or default-constructed half reports not_connected, never crashes") {
  Pair p = open_pair();
  auto [rd, wr] = p.server.split();
  std::error_code ec;
  auto whole = win::DuplexBytePipeStream::reunite(rd, wr, ec);
  REQUIRE_FALSE(ec);
  // The halves are empty now: every call is an error, and name() is empty.
  std::byte buf[4]{};
  CHECK(rd.read_some(buf, ec) == 0);
  CHECK(ec == errc::not_connected);
  CHECK_THROWS_AS(rd.read_some(buf), localsock::Error);
  CHECK(wr.write_some(buf, ec) == 0);
  CHECK(ec == errc::not_connected);
  wr.flush(ec);
  CHECK(ec == errc::not_connected);
  CHECK_THROWS_AS(wr.flush(), localsock::Error);
  CHECK(rd.name().empty());
  CHECK(wr.name().empty());
  CHECK_FALSE(rd.is_open());
  // A default-constructed message half likewise.
  win::DuplexMsgPipeStream::ReadHalf mr;
  (void)mr.recv(buf, ec);
  CHECK(ec == errc::not_connected);
  (void)mr.peek_size(ec);
  CHECK(ec == errc::not_connected);
  win::DuplexMsgPipeStream::WriteHalf mw;
  mw.send(buf, ec);
  CHECK(ec == errc::not_connected);
  CHECK(mw.name().empty());
  // Reuniting two empty halves gives an empty stream, as the facade does.
  auto none = win::DuplexMsgPipeStream::reunite(mr, mw, ec);
  CHECK_FALSE(ec);
  CHECK_FALSE(none.is_open());
}
