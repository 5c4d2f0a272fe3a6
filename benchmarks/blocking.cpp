// SPDX-License-Identifier: MIT
// The blocking scenarios: pingpong, pingpong-proc, msg-pingpong, stream and connect,
// each written once against a transport (transports.hpp).
#include <algorithm>
#include <thread>
#include <tuple>
#include <type_traits>
#include <vector>

#include "bench.hpp"
#include "transports.hpp"

namespace bench {
namespace {

// Connects one client and accepts it, for either implementation.
template <typename Impl, bool Messages>
auto connected_pair(const std::string& name) {
#if defined(_WIN32)
  if constexpr (std::is_same_v<Impl, RawImpl>) {
    auto l = Messages ? RawImpl::listen_msg(name) : RawImpl::listen(name);
    HANDLE inst = RawImpl::instance(l);
    std::thread t([&] { RawImpl::wait_client(inst); });
    RawImpl::Handle client = RawImpl::open(l);
    t.join();
    return std::make_tuple(std::move(l), RawImpl::Handle(inst), std::move(client));
  } else
#endif
  {
    if constexpr (Messages) {
      auto l = Impl::listen_msg(name);
      auto client = Impl::connect_msg(name);
      auto server = Impl::accept_msg(l);
      return std::make_tuple(std::move(l), std::move(server), std::move(client));
    } else {
      auto l = Impl::listen(name);
      auto client = Impl::connect(name);
      auto server = Impl::accept(l);
      return std::make_tuple(std::move(l), std::move(server), std::move(client));
    }
  }
}

// Round trips of `size` bytes: the client writes, the server echoes, the client reads
// the whole echo. Latency of each round trip.
template <typename Impl, bool Messages>
Result pingpong(const Args& a) {
  auto [l, server, client] = connected_pair<Impl, Messages>(unique_name("pp"));
  std::thread echo([&server = server, &a] {
    std::vector<std::byte> buf(a.size);
    for (std::size_t i = 0; i < a.count; ++i) {
      if constexpr (Messages) {
        const std::size_t n = Impl::recv(server, buf, a.size);
        Impl::send(server, buf.data(), n);
      } else {
        Impl::read_exact(server, buf.data(), a.size);
        Impl::write_all(server, buf.data(), a.size);
      }
    }
  });
  std::vector<std::byte> out(a.size, std::byte{7}), in(a.size);
  Latencies lat(a.count);
  const auto start = Clock::now();
  for (std::size_t i = 0; i < a.count; ++i) {
    const auto t0 = Clock::now();
    if constexpr (Messages) {
      Impl::send(client, out.data(), out.size());
      Impl::recv(client, in, a.size);
    } else {
      Impl::write_all(client, out.data(), out.size());
      Impl::read_exact(client, in.data(), in.size());
    }
    lat.add(t0);
  }
  Result r;
  r.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  echo.join();
  r.ops = static_cast<double>(a.count) / r.seconds;
  lat.report(r);
  return r;
}

// The listener of pingpong-proc, and the server end of its one connection once the
// child process has connected.
template <typename Impl>
auto listen_for_child(const std::string& name, const Args& a, Child& child) {
#if defined(_WIN32)
  if constexpr (std::is_same_v<Impl, RawImpl>) {
    // A client can only open an instance that already exists: make it before the child.
    auto l = RawImpl::listen(name);
    HANDLE inst = RawImpl::instance(l);
    child = start_echo_child(a, name);
    RawImpl::Handle server = RawImpl::accept_on(l, inst);
    return std::make_pair(std::move(l), std::move(server));
  } else
#endif
  {
    auto l = Impl::listen(name);
    child = start_echo_child(a, name);
    auto server = Impl::accept(l);
    return std::make_pair(std::move(l), std::move(server));
  }
}

// pingpong with the echo in another process: the same program started again
// (start_echo_child), which connects and echoes (run_echo_child).
template <typename Impl>
Result pingpong_proc(const Args& a) {
  Child child;
  auto [l, conn] = listen_for_child<Impl>(unique_name("ppp"), a, child);
  std::vector<std::byte> out(a.size, std::byte{7}), in(a.size);
  Latencies lat(a.count);
  const auto start = Clock::now();
  for (std::size_t i = 0; i < a.count; ++i) {
    const auto t0 = Clock::now();
    Impl::write_all(conn, out.data(), out.size());
    Impl::read_exact(conn, in.data(), in.size());
    lat.add(t0);
  }
  Result r;
  r.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  if (!wait_child(child)) fail("the echo process of pingpong-proc failed");
  r.ops = static_cast<double>(a.count) / r.seconds;
  lat.report(r);
  return r;
}

template <typename Impl>
void echo_child(const Args& a) {
  auto conn = Impl::connect(a.echo_for);
  std::vector<std::byte> buf(a.size);
  for (std::size_t i = 0; i < a.count; ++i) {
    Impl::read_exact(conn, buf.data(), a.size);
    Impl::write_all(conn, buf.data(), a.size);
  }
}

// One-way transfer of `count` chunks of `size` bytes.
template <typename Impl>
Result stream(const Args& a) {
  auto [l, server, client] = connected_pair<Impl, false>(unique_name("st"));
  const std::size_t total = a.size * a.count;
  const auto start = Clock::now();
  std::thread writer([&client = client, &a] {
    std::vector<std::byte> chunk(a.size, std::byte{1});
    for (std::size_t i = 0; i < a.count; ++i) Impl::write_all(client, chunk.data(), chunk.size());
  });
  std::vector<std::byte> buf(std::max<std::size_t>(a.size, std::size_t{64} * 1024));
  std::size_t got = 0;
  while (got < total) {
    const std::size_t n = Impl::read_some(server, buf.data(), std::min(buf.size(), total - got));
    if (n == 0) fail("stream ended early");
    got += n;
  }
  Result r;
  r.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  writer.join();
  r.ops = static_cast<double>(a.count) / r.seconds;
  r.mbps = static_cast<double>(total) / r.seconds / 1e6;
  return r;
}

// connect + accept + a 1-byte exchange + close, `count` times. The latency of a cycle
// is the client's: from before its connect to after its close.
template <typename Impl>
Result connect_cycle(const Args& a) {
  const std::string name = unique_name("cc");
  Latencies lat(a.count);
  const auto start = Clock::now();
#if defined(_WIN32)
  if constexpr (std::is_same_v<Impl, RawImpl>) {
    auto l = RawImpl::listen(name);
    HANDLE inst = RawImpl::instance(l);
    std::thread server([&] {
      for (std::size_t i = 0; i < a.count; ++i) {
        RawImpl::Handle s = RawImpl::accept_on(l, inst);
        inst = RawImpl::instance(l);  // the next client's instance, before this one closes
        std::byte b[1];
        RawImpl::read_exact(s, b, 1);
        RawImpl::write_all(s, b, 1);
        ::FlushFileBuffers(s.h);
        ::DisconnectNamedPipe(s.h);
      }
    });
    for (std::size_t i = 0; i < a.count; ++i) {
      const auto t0 = Clock::now();
      {
        RawImpl::Handle c = RawImpl::open(l);
        std::byte b[1] = {std::byte{1}};
        RawImpl::write_all(c, b, 1);
        RawImpl::read_exact(c, b, 1);
      }
      lat.add(t0);
    }
    server.join();
    ::CloseHandle(inst);
  } else
#endif
  {
    auto l = Impl::listen(name);
    std::thread server([&] {
      for (std::size_t i = 0; i < a.count; ++i) {
        auto s = Impl::accept(l);
        std::byte b[1];
        Impl::read_exact(s, b, 1);
        Impl::write_all(s, b, 1);
      }
    });
    for (std::size_t i = 0; i < a.count; ++i) {
      const auto t0 = Clock::now();
      {
        auto c = Impl::connect(name);
        std::byte b[1] = {std::byte{1}};
        Impl::write_all(c, b, 1);
        Impl::read_exact(c, b, 1);
      }
      lat.add(t0);
    }
    server.join();
  }
  Result r;
  r.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  r.ops = static_cast<double>(a.count) / r.seconds;
  lat.report(r);
  return r;
}

template <typename Impl>
Result run_with(const Args& a) {
  if (a.scenario == "pingpong") return pingpong<Impl, false>(a);
  if (a.scenario == "msg-pingpong") return pingpong<Impl, true>(a);
  if (a.scenario == "stream") return stream<Impl>(a);
  if (a.scenario == "connect") return connect_cycle<Impl>(a);
  if (a.scenario == "pingpong-proc") return pingpong_proc<Impl>(a);
  fail("scenario " + a.scenario + " has no " + a.impl + " implementation");
}

}  // namespace

Result run_blocking(const Args& a) {
  if (a.impl == "localsock") return run_with<LocalsockImpl>(a);
  if (a.impl == "localsock-fixed" && a.scenario == "msg-pingpong")
    return run_with<LocalsockFixedImpl>(a);
  if (a.impl == "raw") return run_with<RawImpl>(a);
  fail("scenario " + a.scenario + " has no " + a.impl + " implementation");
}

void run_echo_child(const Args& a) {
  if (a.impl == "localsock") return echo_child<LocalsockImpl>(a);
  if (a.impl == "raw") return echo_child<RawImpl>(a);
  fail("pingpong-proc has no " + a.impl + " implementation");
}

}  // namespace bench
