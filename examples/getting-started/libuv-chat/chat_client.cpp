// SPDX-License-Identifier: MIT
// A chat client on a libuv loop.
//
//   chat_client NAME NICK             chat: lines typed are sent, what others say printed
//   chat_client NAME NICK LINE...     say each LINE, wait until the server has sent all of
//                                     them back, then leave (for scripts and tests)
//
// Standard input is read in a thread of its own (a blocking read has no place on the
// loop thread), and each line handed to the loop through AsyncLoop::Poster.
#include <localsock/async.hpp>
#include <localsock/localsock.hpp>

#include <uv.h>

#include <cstdio>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

namespace {

using localsock::AsyncSocket;

struct Session {
  std::string nick;
  std::vector<std::string> lines;  // to say; empty: interactive
  std::size_t echoed = 0;          // how many of them came back
  bool failed = false;
};

void on_connected(Session& session, std::error_code ec, const AsyncSocket::Ptr& me) {
  if (ec) {
    std::fprintf(stderr, "chat_client: cannot join: %s\n", ec.message().c_str());
    session.failed = true;
    return;
  }
  AsyncSocket* raw = me.get();
  me->start_reading([&session, raw](const localsock::ReadEvent& e) {
    if (e.end || e.error) {
      std::printf("* the server closed the chat\n");
      session.failed = session.echoed < session.lines.size();
      raw->close();
      return;
    }
    const std::string text(reinterpret_cast<const char*>(e.data.data()), e.data.size());
    std::printf("%s\n", text.c_str());
    std::fflush(stdout);
    // In script mode, leave once our own lines have come back.
    if (!session.lines.empty() && session.echoed < session.lines.size() &&
        text == session.nick + ": " + session.lines[session.echoed] &&
        ++session.echoed == session.lines.size())
      raw->close();
  });
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: chat_client NAME NICK [LINE...]\n");
    return 2;
  }
  Session session{argv[2], std::vector<std::string>(argv + 3, argv + argc)};
  uv_loop_t loop;
  uv_loop_init(&loop);
  {
    localsock::AsyncLoop async(&loop);
    try {
      const auto name = localsock::LocalName::namespaced(argv[1]);
      // Returns at once; writes may be queued before the connection is made.
      AsyncSocket::Ptr me = AsyncSocket::connect(
          async, localsock::ConnectOptions(name).timeout(std::chrono::seconds(5)),
          localsock::Mode::messages,
          [&session](std::error_code ec, AsyncSocket::Ptr s) { on_connected(session, ec, s); });
      me->write(session.nick);  // the first message is the nickname
      for (const std::string& line : session.lines) me->write(line);

      if (session.lines.empty()) {
        // Detached: it may still wait in getline when the chat ends. A Poster stays
        // safe to use after the AsyncLoop is gone (its posts are then dropped).
        std::thread([poster = async.poster(), me] {
          std::string line;
          while (std::getline(std::cin, line)) poster.post([me, line] { me->write(line); });
          poster.post([me] { me->close(); });
        }).detach();
      }
      uv_run(&loop, UV_RUN_DEFAULT);  // returns once the socket has closed
    } catch (const localsock::Error& e) {
      std::fprintf(stderr, "chat_client: %s\n", e.what());
      session.failed = true;
    }
  }
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);
  return session.failed ? 1 : 0;
}
