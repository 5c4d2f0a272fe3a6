// SPDX-License-Identifier: MIT
// libuv does not suppress SIGPIPE on Linux; localsock's async writes must never raise
// it, with the default disposition in place.
#include <localsock/async.hpp>

#include <signal.h>

#include <uv.h>

#include "doctest_ext.hpp"
#include "unique_name.hpp"

using localsock::AsyncListener;
using localsock::AsyncLoop;
using localsock::AsyncSocket;
using localsock::LocalName;
using localsock::Mode;

TEST_CASE(
    "async: writing to a vanished peer with SIGPIPE at its default is an error, not a signal") {
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  struct sigaction old {};
  REQUIRE(::sigaction(SIGPIPE, &dfl, &old) == 0);  // a SIGPIPE would now kill the test

  for (Mode mode : {Mode::bytes, Mode::messages}) {
    uv_loop_t loop;
    uv_loop_init(&loop);
    {
      AsyncLoop async(&loop);
      const LocalName name = LocalName::namespaced(localsock::test::unique_name("lsp"));
      AsyncSocket::Ptr accepted;
      auto listener = AsyncListener::listen(
          async, name, mode, [&](std::error_code, AsyncSocket::Ptr s) { accepted = s; });
      std::error_code write_error;
      int writes_done = 0;
      AsyncSocket::Ptr client;
      AsyncSocket::connect(async, name, mode, [&](std::error_code ec, AsyncSocket::Ptr s) {
        REQUIRE_FALSE(ec);
        client = s;
      });
      while (!(accepted && client)) uv_run(&loop, UV_RUN_ONCE);
      bool peer_gone = false;
      accepted->close([&] { peer_gone = true; });
      while (!peer_gone) uv_run(&loop, UV_RUN_ONCE);
      for (int i = 0; i < 4; ++i)
        client->write(std::vector<std::byte>(1000), [&](std::error_code ec) {
          if (ec) write_error = ec;
          ++writes_done;
        });
      while (writes_done < 4) uv_run(&loop, UV_RUN_ONCE);
      CAPTURE(static_cast<int>(mode));
      CHECK(write_error == localsock::errc::peer_closed);
      bool closed = false;
      client->close([&] { closed = true; });
      listener->close();
      while (!closed) uv_run(&loop, UV_RUN_ONCE);
      uv_run(&loop, UV_RUN_DEFAULT);
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK(uv_loop_close(&loop) == 0);
  }
  ::sigaction(SIGPIPE, &old, nullptr);
}
