// SPDX-License-Identifier: MIT
// Named-pipe listeners: incoming(), instance limits, busy storms, dead-on-arrival
// clients, security descriptors, close from another thread, shared names.
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

// While set, freed memory is overwritten, so that a use after free reads garbage instead
// of the old contents (there is no AddressSanitizer for this build). This executable
// replaces the global allocation functions for that; the library is linked in
// statically, so its frees come here too.
std::atomic<bool> poison_frees{false};

void* operator new(std::size_t n) {
  if (void* p = ::HeapAlloc(::GetProcessHeap(), 0, n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n) { return ::operator new(n); }
void operator delete(void* p) noexcept {
  if (p == nullptr) return;
  if (poison_frees.load()) std::memset(p, 0xdd, ::HeapSize(::GetProcessHeap(), 0, p));
  ::HeapFree(::GetProcessHeap(), 0, p);
}
void operator delete[](void* p) noexcept { ::operator delete(p); }
void operator delete(void* p, std::size_t) noexcept { ::operator delete(p); }
void operator delete[](void* p, std::size_t) noexcept { ::operator delete(p); }

TEST_CASE("pipe listener: incoming() accepts in a range-for until the listener closes") {
  const LocalName name = fresh_name();
  auto listener = win::PipeListenerOptions().name(name).create<win::DuplexBytePipeStream>();
  std::thread clients([&] {
    for (int i = 0; i < 3; ++i) {
      auto c = win::DuplexBytePipeStream::connect(name);
      const std::byte b[1] = {byte_of(i)};
      c.write_some(b);
      std::byte r[1];
      read_n(c, 1);  // wait for the server to have read it
      (void)r;
    }
  });
  int served = 0;
  for (auto& s : listener.incoming()) {
    std::byte b[1];
    CHECK(s.read_some(b) == 1);
    CHECK(b[0] == byte_of(served));
    s.write_some(b);
    if (++served == 3) listener.close();
  }
  clients.join();
  CHECK(served == 3);
}

TEST_CASE("pipe listener: the deprecated free connect returns at once when busy") {
  const LocalName name = fresh_name();
  auto listener =
      win::PipeListenerOptions().name(name).instance_limit(1).create<win::DuplexBytePipeStream>();
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
  auto first = win::connect<win::DuplexBytePipeStream>(name);
  CHECK(first.is_client());
  const auto start = std::chrono::steady_clock::now();
  CHECK_THROWS_AS(win::connect<win::DuplexBytePipeStream>(name), localsock::Error);
#pragma GCC diagnostic pop
  CHECK(std::chrono::steady_clock::now() - start < 2s);
}

TEST_CASE("pipe listener: a full pipe path and a bare name reach the same pipe") {
  const LocalName name = fresh_name();
  auto listener = win::PipeListenerOptions().name(name).create<win::DuplexBytePipeStream>();
  auto c = win::DuplexBytePipeStream::connect(LocalName::namespaced("\\\\.\\pipe\\" + name.str()));
  CHECK(c.is_client());
  auto s = listener.accept();
  CHECK(s.is_server());
}

TEST_CASE("pipe listener: instance_limit N means N live connections, and waiting clients get in") {
  for (unsigned limit : {1u, 2u, 4u}) {
    CAPTURE(limit);
    const LocalName name = fresh_name();
    auto listener = win::PipeListenerOptions()
                        .name(name)
                        .instance_limit(static_cast<std::uint8_t>(limit))
                        .create<win::DuplexBytePipeStream>();
    std::vector<win::DuplexBytePipeStream> servers, clients;
    for (unsigned i = 0; i < limit; ++i) {
      clients.push_back(win::DuplexBytePipeStream::connect(name, 5s));
      servers.push_back(listener.accept());
    }
    // All N are live; one more client waits and times out.
    std::error_code ec;
    win::DuplexBytePipeStream::connect(name, 200ms, ec);
    CHECK(ec == errc::timed_out);
    // So does accept: no instance may be created while N connections live.
    listener.accept_for(100ms, ec);
    CHECK(ec == errc::timed_out);
    // A client waiting within its timeout gets in once a connection closes.
    win::DuplexBytePipeStream late;
    std::thread waiter([&] { late = win::DuplexBytePipeStream::connect(name, 20s); });
    std::this_thread::sleep_for(100ms);
    servers.front().close();
    auto s = listener.accept_for(20s, ec);
    waiter.join();
    CHECK_FALSE(ec);
    CHECK(late.is_open());
    const std::byte b[1] = {byte_of(7)};
    late.write_some(b);
    CHECK(read_n(s, 1).at(0) == byte_of(7));
  }
}

TEST_CASE("pipe listener: a busy storm of 64 clients against 2 instances all get served") {
  const LocalName name = fresh_name();
  auto listener = win::PipeListenerOptions()
                      .name(name)
                      .instance_limit(2)
                      .wait_timeout(10ms)
                      .create<win::DuplexBytePipeStream>();
  constexpr int clients = 64;
  std::atomic<int> ok{0};
  std::thread server([&] {
    for (int i = 0; i < clients; ++i) {
      std::error_code ec;
      auto s = listener.accept_for(30s, ec);
      if (ec) break;
      std::byte b[1];
      if (s.read_some(b, ec) == 1) s.write_some(b, ec);
    }
  });
  std::vector<std::thread> threads;
  for (int i = 0; i < clients; ++i) {
    threads.emplace_back([&, i] {
      std::error_code ec;
      auto c = win::DuplexBytePipeStream::connect(name, 30s, ec);
      if (ec) return;
      const std::byte b[1] = {byte_of(i)};
      c.write_some(b, ec);
      std::byte r[1];
      if (!ec && c.read_some(r, ec) == 1 && r[0] == b[0]) ++ok;
    });
  }
  for (auto& t : threads) t.join();
  server.join();
  CHECK(ok == clients);
}

TEST_CASE(
    "pipe listener: instance_limit(1) with 40 clients and 4 accepting threads: nobody sees "
    "no_listener") {
  // The only instance closes and the next accept creates another: clients that arrive
  // in between must wait within their connect timeout like those that found it busy.
  // The server answers and closes first, and each client connects again at once, so
  // fresh connects keep landing in that moment.
  const LocalName name = fresh_name();
  auto listener =
      win::PipeListenerOptions().name(name).instance_limit(1).create<win::DuplexBytePipeStream>();
  constexpr int clients = 40;
  constexpr int rounds = 5;
  std::atomic<int> served{0};
  std::vector<std::thread> acceptors;
  for (int t = 0; t < 4; ++t) {
    acceptors.emplace_back([&] {
      for (;;) {
        std::error_code ec;
        auto s = listener.accept(ec);
        if (ec) return;  // closed
        std::byte b[1];
        if (s.read_some(b, ec) == 1) s.write_some(b, ec);
        s.close();
        ++served;
      }
    });
  }
  std::atomic<int> ok{0};
  std::atomic<int> no_listener{0};
  std::atomic<int> other{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < clients; ++i) {
    threads.emplace_back([&, i] {
      for (int r = 0; r < rounds; ++r) {
        std::error_code ec;
        auto c = win::DuplexBytePipeStream::connect(name, 10s, ec);
        if (ec) {
          ++(ec == errc::no_listener ? no_listener : other);
          continue;
        }
        const std::byte b[1] = {byte_of(i + r)};
        c.write_some(b, ec);
        std::byte got[1];
        if (!ec && c.read_some(got, ec) == 1 && got[0] == b[0]) ++ok;
      }
    });
  }
  for (auto& t : threads) t.join();
  listener.close();
  for (auto& t : acceptors) t.join();
  CHECK(no_listener.load() == 0);
  CHECK(other.load() == 0);
  CHECK(ok.load() == clients * rounds);
}

TEST_CASE("pipe listener: a client that left before accept does not poison the listener") {
  const LocalName name = fresh_name();
  auto listener = win::PipeListenerOptions().name(name).create<win::DuplexBytePipeStream>();
  {
    auto gone = win::DuplexBytePipeStream::connect(name);
  }  // connected to the waiting instance and closed before accept
  std::thread good([&] {
    auto c = win::DuplexBytePipeStream::connect(name, 10s);
    const std::byte b[1] = {byte_of(42)};
    c.write_some(b);
    read_n(c, 1);
  });
  std::error_code ec;
  auto s = listener.accept_for(10s, ec);
  REQUIRE_FALSE(ec);
  std::byte b[1];
  // Either accept skipped the dead client, or it handed it over and the next one is
  // the good client: the listener must keep serving in both cases.
  if (s.read_some(b, ec) == 0) {
    s = listener.accept_for(10s, ec);
    REQUIRE_FALSE(ec);
    CHECK(s.read_some(b) == 1);
  }
  CHECK(b[0] == byte_of(42));
  s.write_some(b);
  good.join();
}

namespace {
std::string dacl_of(void* handle) {
  PSECURITY_DESCRIPTOR sd = nullptr;
  PACL dacl = nullptr;
  if (::GetSecurityInfo(static_cast<HANDLE>(handle), SE_KERNEL_OBJECT, DACL_SECURITY_INFORMATION,
                        nullptr, nullptr, &dacl, nullptr, &sd) != ERROR_SUCCESS)
    return "GetSecurityInfo failed";
  char* text = nullptr;
  std::string out = "conversion failed";
  if (::ConvertSecurityDescriptorToStringSecurityDescriptorA(
          sd, SDDL_REVISION_1, DACL_SECURITY_INFORMATION, &text, nullptr)) {
    out = text;
    ::LocalFree(text);
  }
  ::LocalFree(sd);
  return out;
}
}  // namespace

TEST_CASE("pipe listener: the SDDL descriptor is on every instance; a bad one is an error") {
  const LocalName name = fresh_name();
  // Full access for the owner and for Everyone (WD); read access for Anonymous (AN).
  auto listener = win::PipeListenerOptions()
                      .name(name)
                      .security_descriptor("D:(A;;GA;;;OW)(A;;GA;;;WD)(A;;GR;;;AN)")
                      .create<win::DuplexBytePipeStream>();
  std::vector<win::DuplexBytePipeStream> keep;
  for (int i = 0; i < 2; ++i) {
    keep.push_back(win::DuplexBytePipeStream::connect(name));
    auto s = listener.accept();
    const std::string dacl = dacl_of(s.native_handle());
    CAPTURE(dacl);
    CHECK(dacl.rfind("D:", 0) == 0);
    CHECK(dacl.find(";;;WD)") != std::string::npos);
    CHECK(dacl.find(";;;AN)") != std::string::npos);
    keep.push_back(std::move(s));
  }
  std::error_code ec;
  win::PipeListenerOptions()
      .name(fresh_name())
      .security_descriptor("D:(nonsense")
      .create<win::DuplexBytePipeStream>(ec);
  CHECK(ec);
}

TEST_CASE("pipe listener: close from another thread stops a blocked accept") {
  const LocalName name = fresh_name();
  auto listener = win::PipeListenerOptions().name(name).create<win::DuplexBytePipeStream>();
  std::error_code ec;
  std::thread t([&] { listener.accept(ec); });
  std::this_thread::sleep_for(100ms);
  listener.close();
  t.join();
  CHECK(ec == errc::listener_closed);
  // The name is free again.
  auto again = win::PipeListenerOptions().name(name).create<win::DuplexBytePipeStream>(ec);
  CHECK_FALSE(ec);
}

TEST_CASE("pipe listener: destroyed right after close from another thread while accept waits") {
  const LocalName name = fresh_name();
  // The waiting accept logs its failure on its way out; the hook holds it there until
  // the listener is destroyed (or 300 ms passed, for a library that logs while close()
  // still waits for the accept), so that whatever accept touches afterwards is freed.
  std::mutex m;
  std::condition_variable cv;
  bool destroyed = false;
  localsock::set_log_callback([&](localsock::LogLevel, std::string_view line) {
    if (line.find("accept on") == std::string_view::npos) return;
    std::unique_lock lock(m);
    cv.wait_for(lock, 300ms, [&] { return destroyed; });
  });
  using Listener = win::PipeListener<win::DuplexBytePipeStream>;
  auto listener = std::make_unique<Listener>(
      win::PipeListenerOptions().name(name).create<win::DuplexBytePipeStream>());
  std::string what;
  std::thread t([&, l = listener.get()] {
    try {
      l->accept();
    } catch (const localsock::Error& e) {
      what = e.what();
    }
  });
  std::this_thread::sleep_for(100ms);
  listener->close();
  poison_frees = true;
  listener.reset();
  poison_frees = false;
  {
    std::lock_guard lock(m);
    destroyed = true;
  }
  cv.notify_all();
  t.join();
  localsock::set_log_callback({});
  CHECK(what.find(name.str()) != std::string::npos);
  CHECK(what.find("PipeListener::accept") != std::string::npos);
}

TEST_CASE("pipe listener: accept_for keeps its deadline while another thread waits in accept()") {
  const LocalName name = fresh_name();
  auto listener = win::PipeListenerOptions().name(name).create<win::DuplexBytePipeStream>();
  std::error_code waiting_ec;
  std::thread waiting([&] { listener.accept(waiting_ec); });
  std::this_thread::sleep_for(100ms);  // the other accept is waiting for a client
  // A guard, so that an accept_for that ignores its deadline does not hang the test.
  std::atomic<bool> done{false};
  std::thread guard([&] {
    for (int i = 0; i < 60 && !done; ++i) std::this_thread::sleep_for(50ms);
    listener.close();
  });
  std::error_code ec;
  const auto start = std::chrono::steady_clock::now();
  listener.accept_for(100ms, ec);
  const auto waited = std::chrono::steady_clock::now() - start;
  done = true;
  guard.join();
  waiting.join();
  CHECK(ec == errc::timed_out);
  CHECK(waited >= 90ms);
  CHECK(waited < 1s);
  CHECK(waiting_ec == errc::listener_closed);
}

TEST_CASE(
    "pipe listener: accept_for under an instance limit spends one deadline on the slot and the "
    "client") {
  // The only instance is taken; it frees up after 700 ms, and no client comes. The wait
  // for the slot and the wait for a client share the one timeout (1 s), rather than
  // getting it each.
  const LocalName name = fresh_name();
  auto listener =
      win::PipeListenerOptions().name(name).instance_limit(1).create<win::DuplexBytePipeStream>();
  auto client = win::DuplexBytePipeStream::connect(name);
  auto server = listener.accept();
  std::thread closer([&] {
    std::this_thread::sleep_for(700ms);
    server.close();
  });
  std::error_code ec;
  const auto start = std::chrono::steady_clock::now();
  listener.accept_for(1s, ec);
  const auto waited = std::chrono::steady_clock::now() - start;
  closer.join();
  CHECK(ec == errc::timed_out);
  CHECK(waited >= 900ms);
  CHECK(waited < 1500ms);  // each wait with the full timeout: 1.7 s
}
TEST_CASE("pipe listener: first_instance(false) shares a name on purpose; current_user_only") {
  const LocalName name = fresh_name();
  auto first = win::PipeListenerOptions().name(name).create<win::DuplexBytePipeStream>();
  std::error_code ec;
  auto refused = win::PipeListenerOptions().name(name).create<win::DuplexBytePipeStream>(ec);
  CHECK(ec == errc::name_in_use);
  auto shared =
      win::PipeListenerOptions().name(name).first_instance(false).create<win::DuplexBytePipeStream>(
          ec);
  CHECK_FALSE(ec);
  CHECK(shared.is_open());

  // current_user_only: a descriptor of its own, so combining it with one is an error.
  win::PipeListenerOptions()
      .name(fresh_name())
      .current_user_only(true)
      .security_descriptor("D:P(A;;GA;;;WD)")
      .create<win::DuplexBytePipeStream>(ec);
  CHECK(ec == std::errc::invalid_argument);
  const LocalName own = fresh_name();
  auto mine = win::PipeListenerOptions()
                  .name(own)
                  .current_user_only(true)
                  .create<win::DuplexBytePipeStream>();
  auto c = win::DuplexBytePipeStream::connect(own);
  auto s = mine.accept_for(5s, ec);
  REQUIRE_FALSE(ec);
  const std::string me = win::current_user_sid(ec);
  CHECK(s.peer_user_sid() == me);
  CHECK(c.peer_user_sid() == me);
  CHECK(dacl_of(s.native_handle()).find(me) != std::string::npos);
}

TEST_CASE("pipe listener: remote clients are rejected by default, accepted with accept_remote") {
  // A client through \\localhost\pipe\NAME comes in over the network redirector, so
  // Windows counts it as remote: PIPE_REJECT_REMOTE_CLIENTS must turn it away. Wine has
  // no redirector for pipes: the probe (accept_remote(true) reached through
  // \\localhost) fails there, and the assertion that needs it is skipped.
  const std::string base = localsock::test::unique_name("lsr");
  auto remote_path = [](const std::string& n) {
    return LocalName::namespaced("\\\\localhost\\pipe\\" + n);
  };
  std::error_code ec;
  auto open = win::PipeListenerOptions()
                  .name(LocalName::namespaced(base + "-open"))
                  .accept_remote(true)
                  .create<win::DuplexBytePipeStream>();
  win::DuplexBytePipeStream::connect(remote_path(base + "-open"), 2s, ec);
  const bool loopback_is_remote = !ec;
  auto closed = win::PipeListenerOptions()
                    .name(LocalName::namespaced(base + "-local"))
                    .create<win::DuplexBytePipeStream>();
  win::DuplexBytePipeStream::connect(remote_path(base + "-local"), 2s, ec);
  CHECK(ec);  // refused on Windows; not reachable at all under Wine
  if (!loopback_is_remote) {
    MESSAGE(
        "skipped: \\\\localhost\\pipe\\ does not reach local pipes here (Wine); "
        "only that the default listener is not reached was checked");
    return;
  }
  CHECK(ec == errc::access_denied);
  // The local name still works for local clients.
  auto c = win::DuplexBytePipeStream::connect(LocalName::namespaced(base + "-local"), 2s);
  CHECK(c.is_open());
}
TEST_CASE("pipe listener: only an existing pipe makes a name in use, not any failed probe") {
  // A remote name cannot be served (CreateNamedPipe makes local pipes only): the error
  // must say what went wrong, not that the name is in use.
  std::error_code ec;
  win::PipeListenerOptions()
      .name(LocalName::namespaced(R"(\\nosuchhost-ls\pipe\x)"))
      .create<win::DuplexBytePipeStream>(ec);
  CHECK(ec);
  CHECK(ec != errc::name_in_use);
}

TEST_CASE("pipe listener: a released server handle keeps its instance; accept waits for it") {
  // instance_limit(1): while the released handle lives, no second instance may exist;
  // accept must wait until the handle is closed instead of failing with PIPE_BUSY.
  const LocalName name = fresh_name();
  auto listener =
      win::PipeListenerOptions().name(name).instance_limit(1).create<win::DuplexBytePipeStream>();
  auto first = win::DuplexBytePipeStream::connect(name);
  auto server = listener.accept();
  void* raw = server.release();
  REQUIRE(raw != nullptr);
  std::thread closer([&] {
    std::this_thread::sleep_for(200ms);
    first.close();
    ::CloseHandle(static_cast<HANDLE>(raw));
  });
  // The client holds its end until the accept has returned: a client that connects
  // to the new instance before the server's ConnectNamedPipe and leaves at once is
  // dropped as gone (ERROR_NO_DATA), and the accept would rightly wait for another.
  std::promise<void> accept_returned;
  std::thread client([&, done = accept_returned.get_future()] {
    std::error_code cec;
    auto c = win::DuplexBytePipeStream::connect(name, 5s, cec);
    CHECK_FALSE(cec);
    if (cec) return;
    const std::byte hello[1] = {byte_of(7)};
    c.write_some(hello, cec);
    CHECK_FALSE(cec);
    done.wait_for(10s);
  });
  std::error_code ec;
  auto next = listener.accept_for(5s, ec);
  accept_returned.set_value();
  closer.join();
  client.join();
  CHECK_FALSE(ec);
  REQUIRE(next.is_server());
  // The accepted connection is this client's.
  CHECK(read_n(next, 1) == std::vector<std::byte>{byte_of(7)});
}

TEST_CASE(
    "pipe listener: a second server sharing a name under an instance limit sends the first no "
    "client") {
  // first_instance(false) with an instance limit: the name already has the first
  // server's waiting instance, so a client end that the second server opens for an
  // instance of its own may reach the first server instead, which then accepts a
  // client nobody made.
  const LocalName name = fresh_name();
  auto first =
      win::PipeListenerOptions().name(name).instance_limit(2).create<win::DuplexBytePipeStream>();
  auto second = win::PipeListenerOptions()
                    .name(name)
                    .instance_limit(2)
                    .first_instance(false)
                    .create<win::DuplexBytePipeStream>();
  std::error_code ec;
  auto phantom = first.accept_for(200ms, ec);
  CHECK(ec == errc::timed_out);
  CHECK_FALSE(phantom.is_open());
  auto phantom2 = second.accept_for(200ms, ec);
  CHECK(ec == errc::timed_out);
  // Both still serve real clients.
  auto c = win::DuplexBytePipeStream::connect(name, 2s, ec);
  CHECK_FALSE(ec);
}
