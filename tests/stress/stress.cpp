// SPDX-License-Identifier: MIT
// Stress: many concurrent clients against one listener, each exchanging many messages
// whose contents are checked, through the blocking API (a thread per connection) and
// through the async API (all connections on two loops). With --seconds it repeats
// rounds until that much time has passed: the soak mode.
//
//   stress [--clients N] [--messages N] [--mode sync|async|both] [--seconds S]
#include <localsock/async.hpp>
#include <localsock/localsock.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <uv.h>

#if !defined(_WIN32)
#include <sys/resource.h>
#endif

#include "pattern.hpp"
#include "process.hpp"

using namespace localsock;
using localsock::test::pattern;

namespace {

int clients = 1000;
int messages = 1000;

std::size_t size_of(int client, int i) {
  return 1 + static_cast<std::size_t>((client * 131 + i * 17) % 512);
}
unsigned seed_of(int client, int i) { return static_cast<unsigned>(client * 1000003 + i); }

LocalName fresh_name(const char* what) {
  static int n = 0;
  return LocalName::namespaced("lss-" + std::to_string(localsock::test::current_pid()) + "-" +
                               what + "-" + std::to_string(n++));
}

// A thread per connection on both sides; returns the number of clients whose every
// reply matched.
int run_sync() {
  auto listener = LocalMessageListener::bind(ListenerOptions(fresh_name("sync")).backlog(clients));
  std::vector<std::thread> servers;
  std::thread acceptor([&] {
    for (int i = 0; i < clients; ++i) {
      servers.emplace_back([s = listener.accept()]() mutable {
        std::vector<std::byte> m;
        std::error_code ec;
        while (!s.recv(m, 1 << 16, ec).end && !ec) s.send(m, ec);
      });
    }
  });
  std::atomic<int> good{0};
  std::vector<std::thread> users;
  for (int c = 0; c < clients; ++c) {
    users.emplace_back([&, c] {
      std::error_code ec;
      auto s = LocalMessageSocket::connect(
          ConnectOptions(listener.name()).timeout(std::chrono::seconds(60)), ec);
      if (ec) return;
      std::vector<std::byte> reply;
      int ok = 0;
      for (int i = 0; i < messages && !ec; ++i) {
        const auto msg = pattern(size_of(c, i), seed_of(c, i));
        s.send(msg, ec);
        if (!ec) s.recv(reply, 1 << 16, ec);
        ok += !ec && reply == msg;
      }
      if (ok == messages) ++good;
    });
  }
  for (auto& t : users) t.join();
  acceptor.join();
  for (auto& t : servers) t.join();
  return good;
}

// The server on one loop thread, every client on another loop thread.
int run_async() {
  const LocalName name = fresh_name("async");
  std::atomic<bool> listening{false};
  uv_async_t* server_stop = nullptr;
  std::thread server([&] {
    uv_loop_t loop;
    uv_loop_init(&loop);
    {
      AsyncLoop async(&loop);
      std::vector<AsyncSocket::Ptr> conns;
      auto listener =
          AsyncListener::listen(async, ListenerOptions(name).backlog(clients), Mode::messages,
                                [&](std::error_code ec, AsyncSocket::Ptr s) {
                                  if (ec) return;
                                  AsyncSocket* raw = s.get();
                                  conns.push_back(s);
                                  s->start_reading([raw](const ReadEvent& e) {
                                    if (e.end || e.error) return raw->close();
                                    raw->write(e.data);
                                  });
                                });
      uv_async_t wake;
      uv_async_init(&loop, &wake, [](uv_async_t* h) { uv_stop(h->loop); });
      server_stop = &wake;
      listening = true;
      uv_run(&loop, UV_RUN_DEFAULT);
      listener->close();
      for (auto& c : conns) c->close();
      uv_close(reinterpret_cast<uv_handle_t*>(&wake), nullptr);
      uv_run(&loop, UV_RUN_DEFAULT);
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
  });
  while (!listening) std::this_thread::sleep_for(std::chrono::milliseconds(1));

  int good = 0;
  uv_loop_t loop;
  uv_loop_init(&loop);
  {
    AsyncLoop async(&loop);
    struct Client {
      AsyncSocket::Ptr s;
      int sent = 0;
      int ok = 0;
      std::vector<std::byte> expect;
    };
    std::vector<Client> all(static_cast<std::size_t>(clients));
    int finished = 0;
    for (int c = 0; c < clients; ++c) {
      Client& me = all[static_cast<std::size_t>(c)];
      auto send_next = [&me, c] {
        me.expect = pattern(size_of(c, me.sent), seed_of(c, me.sent));
        me.s->write(me.expect);
        ++me.sent;
      };
      me.s = AsyncSocket::connect(
          async, ConnectOptions(name).timeout(std::chrono::seconds(60)), Mode::messages,
          [&, c, send_next](std::error_code ec, AsyncSocket::Ptr s) {
            if (ec) {
              ++finished;
              return;
            }
            AsyncSocket* raw = s.get();
            s->start_reading([&, raw, send_next, c](const ReadEvent& e) {
              Client& x = all[static_cast<std::size_t>(c)];
              const bool match = !e.error && !e.end && e.data.size() == x.expect.size() &&
                                 std::memcmp(e.data.data(), x.expect.data(), x.expect.size()) == 0;
              x.ok += match;
              if (!match || x.sent == messages) {
                ++finished;
                raw->close();
                return;
              }
              send_next();
            });
            send_next();
          });
    }
    while (finished < clients) uv_run(&loop, UV_RUN_ONCE);
    for (auto& c : all) good += c.ok == messages;
    uv_run(&loop, UV_RUN_DEFAULT);
  }
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);
  uv_async_send(server_stop);
  server.join();
  return good;
}

}  // namespace

int main(int argc, char** argv) {
  std::string mode = "both";
  double seconds = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--clients")
      clients = std::atoi(argv[i + 1]);
    else if (a == "--messages")
      messages = std::atoi(argv[i + 1]);
    else if (a == "--mode")
      mode = argv[i + 1];
    else if (a == "--seconds")
      seconds = std::atof(argv[i + 1]);
  }
  if (const char* soak = std::getenv("LOCALSOCK_SOAK_SECONDS")) seconds = std::atof(soak);
#if !defined(_WIN32)
  // Two descriptors per connection in this one process: raise the soft limit.
  rlimit rl{};
  ::getrlimit(RLIMIT_NOFILE, &rl);
  rl.rlim_cur = rl.rlim_max;
  ::setrlimit(RLIMIT_NOFILE, &rl);
#endif
  const auto start = std::chrono::steady_clock::now();
  int failures = 0;
  int rounds = 0;
  do {
    for (const char* m : {"sync", "async"}) {
      if (mode != "both" && mode != m) continue;
      const auto t0 = std::chrono::steady_clock::now();
      const int good = std::string(m) == "sync" ? run_sync() : run_async();
      const double took =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      std::printf("%s: %d of %d clients exchanged %d messages each, all checked (%.1f s)\n", m,
                  good, clients, messages, took);
      std::fflush(stdout);
      failures += good != clients;
    }
    ++rounds;
  } while (failures == 0 &&
           std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() <
               seconds);
  std::printf("%d round(s), %s\n", rounds, failures == 0 ? "ok" : "FAILED");
  return failures == 0 ? 0 : 1;
}
