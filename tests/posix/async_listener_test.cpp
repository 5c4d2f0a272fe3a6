// SPDX-License-Identifier: MIT
// The async listener on Unix when descriptors run out: no busy loop, one report, and
// clients served again once descriptors free up.
#include <localsock/async.hpp>
#include <localsock/localsock.hpp>

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <vector>

#include <uv.h>

#include "doctest_ext.hpp"
#include "process.hpp"
#include "unique_name.hpp"

using namespace std::chrono_literals;
using localsock::AsyncListener;
using localsock::AsyncLoop;
using localsock::AsyncSocket;
using localsock::ConnectOptions;
using localsock::ListenerOptions;
using localsock::LocalName;
using localsock::Mode;

TEST_CASE(
    "async listener: running out of descriptors is reported once, without spinning, and accepting "
    "resumes") {
  uv_loop_t loop;
  uv_loop_init(&loop);
  {
    AsyncLoop async(&loop);
    const LocalName name = LocalName::namespaced(localsock::test::unique_name("lal"));
    int errors = 0, accepted = 0;
    std::error_code first_error;
    std::vector<AsyncSocket::Ptr> sockets;
    auto listener = AsyncListener::listen(async, ListenerOptions(name), Mode::bytes,
                                          [&](std::error_code ec, AsyncSocket::Ptr s) {
                                            if (ec) {
                                              if (errors++ == 0) first_error = ec;
                                              return;
                                            }
                                            ++accepted;
                                            sockets.push_back(s);
                                          });
    // Two clients wait in the backlog; then the descriptor table is full.
    auto c1 = localsock::LocalSocket::connect(ConnectOptions(name));
    auto c2 = localsock::LocalSocket::connect(ConnectOptions(name));
    const int base = ::open("/dev/null", O_RDONLY);  // stdin may be closed
    REQUIRE(base >= 0);
    rlimit old{};
    REQUIRE(::getrlimit(RLIMIT_NOFILE, &old) == 0);
    rlimit tight = old;
    tight.rlim_cur = static_cast<rlim_t>(localsock::test::open_handles()) + 16;
    REQUIRE(::setrlimit(RLIMIT_NOFILE, &tight) == 0);
    std::vector<int> fillers;
    for (int fd; (fd = ::dup(base)) >= 0;) fillers.push_back(fd);
    // The loop runs for a while with the listener readable and no descriptor to take.
    uv_timer_t timer;
    uv_timer_init(&loop, &timer);
    uv_timer_start(
        &timer, [](uv_timer_t*) {}, 300, 0);
    int turns = 0;
    while (uv_run(&loop, UV_RUN_ONCE) != 0 &&
           uv_is_active(reinterpret_cast<uv_handle_t*>(&timer)) && turns < 100000)
      ++turns;
    CAPTURE(turns);
    CHECK(turns < 100);  // a busy loop turns many thousand times in 300 ms
    CHECK(errors == 1);
    CHECK(first_error == localsock::errc::out_of_resources);
    CHECK(accepted == 0);
    // Descriptors free up: both waiting clients are taken.
    for (int fd : fillers) ::close(fd);
    ::close(base);
    ::setrlimit(RLIMIT_NOFILE, &old);
    uv_timer_start(
        &timer, [](uv_timer_t*) {}, 5000, 0);
    while (accepted < 2 && uv_is_active(reinterpret_cast<uv_handle_t*>(&timer)))
      uv_run(&loop, UV_RUN_ONCE);
    CHECK(accepted == 2);
    CHECK(errors == 1);
    uv_close(reinterpret_cast<uv_handle_t*>(&timer), nullptr);
    for (auto& s : sockets) s->close();
    listener->close();
    uv_run(&loop, UV_RUN_DEFAULT);
  }
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK(uv_loop_close(&loop) == 0);
}
